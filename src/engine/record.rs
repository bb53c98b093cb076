//! Recording dependencies of the calling target through `REDO_DEP_FD`.
//!
//! The parent opened its `.dep` temp file with `O_APPEND`; every call here
//! writes all its records with one `write()`, so records of concurrent
//! nested redo processes never interleave. Paths are made relative to the
//! dependant target's directory (`REDO_DEP_CWD` joined with `REDO_DIRPREFIX`),
//! whatever directory the .do has `cd`'d into.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::paths;
use crate::state::dep::{self, Record};
use crate::state::inode::Inode;
use crate::target::Target;

fn write_all_once(fd: i32, buf: &[u8]) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: write reads at most the given length from our live slice;
        // a bad fd number gives EBADF, nothing worse.
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        off += n as usize;
    }
    Ok(())
}

fn encode(records: &[Record]) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    for r in records {
        dep::encode_record(&mut buf, r)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    Ok(buf)
}

/// `stat` of every target, on two threads for a large fan-in (an `all.do`
/// recording thousands of operands): the results are in `targets`' order.
fn stat_all(targets: &[PathBuf]) -> Vec<io::Result<std::fs::Metadata>> {
    const PARALLEL_FROM: usize = 512;
    if targets.len() < PARALLEL_FROM {
        return targets.iter().map(std::fs::metadata).collect();
    }
    let (a, b) = targets.split_at(targets.len() / 2);
    std::thread::scope(|s| {
        let first = s.spawn(|| a.iter().map(std::fs::metadata).collect::<Vec<_>>());
        let mut second: Vec<_> = b.iter().map(std::fs::metadata).collect();
        let mut all = match first.join() {
            Ok(v) => v,
            Err(_) => a.iter().map(std::fs::metadata).collect(),
        };
        all.append(&mut second);
        all
    })
}

/// A target's own record: its inode data and hash.
type Own = (Inode, dep::Hash);

/// The hash of a file known without reading it, if any: given the operand's
/// index, its target, its path as recorded and its inode data now.
pub type KnownHash<'a> = dyn FnMut(usize, &Target, &[u8], &Inode) -> Option<dep::Hash> + 'a;

/// Record each target as ifchange (with its current inode data and hash) or
/// ifchange-nonexistent. `vouched` may supply both for a target this build
/// run has just verified or built (the run share's self-record): no `stat`
/// then; `seen` may supply the inode data a check of this process just
/// read, used when `known_hash` knows the hash of that file (no `stat`
/// either: a `.do` over ten thousand sources stat'ed each twice). Should the file change after all between that verdict and this
/// record, the record names the older version, and the next run rebuilds
/// the dependant: the error is on the safe side. `known_hash` may supply the
/// hash of a file (given as the target, its path as recorded, and its inode
/// data now) whose inode data proves it unchanged (a target's own `.dep`
/// self-record, the caller's previous record of it), which saves re-reading
/// every dependency of a large fan-in.
pub fn ifchange(
    fd: i32,
    dep_dir: &Path,
    targets: &[Target],
    vouched: &dyn Fn(usize, &Target) -> Option<Own>,
    seen: &dyn Fn(usize) -> Option<Inode>,
    known_hash: &mut KnownHash<'_>,
) -> io::Result<()> {
    let vouched: Vec<Option<Own>> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            vouched(i, t).or_else(|| {
                let inode = seen(i)?;
                let hash = known_hash(i, t, &rel_to(dep_dir, t), &inode)?;
                Some((inode, hash))
            })
        })
        .collect();
    let unknown: Vec<PathBuf> = targets
        .iter()
        .zip(&vouched)
        .filter(|(_, v)| v.is_none())
        .map(|(t, _)| t.to_path_buf())
        .collect();
    let mut metas = stat_all(&unknown).into_iter();
    // Encoded in operand order into one buffer, for one write.
    let mut buf = Vec::with_capacity(targets.len() * 128);
    let bad = |e: dep::TooLong| io::Error::new(io::ErrorKind::InvalidInput, e);
    for (i, (t, v)) in targets.iter().zip(vouched).enumerate() {
        let rel = rel_to(dep_dir, t);
        let rel: &[u8] = &rel;
        let (inode, hash) = match v {
            Some(known) => known,
            None => match metas.next() {
                Some(Ok(m)) if m.is_file() => {
                    let inode = Inode::from_meta(&m);
                    let hash = match known_hash(i, t, rel, &inode) {
                        Some(h) => h,
                        None => dep::hash_file(t)?,
                    };
                    (inode, hash)
                }
                // Directories and other non-files have no content to hash;
                // record them by inode data with the hash of nothing.
                Some(Ok(m)) => (Inode::from_meta(&m), dep::hash_bytes(b"")),
                _ => {
                    let r = Record::IfchangeNonexistent(PathBuf::from(OsStr::from_bytes(rel)));
                    dep::encode_record(&mut buf, &r).map_err(bad)?;
                    continue;
                }
            },
        };
        dep::encode_ifchange(&mut buf, &inode, &hash, rel).map_err(bad)?;
    }
    write_all_once(fd, &buf)
}

/// `t` as a record of a `.dep` in `dep_dir` names it.
fn rel_to<'t>(dep_dir: &Path, t: &'t Target) -> std::borrow::Cow<'t, [u8]> {
    match paths::below(dep_dir, t) {
        Some(r) => std::borrow::Cow::Borrowed(r),
        None => std::borrow::Cow::Owned(std::os::unix::ffi::OsStringExt::into_vec(
            paths::rel(dep_dir, t).into_os_string(),
        )),
    }
}

pub fn ifcreate(fd: i32, dep_dir: &Path, targets: &[PathBuf]) -> io::Result<()> {
    let recs: Vec<Record> = targets
        .iter()
        .map(|t| Record::Ifcreate(paths::rel(dep_dir, t)))
        .collect();
    write_all_once(fd, &encode(&recs)?)
}

pub fn always(fd: i32) -> io::Result<()> {
    write_all_once(fd, &encode(&[Record::Always])?)
}

pub fn stamp(fd: i32, hash: dep::Hash) -> io::Result<()> {
    write_all_once(fd, &encode(&[Record::Stamp(hash)])?)
}
