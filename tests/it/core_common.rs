//! Helpers shared by the `core_*` test modules (engine behaviour, spec/goredo.md §3-§7).
#![allow(dead_code)]

use crate::sandbox::*;
use std::fs;
use std::path::Path;

/// Every `.redo.*` temp file or directory anywhere under the project (relative paths),
/// `.redo/` state directories included.
pub fn temp_files(sb: &Sandbox) -> Vec<String> {
    let mut out = Vec::new();
    walk(sb.root(), sb.root(), &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.expect("readdir");
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if name.starts_with(".redo.") {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(root, &p, out);
        }
    }
}

/// Assert that no `.redo.*` temp file is left anywhere in the project.
#[track_caller]
pub fn assert_no_temp_files(sb: &Sandbox) {
    let t = temp_files(sb);
    assert!(t.is_empty(), "temp files left behind: {t:?}");
}

/// Number of lines of a counter file a .do appends to (0 when missing).
pub fn count(sb: &Sandbox, rel: &str) -> usize {
    if !sb.exists(rel) {
        return 0;
    }
    sb.read(rel).lines().count()
}

/// The `.dep` file of a target `dir/name` → `dir/.redo/name.dep`.
pub fn dep_path(target: &str) -> String {
    match target.rfind('/') {
        Some(i) => format!("{}/.redo/{}.dep", &target[..i], &target[i + 1..]),
        None => format!(".redo/{target}.dep"),
    }
}

/// The stderr without ANSI escapes would hide colouring; every core test runs with
/// stderr redirected to a file, so lines are plain. Find the lines containing `s`.
pub fn lines_with(text: &str, s: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(s))
        .map(String::from)
        .collect()
}

// ---- an independent decoder of goredo's .dep format v1 (spec/goredo.md §4.2) -------------

/// Inode data of an ifchange record: size, inode number, ctime, mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inode {
    pub size: u64,
    pub ino: u64,
    pub ctime_sec: u64,
    pub ctime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

impl Inode {
    /// The inode data of a file as stat(2) reports it now.
    pub fn of(m: &fs::Metadata) -> Inode {
        use std::os::unix::fs::MetadataExt;
        Inode {
            size: m.size(),
            ino: m.ino(),
            ctime_sec: m.ctime() as u64,
            ctime_nsec: m.ctime_nsec() as u64,
            mtime_sec: m.mtime() as u64,
            mtime_nsec: m.mtime_nsec() as u64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rec {
    Ifcreate(String),
    Ifchange {
        inode: Inode,
        hash: [u8; 32],
        path: String,
    },
    Always,
    Stamp([u8; 32]),
    IfchangeNonexistent(String),
}

#[derive(Debug, Clone)]
pub struct Dep {
    pub uuid: [u8; 16],
    pub recs: Vec<Rec>,
}

impl Dep {
    /// The build UUID in its textual form (8-4-4-4-12 lowercase hex).
    pub fn uuid_text(&self) -> String {
        let h: String = self.uuid.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| format!("path not UTF-8: {e}"))
}

/// Decode a .dep, strictly: any deviation from the published layout is an error.
pub fn decode_dep(data: &[u8]) -> Result<Dep, String> {
    if data.len() < 23 {
        return Err(format!("short header: {} bytes", data.len()));
    }
    if &data[..6] != b"GOREDO" {
        return Err(format!("bad magic {:?}", &data[..6]));
    }
    if data[6] != 1 {
        return Err(format!("bad version {}", data[6]));
    }
    let uuid: [u8; 16] = data[7..23].try_into().unwrap();
    let mut recs = Vec::new();
    let mut at = 23;
    while at < data.len() {
        if data.len() - at < 3 {
            return Err(format!("truncated chunk header at {at}"));
        }
        let len = u16::from_be_bytes([data[at], data[at + 1]]) as usize;
        if len < 3 || at + len > data.len() {
            return Err(format!("bad chunk length {len} at {at}"));
        }
        let ty = data[at + 2];
        let p = &data[at + 3..at + len];
        let rec = match ty {
            1 => Rec::Ifcreate(utf8(p)?),
            2 => {
                if p.len() < 48 + 32 {
                    return Err(format!("short ifchange chunk at {at}"));
                }
                let inode = Inode {
                    size: be64(&p[0..]),
                    ino: be64(&p[8..]),
                    ctime_sec: be64(&p[16..]),
                    ctime_nsec: be64(&p[24..]),
                    mtime_sec: be64(&p[32..]),
                    mtime_nsec: be64(&p[40..]),
                };
                let hash: [u8; 32] = p[48..80].try_into().unwrap();
                Rec::Ifchange {
                    inode,
                    hash,
                    path: utf8(&p[80..])?,
                }
            }
            3 => {
                if !p.is_empty() {
                    return Err(format!("always chunk with payload at {at}"));
                }
                Rec::Always
            }
            4 => {
                if p.len() != 32 {
                    return Err(format!("stamp chunk of {} bytes at {at}", p.len()));
                }
                Rec::Stamp(p.try_into().unwrap())
            }
            5 => Rec::IfchangeNonexistent(utf8(p)?),
            t => return Err(format!("unknown chunk type {t} at {at}")),
        };
        recs.push(rec);
        at += len;
    }
    Ok(Dep { uuid, recs })
}

/// Read and decode a target's .dep (panics with the reason when it does not decode).
#[track_caller]
pub fn read_dep(sb: &Sandbox, target: &str) -> Dep {
    let p = dep_path(target);
    decode_dep(&sb.read_bytes(&p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A sandbox whose commands time out after 45 s (instead of 120 s): a hang in the
/// engine fails a core test quickly. Tests that need longer set their own timeout.
pub fn new_sb() -> Sandbox {
    Sandbox::new().timeout(std::time::Duration::from_secs(45))
}
