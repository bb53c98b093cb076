//! Target locks: goredo's protocol, plus an in-process table.
//!
//! Protocol (goredo 2.x): the builder of `D/T` opens `D/.redo/T.lock`
//! (`O_WRONLY|O_TRUNC|O_CREAT`, 0666) and takes a whole-file fcntl write lock
//! with `F_SETLK`. If another process holds it (`EAGAIN`/`EACCES`), the
//! builder does not build: it gives its job slot back, waits until the
//! holder is done, unlocks at once, and then reads the target's `.dep`
//! header to learn whether it was built in this build run. Lock files are
//! kept after the build.
//!
//! goredo waits in `F_SETLKW`; ferredo asks again with `F_SETLK` after a
//! pause ([`crate::sys::pause`]), so that an interrupt stops the wait (its
//! caller's `stop`).
//!
//! Where ferredo goes beyond goredo (`engine::job::decide`): goredo fails a
//! waiter whose target another build run built; ferredo's waiter is retried
//! by its scheduler, takes the lock, and decides afresh whether the target
//! is still out of date. A lock held by no live process (its holder was
//! killed) is simply free: fcntl locks die with their process; an orphaned
//! `.do` of that holder is waited for through the dep temp's `flock`
//! (`engine::job::temps`).
//!
//! Invariants:
//! - A lock is released only after the target and its `.dep` are committed.
//! - fcntl locks belong to the process, so threads of one redo process do
//!   not exclude each other, and closing *any* fd of the lock file drops the
//!   lock. The in-process table makes a second thread wait, and this module
//!   is the only code that opens lock files.

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
static RELEASED: Condvar = Condvar::new();

fn held<R>(f: impl FnOnce(&mut HashSet<PathBuf>) -> R) -> R {
    let mut g = HELD.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashSet::new))
}

/// A held target lock; dropping it unlocks.
#[derive(Debug)]
pub struct TargetLock {
    file: Option<File>,
    path: PathBuf,
}

pub enum Attempt {
    Acquired(TargetLock),
    /// Someone else builds it: another process (its pid if known) or a
    /// thread of this process (`None`).
    Busy {
        pid: Option<i32>,
    },
}

/// A whole-file lock request of type `typ` (`l_start = l_len = 0`).
fn flock(typ: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is plain integers; all zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = typ;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    fl
}

fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(true)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Try to take the lock without blocking. `path` is the `.lock` file.
pub fn try_lock(path: &Path) -> io::Result<Attempt> {
    if !held(|h| h.insert(path.to_path_buf())) {
        return Ok(Attempt::Busy { pid: None });
    }
    let release_table = || {
        held(|h| h.remove(path));
        RELEASED.notify_all();
    };
    let file = match open_lock(path) {
        Ok(f) => f,
        Err(e) => {
            release_table();
            return Err(e);
        }
    };
    let fl = flock(libc::F_WRLCK as libc::c_short);
    let err = match fcntl(&file, FcntlArg::F_SETLK(&fl)) {
        Ok(_) => {
            return Ok(Attempt::Acquired(TargetLock {
                file: Some(file),
                path: path.to_path_buf(),
            }))
        }
        Err(e) => e,
    };
    if !matches!(err, Errno::EAGAIN | Errno::EACCES) {
        release_table();
        return Err(err.into());
    }
    let mut probe = flock(libc::F_WRLCK as libc::c_short);
    let pid = if fcntl(&file, FcntlArg::F_GETLK(&mut probe)).is_ok()
        && probe.l_type != libc::F_UNLCK as libc::c_short
    {
        Some(probe.l_pid)
    } else {
        None
    };
    // Dropping `file` here is safe: we hold no fcntl lock on it.
    drop(file);
    release_table();
    Ok(Attempt::Busy {
        pid: pid.or(Some(0)),
    })
}

/// Wait until whoever holds the lock lets go, then return without holding
/// it; or until `stop` says to give up, with [`io::ErrorKind::Interrupted`].
pub fn wait_unlocked(path: &Path, stop: &dyn Fn() -> bool) -> io::Result<()> {
    {
        let mut g = HELD.lock().unwrap_or_else(|e| e.into_inner());
        while g.get_or_insert_with(HashSet::new).contains(path) {
            g = RELEASED.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
    // Mark as ours while we hold the fd, so no other thread of ours closes
    // a lock fd under us.
    held(|h| h.insert(path.to_path_buf()));
    let result = (|| {
        let file = open_lock(path)?;
        let fl = flock(libc::F_WRLCK as libc::c_short);
        let mut backoff = crate::sys::pause::Backoff::default();
        loop {
            match fcntl(&file, FcntlArg::F_SETLK(&fl)) {
                Ok(_) => break,
                Err(Errno::EACCES | Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            if stop() {
                return Err(io::ErrorKind::Interrupted.into());
            }
            backoff.pause();
        }
        let un = flock(libc::F_UNLCK as libc::c_short);
        let _ = fcntl(&file, FcntlArg::F_SETLK(&un));
        Ok(())
    })();
    held(|h| h.remove(path));
    RELEASED.notify_all();
    result
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            let un = flock(libc::F_UNLCK as libc::c_short);
            let _ = fcntl(&f, FcntlArg::F_SETLK(&un));
            drop(f);
        }
        held(|h| h.remove(&self.path));
        RELEASED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_thread_sees_busy_then_waits() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.lock");
        let Attempt::Acquired(l) = try_lock(&p).unwrap() else {
            panic!("not acquired")
        };
        assert!(matches!(try_lock(&p).unwrap(), Attempt::Busy { pid: None }));
        let p2 = p.clone();
        let t = std::thread::spawn(move || wait_unlocked(&p2, &|| false).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(l);
        t.join().unwrap();
        assert!(matches!(try_lock(&p).unwrap(), Attempt::Acquired(_)));
    }
}
