//! Starting a child process without copying our address space.
//!
//! `clone(CLONE_VM|CLONE_VFORK)`, as glibc's `posix_spawn` does, not fork:
//! per target, the cost that matters in a large build is the process start,
//! and a fork copies our page tables (and makes every thread's TLB
//! shootdowns dearer). Hand-written rather than glibc's `posix_spawn`
//! because of what that one does per call: its child resets the signal
//! dispositions by asking the kernel about every one of the 64 signals (it
//! cannot know which have handlers: 118 `rt_sigaction` per spawn here), and
//! each `adddup2` file action checks both fds against `getrlimit` (2
//! `prlimit64` per fd, 14 per job). We know which signals have handlers: we
//! look once per process (at the first spawn, [`handled`]), so a child
//! resets only those and the ones the caller names, ~6 calls.
//!
//! What a .do starts with: the default disposition for every signal that
//! has a handler here (exec would reset those anyway) and for the caller's
//! `sigdefault` (SIGPIPE, which we ignore); an empty signal mask; its own
//! process group; its fds 0, 1, 2 and the named inherited ones, nothing else
//! (all of ours are close-on-exec); the soft limit on open files redo was
//! started with (redo raises its own, [`raise_open_files_limit`]). (glibc's `posix_spawn` also left its two
//! internal signals, 32 and 33, ignored in the child; now they keep what we
//! inherited, normally the default.)
//!
//! Why the child is safe to run on our memory: the calling thread blocks
//! every signal before the clone (the raw syscall: glibc's own two internal
//! signals too), so no handler of ours can run in the child while it shares
//! our memory; the child resets the handled signals to their default before
//! it unblocks, so a signal arriving between the unblock and the exec acts as
//! it would on the .do. A new task has no pending signals, and glibc's two
//! internal signals are only ever sent to our own threads' ids. The child
//! allocates nothing and calls only async-signal-safe functions; its errors
//! reach the parent through a shared word, read after the kernel resumed the
//! parent (at the child's exec or exit).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// What a .do process is started with.
pub struct SpawnSpec<'a> {
    pub program: &'a CStr,
    pub argv: &'a [CString],
    pub envp: &'a [*const libc::c_char],
    pub cwd: &'a CStr,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Kept open at the same number in the child.
    pub inherit: &'a [RawFd],
    /// Signals whose disposition the child gets reset to the default,
    /// besides every signal that has a handler here.
    pub sigdefault: &'a [libc::c_int],
}

/// The signals that have a handler in this process, looked up once, at the
/// first spawn (the only handlers, [`crate::sys::signals::install`]'s and
/// the Rust runtime's, are set before any job starts). glibc refuses to
/// show its two internal signals; see the module essay for why they need
/// no reset.
fn handled() -> &'static [libc::c_int] {
    static SET: OnceLock<Vec<libc::c_int>> = OnceLock::new();
    SET.get_or_init(|| {
        (1..=libc::SIGRTMAX())
            .filter(|&sig| {
                // SAFETY: a query only (no new action); `old` is plain data
                // the call fills in.
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                        && old.sa_sigaction != libc::SIG_DFL
                        && old.sa_sigaction != libc::SIG_IGN
                }
            })
            .collect()
    })
}

/// Everything the child reads (our memory: CLONE_VM), and the word it
/// writes an errno to when it cannot exec.
struct Child<'a> {
    spec: &'a SpawnSpec<'a>,
    argv: *const *const libc::c_char,
    reset: &'a [libc::c_int],
    /// The open files limit to give back ([`raise_open_files_limit`]).
    nofile: Option<&'a libc::rlimit>,
    errno: AtomicI32,
}

/// The child's stack: only `child` and the libc calls it makes run on it.
const CHILD_STACK: usize = 64 * 1024;

/// Start a .do (see the module essay): a new process group, the default
/// disposition for the handled and the `sigdefault` signals, an empty mask,
/// `stdin`/`stdout`/`stderr` as 0/1/2 and the `inherit` fds kept open (their
/// close-on-exec flag is cleared in the child only, so a job spawning at the
/// same time on another thread never inherits this job's dep fd).
pub fn spawn(s: &SpawnSpec) -> std::io::Result<libc::pid_t> {
    let mut argv: Vec<*const libc::c_char> = s.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut reset: Vec<libc::c_int> = s.sigdefault.to_vec();
    reset.extend(handled().iter().filter(|h| !s.sigdefault.contains(h)));
    let ctx = Child {
        spec: s,
        argv: argv.as_ptr(),
        reset: &reset,
        nofile: CHILD_NOFILE.get(),
        errno: AtomicI32::new(0),
    };
    // Uninitialised is fine for a stack: the child writes before it reads.
    let mut stack: Vec<u128> = Vec::with_capacity(CHILD_STACK / 16);
    // SAFETY: one past the end of the allocation (the stack grows down from
    // there); 16-byte aligned, as the ABI wants.
    let top = unsafe { stack.as_mut_ptr().add(CHILD_STACK / 16) };
    let old = block_all();
    // SAFETY: `child` runs on `stack`, which outlives the call (CLONE_VFORK:
    // clone returns only once the child has exec'd or exited, so nothing the
    // child reads is freed or moved under it), with every signal blocked
    // (see the module essay); `ctx` is passed as a pointer it only reads
    // (and its atomic written).
    let pid = unsafe {
        libc::clone(
            child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&ctx as *const Child).cast_mut().cast(),
        )
    };
    let clone_err = std::io::Error::last_os_error();
    set_mask(&old);
    drop(stack);
    if pid < 0 {
        return Err(clone_err);
    }
    match ctx.errno.load(Ordering::SeqCst) {
        0 => Ok(pid),
        e => {
            // It exited (127) without exec'ing: reap it.
            let _ = wait_pid(pid);
            Err(std::io::Error::from_raw_os_error(e))
        }
    }
}

/// Block every signal on this thread (the raw syscall: glibc's wrapper
/// would leave its internal ones open); returns the mask to restore.
fn block_all() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all bits set is "every signal" (the
    // kernel ignores the ones it cannot block); the old mask is written to
    // a local we own.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        std::ptr::write_bytes(&mut all, 0xff, 1);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const libc::sigset_t,
            &mut old as *mut libc::sigset_t,
            std::mem::size_of::<libc::c_ulong>(),
        );
        old
    }
}

/// Set this thread's signal mask (the raw syscall, as in [`block_all`]).
fn set_mask(mask: &libc::sigset_t) {
    // SAFETY: reads the mask we were given; the old one is not asked for.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            mask as *const libc::sigset_t,
            std::ptr::null_mut::<libc::sigset_t>(),
            std::mem::size_of::<libc::c_ulong>(),
        );
    }
}

/// The child, between the clone and the exec, on our memory: only
/// async-signal-safe calls, no allocation, no panic, never returns.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Child` that `spawn` keeps alive (and its thread
    // suspended) until we exec or exit.
    let c = unsafe { &*(arg as *const Child) };
    let s = c.spec;
    // SAFETY: every call takes plain numbers or pointers into `c`, which
    // stays valid (see above); `fail` ends the child.
    unsafe {
        let ok = |r: libc::c_int| r >= 0;
        let fail = || -> ! {
            c.errno.store(*libc::__errno_location(), Ordering::SeqCst);
            libc::_exit(127)
        };
        if !ok(libc::setpgid(0, 0)) {
            fail();
        }
        // Sources are >= 3 (the caller's duty), so these cannot clobber
        // each other.
        for (from, to) in [(s.stdin, 0), (s.stdout, 1), (s.stderr, 2)] {
            if !ok(libc::dup2(from, to)) {
                fail();
            }
        }
        for &fd in s.inherit {
            if !ok(libc::fcntl(fd, libc::F_SETFD, 0)) {
                fail();
            }
        }
        if !ok(libc::chdir(s.cwd.as_ptr())) {
            fail();
        }
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for &sig in c.reset {
            if !ok(libc::sigaction(sig, &dfl, std::ptr::null_mut())) {
                fail();
            }
        }
        if let Some(limit) = c.nofile {
            // A plain system call (prlimit64), as the others here.
            if !ok(libc::setrlimit(libc::RLIMIT_NOFILE, limit)) {
                fail();
            }
        }
        let empty: libc::sigset_t = std::mem::zeroed();
        set_mask(&empty);
        libc::execve(s.program.as_ptr(), c.argv, s.envp.as_ptr());
        fail()
    }
}

/// The soft limit on open files we were started with, when we raised ours:
/// a .do gets it back (as Go's os/exec does after Go raises its own).
static CHILD_NOFILE: OnceLock<libc::rlimit> = OnceLock::new();

/// Raise our soft limit on open files to the hard one (call once, early).
/// A build of N jobs holds a few descriptors per job (lock, `.dep` temp,
/// output, stderr pipe, pidfd): at `-j300` a soft limit of 1024 made jobs
/// fail with EMFILE where make runs them; goredo, being Go, raises it too.
/// The children get the original back ([`spawn`]). Nothing happens when
/// the limit cannot be read or is already the hard one.
pub fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        let _ = CHILD_NOFILE.set(libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        });
    }
}

/// Reap a child, retrying on EINTR.
pub fn wait_pid(pid: libc::pid_t) -> std::io::Result<ExitStatus> {
    let mut st: libc::c_int = 0;
    loop {
        // SAFETY: waitpid writes the status into a local we own.
        if unsafe { libc::waitpid(pid, &mut st, 0) } >= 0 {
            return Ok(ExitStatus::from_raw(st));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// A /dev/null for children's stdin, numbered 3 or above: one for the
/// whole process.
pub fn dev_null() -> std::io::Result<RawFd> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd.as_raw_fd());
    }
    let f = File::open("/dev/null")?;
    let f = match crate::sys::fd::at_least(f.as_fd(), 3)? {
        Some(high) => high,
        None => f.into(),
    };
    Ok(NULL.get_or_init(|| f).as_raw_fd())
}

/// A pidfd for `pid` (Linux 5.3+): pollable, readable once the process has
/// exited. None where the kernel lacks it (the caller then waits for end
/// of file on the child's pipes instead).
pub fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a new descriptor nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
