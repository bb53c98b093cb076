//! Taking and giving back tokens (the essay's "Poll, then read; never block in read" and
//! "Tokens are tied to bytes"), lending the implicit slot ("The implicit slot, lent"),
//! and what end of file on the jobserver does: one warning, then serial for the rest of
//! the process.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::client::{self, Read};
use super::{Acquired, Jobserver, Mode, Token};

impl Jobserver {
    /// Non-blocking: Some(token) if one could be taken now. Unlimited mode always returns
    /// a dummy token; serial mode never returns one.
    pub fn try_acquire(&self) -> io::Result<Option<Token>> {
        if self.is_unlimited() {
            return Ok(Some(Token {
                byte: b'+',
                real: false,
            }));
        }
        let Some(a) = self.active() else {
            return Ok(None);
        };
        match a.chan.try_read()? {
            Read::Byte(byte) => Ok(Some(Token { byte, real: true })),
            Read::Empty => Ok(None),
            Read::Eof => {
                self.mark_broken();
                Ok(None)
            }
        }
    }

    /// Block until a token is read OR `interrupt` becomes readable (the caller's
    /// self-pipe). An interrupt that is already readable wins over an available token
    /// (the caller has a slot of its own to reuse). `EAGAIN` after a readable poll means
    /// another client took the token first: poll again. End of file on the jobserver:
    /// warning (see [`Self::take_warnings`]), `Interrupted`, and from then on only
    /// `Interrupted` (after waiting for the interrupt fd). The interrupt fd is not drained.
    pub fn acquire(&self, interrupt: BorrowedFd<'_>) -> io::Result<Acquired> {
        if self.is_unlimited() {
            return Ok(Acquired::Token(Token {
                byte: b'+',
                real: false,
            }));
        }
        let Some(a) = self.active() else {
            return wait_readable(interrupt).map(|()| Acquired::Interrupted);
        };
        loop {
            let mut fds = [
                PollFd::new(interrupt, PollFlags::POLLIN),
                PollFd::new(a.chan.read.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let irev = fds[0].revents().unwrap_or(PollFlags::empty());
            if irev.contains(PollFlags::POLLNVAL) {
                return Err(Errno::EBADF.into());
            }
            if !irev.is_empty() {
                return Ok(Acquired::Interrupted);
            }
            if fds[1].revents().unwrap_or(PollFlags::empty()).is_empty() {
                continue;
            }
            #[cfg(test)]
            a.chan.after_poll();
            match a.chan.try_read()? {
                Read::Byte(byte) => return Ok(Acquired::Token(Token { byte, real: true })),
                Read::Empty => continue,
                Read::Eof => {
                    self.mark_broken();
                    return Ok(Acquired::Interrupted);
                }
            }
        }
    }

    fn mark_broken(&self) {
        if !self.broken.swap(true, Ordering::SeqCst) {
            self.warn(
                "jobserver unavailable: end of file on the jobserver (all writers closed); \
                 continuing with -j1"
                    .to_string(),
            );
        }
    }

    /// Lend the implicit slot to the pool while none of our jobs can use it (they
    /// all wait for other processes): write one token byte that no read gave us, so
    /// that another process runs a job on the slot meanwhile. make's byte, `+`: the
    /// implicit slot has none of its own. False (nothing written) without a working
    /// pool (unlimited, serial, broken), or when the pipe is full or the write fails. Every `true` must be
    /// matched by one [`Self::take_back_implicit`] before the slot is used again.
    pub fn lend_implicit(&self) -> bool {
        if self.is_unlimited() {
            return false;
        }
        match self.active() {
            Some(a) => a.chan.try_write_byte(b'+'),
            None => false,
        }
    }

    /// The implicit slot comes back from the pool: `token`, just read, stands for
    /// the byte [`Self::lend_implicit`] wrote, so it is kept, not written back.
    pub fn take_back_implicit(&self, token: Token) {
        let Token { .. } = token;
    }

    /// Write the token's byte back (no-op for unlimited dummy tokens). Retries
    /// `EINTR`/`EAGAIN` (polling for writability). A failure becomes a warning.
    pub fn release(&self, token: Token) {
        if !token.real {
            return;
        }
        // Even after end of file, try: the token belongs to the pool.
        if let Mode::Active(a) = &self.mode {
            if let Err(e) = a.chan.write_byte(token.byte) {
                self.warn(format!(
                    "jobserver: cannot give a token back: {}",
                    client::strerror(&e)
                ));
            }
        }
    }
}

/// Block until `fd` is readable (or hung up). `EINTR` is retried.
fn wait_readable(fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let rev = fds[0].revents().unwrap_or(PollFlags::empty());
                if rev.contains(PollFlags::POLLNVAL) {
                    return Err(Errno::EBADF.into());
                }
                if !rev.is_empty() {
                    return Ok(());
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
