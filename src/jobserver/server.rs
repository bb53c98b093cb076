//! Serving a jobserver: an anonymous pipe (default) or a named fifo holding `N-1` tokens.
//!
//! * The pipe is made with `pipe2(O_CLOEXEC)` and both ends are moved to fds >= 10. Those
//!   two descriptions are what children inherit; they stay in **blocking** mode (kindest to
//!   old clients; make >= 4.3 and ninja below us will flip the read end to non-blocking,
//!   which we tolerate). Our own reads and writes go through private descriptions
//!   reopened via `/proc/self/fd`, both `O_NONBLOCK`.
//! * Capacity is checked before filling: `F_GETPIPE_SZ`, enlarged with `F_SETPIPE_SZ`
//!   to hold `N` bytes (N-1 tokens plus one byte of headroom) when needed. The fill uses
//!   non-blocking writes, so a pipe that is still too small is an error, never a hang
//!   (make -j70000 hangs forever here).
//! * The fifo is `$TMPDIR/ferredo-fifo-<pid>-<random>`, mode 0600, opened by us
//!   `O_RDONLY|O_NONBLOCK` then `O_WRONLY|O_NONBLOCK` (both private by construction,
//!   CLOEXEC; children reopen the path). The caller removes it at exit.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::client::{self, Channel};

/// Byte of every token we create (what make writes).
pub const TOKEN_BYTE: u8 = b'+';

/// A jobserver we created.
#[derive(Debug)]
pub(super) struct Served {
    pub(super) chan: Channel,
    /// Pipe style: the shared ends children inherit (blocking, CLOEXEC in us, >= 10).
    pub(super) pipe: Option<(OwnedFd, OwnedFd)>,
    /// Fifo style: the path (removed by the owner at exit).
    pub(super) fifo: Option<PathBuf>,
}

fn max_pipe_size() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn too_many(n: u32, cap: Option<u64>) -> io::Error {
    let mut limit = match cap {
        Some(c) => format!("the pipe could only be given {c} bytes"),
        None => "the pipe cannot be made that large".to_string(),
    };
    if let Some(m) = max_pipe_size() {
        limit.push_str(&format!(" (fs.pipe-max-size = {m})"));
    }
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "cannot create a jobserver for -j{n}: it needs {} tokens in one pipe, but {limit}; \
             use a smaller -j (or raise fs.pipe-max-size), or -j0 for unlimited",
            n.saturating_sub(1)
        ),
    )
}

/// Make sure the pipe/fifo behind `w` holds at least `n` bytes (N-1 tokens + headroom).
fn ensure_capacity(w: &OwnedFd, n: u32) -> io::Result<()> {
    let tokens = u64::from(n.saturating_sub(1));
    let want = u64::from(n);
    let size = || fcntl(w, FcntlArg::F_GETPIPE_SZ).ok().map(|c| c as u64);
    if size().is_some_and(|cur| cur >= want) {
        return Ok(());
    }
    let req = libc::c_int::try_from(want).map_err(|_| too_many(n, None))?;
    let set = fcntl(w, FcntlArg::F_SETPIPE_SZ(req));
    // The kernel may round up, or refuse above fs.pipe-max-size: what counts is whether
    // the N-1 tokens fit now.
    let now = size();
    if now.is_some_and(|c| c < tokens) || (set.is_err() && now.is_none()) {
        return Err(too_many(n, now));
    }
    Ok(())
}

/// Serve an anonymous pipe with `n - 1` tokens (`n >= 1`).
pub(super) fn serve_pipe(n: u32) -> io::Result<Served> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let r = client::to_high(r)?;
    let w = client::to_high(w)?;
    ensure_capacity(&w, n)?;
    let st = nix::sys::stat::fstat(&r)?;
    let chan = match Channel::reopen(r.as_fd(), w.as_fd(), client::ino(&st)) {
        Some(c) => c,
        None => {
            // No /proc: this pipe is ours, so do what every make >= 4.3 does and make
            // its (shared) read end non-blocking; our channel shares the descriptions.
            let fl = client::getfl(r.as_raw_fd())?;
            set_fl(&r, fl | libc::O_NONBLOCK)?;
            Channel {
                read: client::dup_high(r.as_fd())?,
                write: client::dup_high(w.as_fd())?,
            }
        }
    };
    fill_nonblocking(&chan, n)?;
    Ok(Served {
        chan,
        pipe: Some((r, w)),
        fifo: None,
    })
}

fn set_fl(fd: &OwnedFd, flags: libc::c_int) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFL(OFlag::from_bits_retain(flags)))?;
    Ok(())
}

/// Fill `n - 1` tokens; the write description is made non-blocking for the fill if it is
/// not already (fallback path), and restored afterwards.
fn fill_nonblocking(chan: &Channel, n: u32) -> io::Result<()> {
    let fl = client::getfl(chan.write.as_raw_fd())?;
    let was_blocking = fl & libc::O_NONBLOCK == 0;
    if was_blocking {
        set_fl(&chan.write, fl | libc::O_NONBLOCK)?;
    }
    let res = chan.fill(TOKEN_BYTE, n.saturating_sub(1) as usize);
    if was_blocking {
        set_fl(&chan.write, fl)?;
    }
    res.map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            too_many(n, None)
        } else {
            e
        }
    })
}

/// Serve a named fifo in `dir` with `n - 1` tokens. On any error the fifo is removed.
pub(super) fn serve_fifo(n: u32, dir: &Path) -> io::Result<Served> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
    let prefix = format!("ferredo-fifo-{}-", std::process::id());
    // tempfile picks the random name and retries on EEXIST; mkfifo creates it. The
    // TempPath removes the fifo if anything below fails, and is kept on success: the
    // owner removes it at exit (and the CLI's signal handlers, by path).
    let path = tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(16)
        .make_in(dir, |p| {
            nix::unistd::mkfifo(p, mode).map_err(io::Error::from)
        })?
        .into_temp_path();
    let chan = open_and_fill_fifo(&path, n)?;
    Ok(Served {
        chan,
        pipe: None,
        fifo: Some(path.keep()?),
    })
}

/// Open the fifo we just made (read end first, so the write open cannot block or fail),
/// check it is still ours, and fill it.
fn open_and_fill_fifo(path: &Path, n: u32) -> io::Result<Channel> {
    let read = client::open_high(path, libc::O_RDONLY | libc::O_NONBLOCK)?;
    let st = nix::sys::stat::fstat(&read)?;
    if !client::is_fifo(&st) {
        return Err(io::Error::other(
            "the created fifo was replaced by something else",
        ));
    }
    let write = client::open_high(path, libc::O_WRONLY | libc::O_NONBLOCK)?;
    ensure_capacity(&write, n)?;
    let chan = Channel { read, write };
    fill_nonblocking(&chan, n)?;
    Ok(chan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn pipe_holds_n_minus_1_tokens_and_ends_stay_blocking() {
        for n in [1u32, 2, 5, 64] {
            let s = serve_pipe(n).unwrap();
            assert_eq!(s.chan.available().unwrap(), u64::from(n - 1));
            let (r, w) = s.pipe.as_ref().unwrap();
            assert!(r.as_raw_fd() >= 10 && w.as_raw_fd() >= 10);
            assert_eq!(client::getfl(r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
            assert_eq!(client::getfl(w.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
            let mut bytes = 0;
            while let client::Read::Byte(b) = s.chan.try_read().unwrap() {
                assert_eq!(b, b'+');
                bytes += 1;
            }
            assert_eq!(bytes, n - 1);
        }
    }

    #[test]
    fn pipe_without_proc_still_serves() {
        client::NO_PROC_REOPEN.with(|c| c.set(true));
        let s = serve_pipe(3).unwrap();
        client::NO_PROC_REOPEN.with(|c| c.set(false));
        assert_eq!(s.chan.available().unwrap(), 2);
        let (r, w) = s.pipe.as_ref().unwrap();
        // Our own pipe: its read end became non-blocking (like make), the write end not.
        assert_ne!(client::getfl(r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
        assert_eq!(client::getfl(w.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn huge_n_works_or_fails_fast() {
        for n in [65_537u32, 70_000, 200_000, 5_000_000, u32::MAX] {
            let t = Instant::now();
            match serve_pipe(n) {
                Ok(s) => assert_eq!(s.chan.available().unwrap(), u64::from(n - 1)),
                Err(e) => {
                    let m = e.to_string();
                    assert!(m.contains(&format!("-j{n}")) && m.contains("-j0"), "{m}");
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "-j{n} took {:?}",
                t.elapsed()
            );
        }
    }

    #[test]
    fn fifo_is_created_0600_filled_and_removed_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = serve_fifo(4, dir.path()).unwrap();
        let p = s.fifo.clone().unwrap();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with(&format!("ferredo-fifo-{}-", std::process::id())),
            "{name}"
        );
        let st = nix::sys::stat::stat(&p).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFIFO);
        assert_eq!(st.st_mode & 0o777 & !0o600, 0);
        assert_eq!(s.chan.available().unwrap(), 3);
        drop(s);
        std::fs::remove_file(&p).unwrap();
        // Too many tokens: error, and nothing left behind.
        assert!(serve_fifo(u32::MAX, dir.path()).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
