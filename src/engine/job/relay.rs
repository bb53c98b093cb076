//! Relaying a running `.do`'s stderr to the reporter, line by line, and
//! to its kept log (`-k`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::path::Path;

use super::super::Shared;
use crate::report::Event;

/// Relay the .do's stderr line by line until it exits. Lines starting with
/// the child's prefix come from a nested redo and pass through unchanged.
/// A background process that keeps stderr open does not hold us: once the
/// .do itself has exited, what is buffered is drained and we stop.
pub(super) fn relay(
    sh: &Shared,
    target: &Path,
    pid: u32,
    mut stderr: File,
    prefix: &str,
    mut log: Option<File>,
) {
    let pidfd = crate::sys::spawn::pidfd_open(pid);
    let mut pending: Vec<u8> = Vec::new();
    let mut exited = false;
    let emit_line = |line: &[u8], log: &mut Option<File>| {
        if let Some(rest) = line.strip_prefix(prefix.as_bytes()) {
            sh.reporter.emit(Event::Relay { line: rest });
        } else {
            if let Some(f) = log.as_mut() {
                let mut l = crate::state::log::tai64n_now().into_bytes();
                l.push(b' ');
                l.extend_from_slice(line);
                l.push(b'\n');
                let _ = f.write_all(&l);
            }
            sh.reporter.emit(Event::JobStderr { target, pid, line });
        }
    };
    super::super::commit::with_buf(|buf| loop {
        // Watch the .do's exit only until it is seen; then drain, not wait.
        let watch_exit = pidfd.as_ref().filter(|_| !exited);
        let (readable, gone) = match wait_readable(&stderr, watch_exit, exited) {
            Ok(r) => r,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        };
        exited |= gone;
        if readable {
            match stderr.read(buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        emit_line(&line[..line.len() - 1], &mut log);
                    }
                    if pending.len() > 1 << 20 {
                        let line = std::mem::take(&mut pending);
                        emit_line(&line, &mut log);
                    }
                    continue;
                }
            }
        }
        if exited {
            break;
        }
    });
    if !pending.is_empty() {
        emit_line(&pending, &mut log);
    }
}

/// Poll the stderr pipe (and the .do's pidfd, if given): is the pipe
/// readable (data or end of file), and has the .do exited? Without
/// blocking once the .do is known to have exited.
fn wait_readable(
    stderr: &File,
    pidfd: Option<&OwnedFd>,
    exited: bool,
) -> Result<(bool, bool), Errno> {
    let mut fds = [
        PollFd::new(stderr.as_fd(), PollFlags::POLLIN),
        PollFd::new(stderr.as_fd(), PollFlags::empty()),
    ];
    if let Some(p) = pidfd {
        fds[1] = PollFd::new(p.as_fd(), PollFlags::POLLIN);
    }
    let n = if pidfd.is_some() { 2 } else { 1 };
    let timeout = if exited {
        PollTimeout::ZERO
    } else {
        PollTimeout::NONE
    };
    poll(&mut fds[..n], timeout)?;
    let happened = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
    Ok((happened(&fds[0]), n == 2 && happened(&fds[1])))
}
