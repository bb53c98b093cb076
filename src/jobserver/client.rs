//! Joining an inherited jobserver (pipe `R,W` or `fifo:PATH`), with validation, and the
//! [`Channel`]: our private pair of descriptions through which tokens are taken and given
//! back (used for joined and for served jobservers alike).
//!
//! Everything that touches a file descriptor we did not create goes through `libc`
//! directly on the raw number, because such a number may be closed or belong to an
//! unrelated file: no `BorrowedFd` is made for it until `F_GETFD` has shown it is open,
//! and nothing is read from or written to it until it has been shown to be one end of
//! the same pipe as its partner.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

/// Lowest fd number we keep our own descriptors at (shell redirections use 3–9).
#[cfg(test)]
pub use crate::sys::fd::MIN_FD;

// ---------------------------------------------------------------------------------------
// Small raw-fd helpers (no ownership assumed)
// ---------------------------------------------------------------------------------------

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `fcntl(F_GETFD)`: Ok if `fd` is open. (nix's `fcntl` wants a `BorrowedFd`, which an
/// fd number not yet shown open cannot soundly be.)
pub(super) fn getfd(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFD only reads this process's fd flags for a number; it touches no
    // memory of ours and a number that is not open gives EBADF.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })
}

/// `fcntl(F_GETFL)`: file status flags and access mode of the open file description.
pub(super) fn getfl(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL only reads the flags of the description behind a number; it
    // changes nothing and a number that is not open gives EBADF.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })
}

#[cfg(test)]
fn setfl(fd: RawFd, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFL takes an integer and touches no memory of ours; the tests call it
    // only on descriptions they created.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// Set `FD_CLOEXEC` (an fd flag, not a description flag: nobody else sees it).
pub(super) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    crate::sys::fd::set_cloexec_raw(fd)
}

/// `fstat` of an fd number (an inherited one is named by number only; see `getfd`).
pub(super) fn fstat_raw(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: libc::stat is plain data, valid all-zero; fstat writes only into `st`,
    // which we own, and a number that is not open gives EBADF.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        cvt(libc::fstat(fd, &mut st))?;
        Ok(st)
    }
}

pub(super) fn is_fifo(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFIFO
}

/// Identity of a pipe/fifo inode.
pub(super) type Ino = (u64, u64);

#[allow(clippy::unnecessary_cast)] // the field types differ between platforms
pub(super) fn ino(st: &libc::stat) -> Ino {
    (st.st_dev as u64, st.st_ino as u64)
}

pub(super) use crate::sys::fd::{dup_high, to_high};

/// `open(2)` with `O_CLOEXEC` added, result moved to >= [`MIN_FD`].
pub(super) fn open_high(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_CLOEXEC;
    to_high(nix::fcntl::open(path, flags, Mode::empty())?)
}

/// `strerror` text (make prints this, without Rust's "(os error N)").
pub(super) fn strerror(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set this to make the next readable poll in `acquire` find the token gone
    /// (as if another client had sniped it between our poll and our read).
    pub(super) static SNIPE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
thread_local! {
    /// Tests set this to exercise the path taken when `/proc/self/fd` cannot be reopened.
    pub(super) static NO_PROC_REOPEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Open a new, private description of the pipe behind `fd` (Linux `/proc/self/fd/N`).
/// Returns None when that is impossible or yields a shared description (some systems'
/// `/dev/fd` dups instead of reopening), so the caller can fall back.
fn reopen_private(fd: BorrowedFd<'_>, access: libc::c_int, want: Ino) -> Option<OwnedFd> {
    #[cfg(test)]
    if NO_PROC_REOPEN.with(|c| c.get()) {
        return None;
    }
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let new = open_high(Path::new(&path), access | libc::O_NONBLOCK).ok()?;
    let st = nix::sys::stat::fstat(&new).ok()?;
    if !is_fifo(&st) || ino(&st) != want {
        return None;
    }
    // A reopen must give a description of its own: it carries the O_NONBLOCK we asked
    // for. A dup of a blocking shared description would not.
    let fl = getfl(new.as_raw_fd()).ok()?;
    if fl & libc::O_NONBLOCK == 0 {
        return None;
    }
    Some(new)
}

// ---------------------------------------------------------------------------------------
// Channel
// ---------------------------------------------------------------------------------------

/// Our own descriptions of the jobserver: `read` is always `O_NONBLOCK` and private (or,
/// in the fallback without `/proc`, a description that was already non-blocking); `write`
/// is private and non-blocking when possible. Both CLOEXEC and >= 10.
#[derive(Debug)]
pub(super) struct Channel {
    pub(super) read: OwnedFd,
    pub(super) write: OwnedFd,
}

/// Outcome of one non-blocking read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Read {
    Byte(u8),
    /// `EAGAIN`: nothing there (or someone else took it first).
    Empty,
    /// Read returned 0: every writer is gone; a broken jobserver.
    Eof,
}

impl Channel {
    /// Private descriptions of the pipe whose shared ends are `r`, `w` (same inode `id`).
    /// None if `/proc/self/fd` cannot give us private ones.
    pub(super) fn reopen(r: BorrowedFd<'_>, w: BorrowedFd<'_>, id: Ino) -> Option<Channel> {
        // Read side first: it is what lets the write-side open of a FIFO-type inode
        // succeed without blocking (a reader exists).
        let read = reopen_private(r, libc::O_RDONLY, id)?;
        let write = reopen_private(w, libc::O_WRONLY, id)?;
        Some(Channel { read, write })
    }

    /// Test hook: called by `acquire` between a readable poll and its read.
    #[cfg(test)]
    pub(super) fn after_poll(&self) {
        SNIPE.with(|c| {
            if c.replace(false) {
                let mut b = [0u8; 1];
                let _ = nix::unistd::read(self.read.as_fd(), &mut b);
            }
        });
    }

    /// One non-blocking read of one byte.
    pub(super) fn try_read(&self) -> io::Result<Read> {
        let mut b = [0u8; 1];
        loop {
            match nix::unistd::read(self.read.as_fd(), &mut b) {
                Ok(1) => return Ok(Read::Byte(b[0])),
                Ok(_) => return Ok(Read::Eof),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(Read::Empty),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Write one token byte; retries `EINTR`, waits for writability on `EAGAIN`.
    pub(super) fn write_byte(&self, byte: u8) -> io::Result<()> {
        loop {
            match nix::unistd::write(self.write.as_fd(), &[byte]) {
                Ok(1) => return Ok(()),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    let mut fds = [PollFd::new(self.write.as_fd(), PollFlags::POLLOUT)];
                    match poll(&mut fds, PollTimeout::NONE) {
                        Ok(_) | Err(Errno::EINTR) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Write one byte unless the pipe is full (`false` then, and on an error).
    pub(super) fn try_write_byte(&self, byte: u8) -> bool {
        loop {
            match nix::unistd::write(self.write.as_fd(), &[byte]) {
                Ok(1) => return true,
                Err(Errno::EINTR) => continue,
                _ => return false,
            }
        }
    }

    /// Fill with `count` bytes of `byte` without ever blocking: `Err(WouldBlock)` if the
    /// pipe is full first. The write description must be non-blocking.
    pub(super) fn fill(&self, byte: u8, count: usize) -> io::Result<()> {
        let chunk = vec![byte; count.min(65536)];
        let mut left = count;
        while left > 0 {
            match nix::unistd::write(self.write.as_fd(), &chunk[..left.min(chunk.len())]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => left -= n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Bytes currently in the pipe, without consuming them and without waiting
    /// (`FIONREAD`). Tokens stay in place for any straggler still using the pipe.
    pub(super) fn available(&self) -> io::Result<u64> {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD on our own open fd writes one c_int, into `n`, which we own.
        // (nix has no safe wrapper for it, only the unsafe `ioctl_read_bad!`.)
        cvt(unsafe { libc::ioctl(self.read.as_raw_fd(), libc::FIONREAD, &mut n) })?;
        Ok(n.max(0) as u64)
    }
}

// ---------------------------------------------------------------------------------------
// Joining
// ---------------------------------------------------------------------------------------

/// Why an inherited jobserver cannot be used.
#[derive(Debug)]
pub(super) enum JoinError {
    /// Pipe fds: closed, negative, not pipes, not the same pipe, wrong access mode.
    /// (The text is a diagnostic detail; the user sees make's sentence.)
    Unusable(String),
    /// `fifo:PATH` could not be opened (or is not a fifo): make's `cannot open jobserver`.
    CannotOpen { path: String, err: String },
    /// A valid pipe, but no private description could be made and the shared one is
    /// blocking: reading it could block past a snipe, so we do not use it.
    NoPrivateDescription(String),
}

/// A joined pipe: the private channel, plus `CLOEXEC` copies (>= 10) of the inherited
/// ends. The copies share the inherited descriptions (their flags are never touched)
/// and are what children inherit and see in `--jobserver-auth=R,W`.
#[derive(Debug)]
pub(super) struct JoinedPipe {
    pub(super) chan: Channel,
    pub(super) adv_r: OwnedFd,
    pub(super) adv_w: OwnedFd,
}

/// Validate the inherited pair `r,w` and join it. Nothing is read from or written to
/// `r`/`w`, and their description flags are never changed. On success `FD_CLOEXEC` is set
/// on `r` and `w` (fd flags, private to this process; fds 0–2 excepted) so that children
/// only get the `>= 10` copies we advertise.
pub(super) fn join_pipe(r: RawFd, w: RawFd) -> Result<JoinedPipe, JoinError> {
    let unusable = |s: String| Err(JoinError::Unusable(s));
    if r < 0 || w < 0 {
        return unusable(format!("negative file descriptor in {r},{w}"));
    }
    for fd in [r, w] {
        if let Err(e) = getfd(fd) {
            return unusable(format!("file descriptor {fd}: {}", strerror(&e)));
        }
    }
    let (sr, sw) = match (fstat_raw(r), fstat_raw(w)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return unusable(format!("fstat: {}", strerror(&e))),
    };
    for (fd, st) in [(r, &sr), (w, &sw)] {
        if !is_fifo(st) {
            return unusable(format!("file descriptor {fd} is not a pipe"));
        }
    }
    if ino(&sr) != ino(&sw) {
        return unusable(format!(
            "file descriptors {r} and {w} are not the same pipe"
        ));
    }
    let (fr, fw) = match (getfl(r), getfl(w)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return unusable(format!("F_GETFL: {}", strerror(&e))),
    };
    let acc = |f: libc::c_int| f & libc::O_ACCMODE;
    if acc(fr) != libc::O_RDONLY && acc(fr) != libc::O_RDWR {
        return unusable(format!("file descriptor {r} is not open for reading"));
    }
    if acc(fw) != libc::O_WRONLY && acc(fw) != libc::O_RDWR {
        return unusable(format!("file descriptor {w} is not open for writing"));
    }
    // SAFETY: both fds were shown open above; we only borrow them for the duration of
    // this function and never close them.
    let (br, bw) = unsafe { (BorrowedFd::borrow_raw(r), BorrowedFd::borrow_raw(w)) };
    let err = |e: io::Error| JoinError::Unusable(format!("dup: {}", strerror(&e)));
    let adv_r = dup_high(br).map_err(err)?;
    let adv_w = dup_high(bw).map_err(err)?;
    let chan = match Channel::reopen(adv_r.as_fd(), adv_w.as_fd(), ino(&sr)) {
        Some(c) => c,
        None if fr & libc::O_NONBLOCK != 0 => {
            // No /proc, but the shared read description is already non-blocking (every
            // make >= 4.3 sets that): reading through it is safe, and we change nothing.
            let err = |e: io::Error| JoinError::Unusable(format!("dup: {}", strerror(&e)));
            Channel {
                read: dup_high(adv_r.as_fd()).map_err(err)?,
                write: dup_high(adv_w.as_fd()).map_err(err)?,
            }
        }
        None => {
            return Err(JoinError::NoPrivateDescription(format!(
                "cannot reopen the jobserver pipe through /proc/self/fd, and its read end \
                 ({r}) is in blocking mode"
            )))
        }
    };
    for fd in [r, w] {
        if fd > 2 {
            let _ = set_cloexec(fd);
        }
    }
    Ok(JoinedPipe { chan, adv_r, adv_w })
}

/// Validate and open `fifo:PATH`. `stat` first (never open a non-fifo: opening some
/// devices has side effects), then `O_RDONLY|O_NONBLOCK` (never blocks), `fstat` again
/// (the path may have been swapped), then `O_WRONLY|O_NONBLOCK` (cannot block or fail
/// with ENXIO: we are a reader now). A regular file is never opened, so never changed.
pub(super) fn join_fifo(path: &Path) -> Result<Channel, JoinError> {
    let shown = path.to_string_lossy().into_owned();
    let fail = |err: String| JoinError::CannotOpen {
        path: shown.clone(),
        err,
    };
    let st = match nix::sys::stat::stat(path) {
        Ok(st) => st,
        Err(e) => return Err(fail(e.desc().to_string())),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(fail("not a named pipe (fifo)".to_string()));
    }
    let want: Ino = ino(&st);
    let check = |fd: &OwnedFd| -> Result<(), JoinError> {
        match nix::sys::stat::fstat(fd) {
            Ok(s) if is_fifo(&s) && ino(&s) == want => Ok(()),
            Ok(_) => Err(fail("not a named pipe (fifo)".to_string())),
            Err(e) => Err(fail(e.desc().to_string())),
        }
    };
    let read =
        open_high(path, libc::O_RDONLY | libc::O_NONBLOCK).map_err(|e| fail(strerror(&e)))?;
    check(&read)?;
    let write =
        open_high(path, libc::O_WRONLY | libc::O_NONBLOCK).map_err(|e| fail(strerror(&e)))?;
    check(&write)?;
    Ok(Channel { read, write })
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Unusable(d) | JoinError::NoPrivateDescription(d) => f.write_str(d),
            JoinError::CannotOpen { path, err } => write!(f, "cannot open {path}: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
    }

    #[test]
    fn join_pipe_gives_private_nonblocking_descriptions_and_high_fds() {
        let (r, w) = pipe();
        let before_r = getfl(r.as_raw_fd()).unwrap();
        let before_w = getfl(w.as_raw_fd()).unwrap();
        let j = join_pipe(r.as_raw_fd(), w.as_raw_fd()).unwrap();
        for fd in [&j.chan.read, &j.chan.write, &j.adv_r, &j.adv_w] {
            assert!(fd.as_raw_fd() >= MIN_FD);
            assert_ne!(getfd(fd.as_raw_fd()).unwrap() & libc::FD_CLOEXEC, 0);
        }
        assert_ne!(
            getfl(j.chan.read.as_raw_fd()).unwrap() & libc::O_NONBLOCK,
            0
        );
        // The inherited (shared) descriptions are untouched.
        assert_eq!(getfl(r.as_raw_fd()).unwrap(), before_r);
        assert_eq!(getfl(w.as_raw_fd()).unwrap(), before_w);
        assert_eq!(getfl(j.adv_r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
        // The channel really talks to the pipe.
        nix::unistd::write(&w, b"q").unwrap();
        assert_eq!(j.chan.available().unwrap(), 1);
        assert_eq!(j.chan.try_read().unwrap(), Read::Byte(b'q'));
        assert_eq!(j.chan.try_read().unwrap(), Read::Empty);
    }

    #[test]
    fn join_pipe_rejects_wrong_direction() {
        let (r, w) = pipe();
        for (a, b) in [(&w, &r), (&w, &w), (&r, &r)] {
            match join_pipe(a.as_raw_fd(), b.as_raw_fd()) {
                Err(JoinError::Unusable(d)) => assert!(d.contains("not open for"), "{d}"),
                other => panic!("{other:?}"),
            }
        }
        // A fifo opened O_RDWR may serve as both ends.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let rw = open_high(&p, libc::O_RDWR).unwrap();
        assert!(join_pipe(rw.as_raw_fd(), rw.as_raw_fd()).is_ok());
    }

    #[test]
    fn fallback_without_proc_needs_a_nonblocking_shared_read_end() {
        NO_PROC_REOPEN.with(|c| c.set(true));
        let (r, w) = pipe();
        assert!(matches!(
            join_pipe(r.as_raw_fd(), w.as_raw_fd()),
            Err(JoinError::NoPrivateDescription(_))
        ));
        let fl = getfl(r.as_raw_fd()).unwrap();
        setfl(r.as_raw_fd(), fl | libc::O_NONBLOCK).unwrap();
        let j = join_pipe(r.as_raw_fd(), w.as_raw_fd()).unwrap();
        nix::unistd::write(&w, b"z").unwrap();
        assert_eq!(j.chan.try_read().unwrap(), Read::Byte(b'z'));
        assert_eq!(j.chan.try_read().unwrap(), Read::Empty);
        NO_PROC_REOPEN.with(|c| c.set(false));
    }

    #[test]
    fn join_fifo_rejects_regular_file_and_directory_without_touching_them() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("scratch.txt");
        std::fs::File::create(&f)
            .unwrap()
            .write_all(b"scratch-content")
            .unwrap();
        assert!(matches!(join_fifo(&f), Err(JoinError::CannotOpen { .. })));
        assert_eq!(std::fs::read(&f).unwrap(), b"scratch-content");
        assert!(matches!(
            join_fifo(dir.path()),
            Err(JoinError::CannotOpen { .. })
        ));
        match join_fifo(&dir.path().join("nonexist")) {
            Err(JoinError::CannotOpen { err, .. }) => assert_eq!(err, "No such file or directory"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fill_never_blocks_on_a_full_pipe() {
        let (r, w) = pipe();
        let id = ino(&fstat_raw(r.as_raw_fd()).unwrap());
        let chan = Channel::reopen(r.as_fd(), w.as_fd(), id).unwrap();
        // Shrink to one page so it fills fast.
        let _ = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096));
        let cap = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap() as usize;
        let e = chan.fill(b'+', cap + 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(chan.available().unwrap(), cap as u64);
    }
}
