//! The recfile view of a `.dep` (goredo's `dep.rec` schema), used by
//! `redo-dep2rec` and for reading legacy 1.x `.rec` files in `redo-depfix`.

use super::dep::{Dep, Record};
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// Render as recfile text. ifchange-nonexistent is shown as
/// `Type: ifchange-nonexistent` (goredo does not document a rendering).
pub fn render(dep: &Dep) -> String {
    let mut s = format!("Build: {}\n", crate::env::format_uuid(&dep.build));
    for r in &dep.records {
        s.push('\n');
        match r {
            Record::Ifcreate(p) => {
                let _ = writeln!(s, "Type: ifcreate\nTarget: {}", lossy(p.as_os_str().as_bytes()));
            }
            Record::IfchangeNonexistent(p) => {
                let _ = writeln!(
                    s,
                    "Type: ifchange-nonexistent\nTarget: {}",
                    lossy(p.as_os_str().as_bytes())
                );
            }
            Record::Always => s.push_str("Type: always\n"),
            Record::Stamp(h) => {
                let _ = writeln!(s, "Type: stamp\nHash: {}", hex(h));
            }
            Record::Ifchange { inode, hash, path } => {
                let _ = writeln!(
                    s,
                    "Type: ifchange\nTarget: {}\nSize: {}\nInodeNum: {}\nCtimeSec: {}\nCtimeNsec: {}\nMtimeSec: {}\nMtimeNsec: {}\nHash: {}",
                    lossy(path.as_os_str().as_bytes()),
                    inode.size,
                    inode.ino,
                    inode.ctime_sec,
                    inode.ctime_nsec,
                    inode.mtime_sec,
                    inode.mtime_nsec,
                    hex(hash)
                );
            }
        }
    }
    s
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
