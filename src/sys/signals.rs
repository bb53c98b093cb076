//! Interruption: SIGINT, SIGTERM and SIGHUP stop the build cleanly.
//!
//! The handler only records the signal and writes one byte to a self-pipe
//! (both async-signal-safe). The scheduler polls that pipe together with the
//! jobserver, so it notices at once: it starts no new job, forwards the
//! signal to every running .do, waits for them (their temp files are removed
//! and their locks and tokens released on the normal paths), and the
//! invocation fails with 128 + signal.
//!
//! A signal that redo was started with ignored stays ignored, as GNU make
//! keeps it (its `FATAL_SIG`): a shell without job control starts a
//! background job with SIGINT ignored, so that a ^C meant for the
//! foreground does not stop it; nor does it then stop the build or its
//! `.do`s, which inherit the ignored disposition.
//!
//! A .do starts clean all the same: the handlers are set once, here, and
//! the spawn (`sys::spawn`) resets to the default, in the child only, every
//! signal that has a handler and SIGPIPE ([`CHILD_DEFAULT`]), with all
//! signals blocked from before its clone until that reset, then an empty
//! mask. A .do thus starts with what redo inherited, and nothing of redo's
//! own (tests/it/core_signals.rs checks a .do's mask and ignored set).
//!
//! Job threads also write to the self-pipe when they finish or give up their
//! slot, so one poll covers "a token arrived", "a slot came free" and "stop".

use std::collections::HashSet;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static WAKE_W: AtomicI32 = AtomicI32::new(-1);
static WAKE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
static CHILDREN: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

fn wake_pair() -> &'static (OwnedFd, OwnedFd) {
    WAKE.get_or_init(|| {
        let (r, w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .expect("creating the internal wake-up pipe");
        // Keep our pipe away from 0-9: an inherited jobserver named by fd
        // numbers (make 4.3 without `+` leaves 3,4 closed) must never find it.
        let (r, w) = (high(r), high(w));
        WAKE_W.store(w.as_raw_fd(), Ordering::SeqCst);
        (r, w)
    })
}

/// Moved to a high number; the low one is as good if that fails.
fn high(fd: OwnedFd) -> OwnedFd {
    use std::os::fd::AsFd;
    crate::sys::fd::dup_high(fd.as_fd()).unwrap_or(fd)
}

/// The read end to poll.
pub fn wake_fd() -> BorrowedFd<'static> {
    use std::os::fd::AsFd;
    wake_pair().0.as_fd()
}

/// Wake the scheduler (from any thread).
pub fn wake() {
    // A full pipe already wakes the poller: the write may fail harmlessly.
    let _ = nix::unistd::write(&wake_pair().1, b"x");
}

/// Empty the wake pipe after a poll said it is readable.
pub fn drain() {
    let mut buf = [0u8; 256];
    // Non-blocking: stops at EAGAIN once the pipe is empty.
    while nix::unistd::read(&wake_pair().0, &mut buf).is_ok_and(|n| n > 0) {}
}

/// The signal that asked us to stop, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .ok();
    let w = WAKE_W.load(Ordering::SeqCst);
    if w >= 0 {
        // SAFETY: write(2) is async-signal-safe; it reads one byte of a
        // static; `w` is the wake pipe's write end, open for the process's
        // life (a stale number would only give EBADF).
        unsafe { libc::write(w, b"s".as_ptr().cast(), 1) };
    }
}

/// Test hook: what the handler does when `sig` arrives, without a real
/// signal (one raised in a unit test would reach the whole test process).
#[cfg(test)]
pub(crate) fn simulate(sig: i32) {
    wake_pair();
    on_signal(sig);
}

/// Test hook: forget a simulated signal, for the next test.
#[cfg(test)]
pub(crate) fn reset() {
    SIGNAL.store(0, Ordering::SeqCst);
    drain();
}

/// Install the handlers for SIGINT, SIGTERM, SIGHUP (call once, early),
/// leaving ignored those we were started with ignored (see the essay).
pub fn install() {
    wake_pair();
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `sigaction` is plain data, valid zeroed; the first call
        // only asks (no new action) and fills in `old`; the handler only
        // does async-signal-safe things (an atomic store and a write).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Signals a .do starts with at their default disposition besides every
/// signal that has a handler here (the spawn finds those itself, once per
/// process): SIGPIPE, which the Rust runtime ignores and exec would pass on
/// ignored. SIGINT, SIGTERM and SIGHUP are not named: caught, they are
/// among the handled; ignored since our start, they stay so in the .do.
pub const CHILD_DEFAULT: [i32; 1] = [libc::SIGPIPE];

pub fn register_child(pid: i32) {
    let mut g = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashSet::new).insert(pid);
    drop(g);
    // A signal that arrived just before registration must still reach it.
    if let Some(sig) = requested() {
        // SAFETY: kill(2) touches no memory; a group that is gone gives ESRCH.
        unsafe { libc::kill(-pid, sig) };
    }
}

pub fn unregister_child(pid: i32) {
    let mut g = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = g.as_mut() {
        s.remove(&pid);
    }
}

/// Forward `sig` to every running .do and everything it started: each .do
/// leads its own process group, so a nested redo, a make or a cargo under it
/// gets the signal too (and forwards it further down the same way).
pub fn forward(sig: i32) {
    let g = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = g.as_ref() {
        for &pid in s {
            // SAFETY: as in register_child.
            unsafe { libc::kill(-pid, sig) };
        }
    }
}

/// After an interrupted .do exited, give the rest of its process group (a
/// nested redo returning its tokens, a make cleaning up) a bounded moment
/// to finish, so that the token count at exit is not taken too early.
pub fn await_group(pgid: i32, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit && group_alive(pgid) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Does the process group still have a live (non-zombie) member? Orphaned
/// zombies may wait long for a busy init to reap them, so `kill(-pgid, 0)`
/// alone would wait for nothing.
fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks existence; no memory is touched.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("Z");
        let _ppid = f.next();
        if f.next().and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && state != "Z" {
            return true;
        }
    }
    false
}
