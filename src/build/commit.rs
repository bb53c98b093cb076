//! The atomic commit of a target and its `.dep`.
//!
//! Protocol, after the .do exited 0:
//! 1. `$1` check: if a file exists at the target path whose inode data differs
//!    from what was there before the run (or that was not there), the .do
//!    wrote `$1` itself: error `$1 was explicitly touched`.
//! 2. `$3` and a non-empty stdout together: error.
//! 3. The result is `$3` if it exists (even empty), else the stdout capture if
//!    non-empty, else nothing: an existing target is removed and the target
//!    records an ifcreate of itself.
//! 4. Same BLAKE3 as the previous build: the new file is dropped and the old
//!    one kept (mode from `$3`, times set to now), so dependants see no change
//!    in inode number.
//! 5. Otherwise the temp file is fsynced, renamed over the target, and the
//!    directory fsynced.
//! 6. The `.dep` temp (header, .do records, whatever children appended) gets
//!    the self-record, is fsynced, renamed to `.redo/T.dep`, and `.redo/`
//!    fsynced. `REDO_NO_SYNC=1` skips every fsync.
//!
//! Invariants: the target and its `.dep` change only by rename, so a crash
//! or a failure at any point leaves either the old pair or the new target with
//! the old `.dep` (which then sees the target as externally modified only if
//! its inode data differs — the same-hash path keeps the inode). On failure
//! every temp file is removed.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::state::dep::{self, Record};
use crate::state::inode::{Inode, InodeTrust};

/// Temp files of one job, removed on drop unless renamed into place or
/// known absent (no unlink calls that can only fail).
pub struct Temps {
    pub stdout: PathBuf,
    pub three: PathBuf,
    pub dep: PathBuf,
    /// Which of stdout, three, dep may still exist.
    live: [bool; 3],
}

impl Temps {
    pub fn new(stdout: PathBuf, three: PathBuf, dep: PathBuf) -> Temps {
        Temps {
            stdout,
            three,
            dep,
            live: [true; 3],
        }
    }

    fn path(&self, which: usize) -> &Path {
        [&self.stdout, &self.three, &self.dep][which]
    }
}

const STDOUT: usize = 0;
const THREE: usize = 1;
const DEP: usize = 2;

/// BLAKE3 of a whole file through `f`, from offset 0 whatever its position
/// (the .do shared the stdout file description and left it at the end).
fn hash_fd(f: &File) -> std::io::Result<dep::Hash> {
    let mut h = blake3::Hasher::new();
    let mut off = 0u64;
    with_buf(|buf| loop {
        match f.read_at(buf, off) {
            Ok(0) => return Ok(*h.finalize().as_bytes()),
            Ok(n) => {
                h.update(&buf[..n]);
                off += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    })
}

/// A 64 KiB read buffer per job thread, zeroed once rather than per job
/// (job threads are reused).
pub(super) fn with_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut b) => {
            if b.is_empty() {
                b.resize(65536, 0);
            }
            f(&mut b)
        }
        // Only if nested, which no caller does: a fresh buffer then.
        Err(_) => f(&mut vec![0u8; 65536]),
    })
}

impl Drop for Temps {
    fn drop(&mut self) {
        for (i, p) in [&self.stdout, &self.three, &self.dep]
            .into_iter()
            .enumerate()
        {
            if self.live[i] {
                let _ = fs::remove_file(p);
            }
        }
    }
}

pub struct CommitInput<'a> {
    pub target: &'a Path,
    pub temps: &'a mut Temps,
    pub dep_file: &'a mut File,
    /// The .do's stdout (readable), the file at `temps.stdout`.
    pub stdout: &'a File,
    /// Inode data of the target before the .do ran (None if absent).
    pub before: Option<Inode>,
    /// Hash of the previous build's result, from the old `.dep`.
    pub old_hash: Option<dep::Hash>,
    pub trust: InodeTrust,
    pub sync: bool,
}

pub enum Produced {
    File,
    SameAsBefore,
    Nothing,
}

pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn now_times(path: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // NULL times = now for both atime and mtime.
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Apply the output rules and commit; returns what was produced, or an error
/// message for the user.
pub fn commit(inp: CommitInput<'_>) -> Result<Produced, String> {
    let target = inp.target;
    let after = fs::symlink_metadata(target)
        .ok()
        .map(|m| Inode::from_meta(&m));
    if let Some(after) = after {
        let same = inp
            .before
            .is_some_and(|b| b.equals(&after, inp.trust) && b == after);
        if !same {
            return Err("$1 was explicitly touched".into());
        }
    }
    // Results are read through fds: ours for stdout, one open for $3 (in
    // place of a stat), so hashing, syncing and the final stat need no
    // further path lookups.
    let three = File::open(&inp.temps.three).ok();
    if three.is_none() {
        inp.temps.live[THREE] = false;
    }
    let stdout_len = inp.stdout.metadata().map(|m| m.len()).unwrap_or(0);
    if three.is_some() && stdout_len > 0 {
        return Err("created both $3 and stdout: write the result to one of them".into());
    }
    let result: Option<(&File, usize)> = match &three {
        Some(f) => Some((f, THREE)),
        None if stdout_len > 0 => Some((inp.stdout, STDOUT)),
        None => None,
    };
    let dir = crate::paths::dir_of(target);
    let base = PathBuf::from(crate::paths::base_of(target));
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");

    let (produced, self_rec) = match result {
        None => {
            if after.is_some() {
                fs::remove_file(target).map_err(|e| io("removing the old target", e))?;
                if inp.sync {
                    fsync_dir(dir).map_err(|e| io("syncing the directory", e))?;
                }
            }
            (Produced::Nothing, Record::Ifcreate(base))
        }
        Some((file, which)) => {
            let tmp = inp.temps.path(which).to_path_buf();
            let hash = hash_fd(file).map_err(|e| io("hashing the result", e))?;
            if inp.old_hash == Some(hash) && after.is_some() {
                if three.is_some() {
                    let mode = file
                        .metadata()
                        .map(|m| m.permissions().mode())
                        .unwrap_or(0o644);
                    fs::set_permissions(target, fs::Permissions::from_mode(mode))
                        .map_err(|e| io("setting the target's mode", e))?;
                }
                now_times(target).map_err(|e| io("setting the target's times", e))?;
                let _ = fs::remove_file(&tmp);
                inp.temps.live[which] = false;
                if inp.sync {
                    fsync_dir(dir).map_err(|e| io("syncing the directory", e))?;
                }
                let m = fs::metadata(target).map_err(|e| io("reading the target", e))?;
                (
                    Produced::SameAsBefore,
                    Record::Ifchange {
                        inode: Inode::from_meta(&m),
                        hash,
                        path: base,
                    },
                )
            } else {
                if inp.sync {
                    file.sync_all().map_err(|e| io("syncing the result", e))?;
                }
                fs::rename(&tmp, target).map_err(|e| io("renaming the result into place", e))?;
                inp.temps.live[which] = false;
                if inp.sync {
                    fsync_dir(dir).map_err(|e| io("syncing the directory", e))?;
                }
                // The renamed inode itself (rename updated its ctime).
                let m = file.metadata().map_err(|e| io("reading the target", e))?;
                (
                    Produced::File,
                    Record::Ifchange {
                        inode: Inode::from_meta(&m),
                        hash,
                        path: base,
                    },
                )
            }
        }
    };

    let mut buf = Vec::new();
    dep::encode_record(&mut buf, &self_rec)?;
    inp.dep_file
        .write_all(&buf)
        .map_err(|e| io("writing the .dep", e))?;
    if inp.sync {
        inp.dep_file
            .sync_all()
            .map_err(|e| io("syncing the .dep", e))?;
    }
    let final_dep = crate::state::dep_path(target);
    fs::rename(&inp.temps.dep, &final_dep).map_err(|e| io("renaming the .dep into place", e))?;
    inp.temps.live[DEP] = false;
    if inp.sync {
        if let Some(p) = final_dep.parent() {
            fsync_dir(p).map_err(|e| io("syncing .redo", e))?;
        }
    }
    Ok(produced)
}
