//! Starting a child process without copying our address space.
//!
//! `posix_spawn` (glibc: `clone(CLONE_VM|CLONE_VFORK)`), not fork: per target,
//! the cost that matters in a large build is the process start, and a fork
//! copies our page tables (and makes every thread's TLB shootdowns dearer).
//! Raw libc, because nix's safe `posix_spawn` cannot set the child's working
//! directory (`posix_spawn_file_actions_addchdir_np`), which every job needs.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
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
    /// Signals whose disposition the child gets reset to the default.
    pub sigdefault: &'a [libc::c_int],
}

/// Start a .do with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), no
/// copy of our address space as fork makes). The child leads a new process
/// group and has the default disposition for the signals we handle or
/// ignore. Every fd of ours is close-on-exec; the ones the child must keep
/// are named by `adddup2(fd, fd)` file actions, which clear the flag in the
/// child only (glibc >= 2.29), so a job spawning at the same time on another
/// thread can never inherit this job's dep fd.
pub fn spawn(s: &SpawnSpec) -> std::io::Result<libc::pid_t> {
    fn check(r: libc::c_int) -> std::io::Result<()> {
        match r {
            0 => Ok(()),
            e => Err(std::io::Error::from_raw_os_error(e)),
        }
    }
    struct Actions(libc::posix_spawn_file_actions_t);
    impl Drop for Actions {
        fn drop(&mut self) {
            // SAFETY: initialised by posix_spawn_file_actions_init (an
            // Actions is only made from one that succeeded), destroyed once.
            unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
        }
    }
    struct Attr(libc::posix_spawnattr_t);
    impl Drop for Attr {
        fn drop(&mut self) {
            // SAFETY: as for Actions: initialised, destroyed once.
            unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
        }
    }
    let mut argv: Vec<*const libc::c_char> = s.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: the attribute and file-action objects are initialised before
    // use and destroyed by their guards; every pointer passed (program,
    // argv, envp, cwd) points into C strings and arrays that `s` borrows for
    // the whole call, argv and envp are NULL-terminated (envp by the caller),
    // and posix_spawn only reads them.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut fa))?;
        let mut fa = Actions(fa);
        // Sources are >= 3 (the caller's duty), so these dup2s cannot clobber
        // each other.
        for (from, to) in [(s.stdin, 0), (s.stdout, 1), (s.stderr, 2)] {
            check(libc::posix_spawn_file_actions_adddup2(&mut fa.0, from, to))?;
        }
        for &fd in s.inherit {
            check(libc::posix_spawn_file_actions_adddup2(&mut fa.0, fd, fd))?;
        }
        check(libc::posix_spawn_file_actions_addchdir_np(
            &mut fa.0,
            s.cwd.as_ptr(),
        ))?;
        let mut at: libc::posix_spawnattr_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut at))?;
        let mut at = Attr(at);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in s.sigdefault {
            libc::sigaddset(&mut set, sig);
        }
        check(libc::posix_spawnattr_setsigdefault(&mut at.0, &set))?;
        libc::sigemptyset(&mut set);
        check(libc::posix_spawnattr_setsigmask(&mut at.0, &set))?;
        check(libc::posix_spawnattr_setpgroup(&mut at.0, 0))?;
        check(libc::posix_spawnattr_setflags(
            &mut at.0,
            (libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short,
        ))?;
        let mut pid: libc::pid_t = 0;
        check(libc::posix_spawn(
            &mut pid,
            s.program.as_ptr(),
            &fa.0,
            &at.0,
            argv.as_ptr() as *const *mut libc::c_char,
            s.envp.as_ptr() as *const *mut libc::c_char,
        ))?;
        Ok(pid)
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
