//! The status line (spec/goredo.md §7.2): `run: N wait: N done: N`, redrawn
//! in place at the bottom of the terminal while a build runs.
//!
//! The protocol is goredo's. The top-level redo, when stderr is a terminal
//! and neither `-no-status` nor `-no-progress` is given, creates a pipe and
//! names its write end in `REDO_STATUS_FD` for every child. Each redo of the
//! tree, the top-level one included, writes one byte to that pipe per event
//! of its own jobs: [`RUN`] when a .do starts, [`DONE`] when it ends (failed
//! or not), [`WAIT`] when it waits for a target another process builds,
//! [`WAITED`] when that wait ends. One byte is one `write(2)` to a pipe, so
//! events of concurrent processes never interleave. The top-level's reader
//! thread sums them and redraws the line; other lines of output first
//! overwrite it (`\r` then the line then `ESC[K`) and it is drawn again below
//! them. When the build ends the line is erased, so a finished build leaves
//! only its message lines, and a no-op build, which sends nothing, draws
//! nothing. Before erasing, the top-level sends itself [`FLUSH`] and waits
//! until its reader has drawn every event before it: the last line shown
//! has the final totals.
//!
//! The byte values (0 run, 1 done, 2 wait, 3 waited) follow goredo's order of
//! constants as the spec recalls it [R]; a byte outside them is ignored.
//!
//! Invariants:
//! - Only the top-level process draws; a nested one only sends.
//! - Nothing is drawn when stderr is not a terminal, so logs and pipes never
//!   see `\r` or escapes.
//! - A process that does not send tells its children `REDO_STATUS_FD=NO`: an
//!   fd number must never reach a child that was not given that fd.
//! - An inherited `REDO_STATUS_FD` is used only if it names an open,
//!   writable FIFO: a number reused for some other file is left alone.
//! - The pipe's fds are 10 or above, away from the numbers an inherited
//!   jobserver may name (`--jobserver-auth=3,4`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use ferredo::env::{Context, STATUS_FD};

pub const RUN: u8 = 0;
pub const DONE: u8 = 1;
pub const WAIT: u8 = 2;
pub const WAITED: u8 = 3;
/// Sent by the top-level to itself at the end: once its reader has seen
/// it, every event before it is on the line (see `Terminal::finish_status`).
/// Not goredo's; `Counts::apply` ignores it like any unknown byte.
pub const FLUSH: u8 = 0xff;

/// [`STATUS_FD`]'s value when no status events are wanted.
const NO: &str = "NO";

/// The running totals the line shows.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub run: i64,
    pub wait: i64,
    pub done: u64,
}

impl Counts {
    pub fn apply(&mut self, event: u8) {
        match event {
            RUN => self.run += 1,
            DONE => {
                self.run -= 1;
                self.done += 1;
            }
            WAIT => self.wait += 1,
            WAITED => self.wait -= 1,
            _ => {}
        }
    }

    /// The line's text, without `\r` or erase; numbers coloured as goredo's
    /// categories (redo green, wait blue, jobserver white) when `colour`.
    pub fn render(&self, colour: bool) -> String {
        // Each job's events come in order from the one process running it,
        // but any program holding the fd may write: never show a negative.
        let (run, wait) = (self.run.max(0), self.wait.max(0));
        if colour {
            format!(
                "run: \x1b[32m{run}\x1b[0m wait: \x1b[34m{wait}\x1b[0m done: \x1b[37m{}\x1b[0m",
                self.done
            )
        } else {
            format!("run: {run} wait: {wait} done: {}", self.done)
        }
    }
}

/// Where this process's status events go, and how its children learn of it.
pub enum Role {
    /// No status events: children get `REDO_STATUS_FD=NO`.
    Off,
    /// Send to an fd (inherited, or our own pipe's write end).
    Send(RawFd),
}

impl Role {
    /// The variable and fd every child of this process gets.
    pub fn for_children(&self) -> ((String, Option<String>), Option<RawFd>) {
        match self {
            Role::Off => ((STATUS_FD.into(), Some(NO.into())), None),
            Role::Send(fd) => ((STATUS_FD.into(), Some(fd.to_string())), Some(*fd)),
        }
    }

    pub fn send(&self, event: u8) {
        if let Role::Send(fd) = self {
            // A full pipe or a gone reader costs the line an update, never
            // the build: the write is not retried.
            // SAFETY: write reads one byte of a live local; `fd` was checked
            // to be an open fifo when the role was chosen.
            unsafe { libc::write(*fd, [event].as_ptr().cast(), 1) };
        }
    }
}

/// A nested redo's role: the inherited fd if it is usable.
pub fn inherited(ctx: &Context, value: Option<std::ffi::OsString>) -> Role {
    if ctx.flags.no_status {
        return Role::Off;
    }
    let Some(fd) = value
        .and_then(|v| v.to_str().and_then(|s| s.parse::<RawFd>().ok()))
        .filter(|fd| *fd > 2)
    else {
        return Role::Off;
    };
    if !is_writable_fifo(fd) {
        return Role::Off;
    }
    // Our children get it through the spawn's explicit inherit list only.
    if ferredo::sys::fd::set_cloexec_raw(fd).is_err() {
        return Role::Off;
    }
    Role::Send(fd)
}

fn is_writable_fifo(fd: RawFd) -> bool {
    // SAFETY: F_GETFL and fstat on a number read only the fd table and the
    // inode (into our zeroed, plain-integer stat); a closed number gives EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || flags & libc::O_ACCMODE == libc::O_RDONLY {
        return false;
    }
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO }
}

/// A new pipe for the top-level: (read end, write end), both close-on-exec
/// and numbered 10 or above.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    use ferredo::sys::fd::to_high;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    Ok((to_high(r)?, to_high(w)?))
}

/// Read events until every write end is closed, handing each batch to
/// `update` (which redraws once per batch, not once per byte).
pub fn read_events(read_end: OwnedFd, mut update: impl FnMut(&[u8])) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: read writes at most buf.len() bytes into our live buffer.
        let n = unsafe { libc::read(read_end.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            update(&buf[..n as usize]);
        } else if n == 0
            || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_events_and_never_show_negatives() {
        let mut c = Counts::default();
        for e in [RUN, RUN, DONE, WAIT, 9, WAITED, WAITED] {
            c.apply(e);
        }
        assert_eq!(c.run, 1);
        assert_eq!(c.done, 1);
        assert_eq!(c.render(false), "run: 1 wait: 0 done: 1");
        assert!(c.render(true).contains("\x1b[32m1\x1b[0m"));
    }
}
