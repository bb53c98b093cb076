//! File descriptors we keep: always close-on-exec (a child inherits only
//! what a spawn names explicitly), and numbered [`MIN_FD`] or above, so
//! that an inherited jobserver named by small fd numbers (make 4.3 without
//! `+` leaves 3 and 4 closed) can never be mistaken for one of ours.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

/// The lowest number our own descriptors take.
pub const MIN_FD: RawFd = 10;

/// A close-on-exec duplicate of `fd` numbered `min` or above. The copy
/// shares the open file description (offset, status flags, locks).
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    let n = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else
    // owns; the OwnedFd takes it over and closes it once.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// A close-on-exec duplicate of `fd` numbered [`MIN_FD`] or above.
pub fn dup_high(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    dup_at_least(fd, MIN_FD)
}

/// `fd` itself if at least `min`, else a close-on-exec duplicate that is.
pub fn at_least(fd: BorrowedFd<'_>, min: RawFd) -> std::io::Result<Option<OwnedFd>> {
    if fd.as_raw_fd() >= min {
        return Ok(None);
    }
    dup_at_least(fd, min).map(Some)
}

/// `fd` itself if it is already [`MIN_FD`] or above (made close-on-exec),
/// else a high duplicate (and `fd` is closed).
pub fn to_high(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= MIN_FD {
        set_cloexec(fd.as_fd())?;
        Ok(fd)
    } else {
        dup_high(fd.as_fd())
    }
}

/// Set `FD_CLOEXEC`: an fd flag, private to this process's fd table, so
/// nobody sharing the open file description sees it.
pub fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = FdFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFD)?);
    if !flags.contains(FdFlag::FD_CLOEXEC) {
        fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC))?;
    }
    Ok(())
}

/// [`set_cloexec`] on a descriptor number we were given (an inherited fd
/// named in the environment), which may not even be open: `EBADF` then.
pub fn set_cloexec_raw(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD and F_SETFD on a number read or change only this
    // process's fd flags for it; a number that is not open gives EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_high_and_close_on_exec() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let low = r.as_raw_fd();
        let high = to_high(r).unwrap();
        assert!(high.as_raw_fd() >= MIN_FD, "{low} -> {}", high.as_raw_fd());
        let flags = FdFlag::from_bits_retain(fcntl(high.as_fd(), FcntlArg::F_GETFD).unwrap());
        assert!(flags.contains(FdFlag::FD_CLOEXEC));
        let again = dup_at_least(high.as_fd(), 40).unwrap();
        assert!(again.as_raw_fd() >= 40);
        assert!(set_cloexec_raw(-1).is_err());
    }
}
