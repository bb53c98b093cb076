//! Building one target: lock, checks, running its .do, relaying its stderr,
//! and the commit. Runs on a job thread while holding a job slot; it gives
//! the slot back early when it finds another process building the target.
//!
//! The .do is started with posix_spawn, not fork: per target, the cost
//! that matters in a large build is the process start, and a fork copies
//! our page tables (and makes every thread's TLB shootdowns dearer).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::commit::{self, CommitInput, Produced, Temps};
use super::signals;
use super::Shared;
use crate::dofile;
use crate::paths;
use crate::report::Event;
use crate::state::dep::{self, Dep, Record};
use crate::state::inode::Inode;
use crate::state::lock::{self, Attempt};

pub enum Outcome {
    Built(Produced),
    /// Built earlier in this run (by us or another process).
    AlreadyBuilt,
    /// Externally modified, left alone (a warning was reported).
    Skipped,
    /// The job gave its slot back to wait for another process (one that
    /// held the target's lock, or an orphaned `.do` of a dead build still
    /// running for it): run it again with [`JobSpec::waited`] set, which
    /// decides afresh whether it is still out of date.
    Retry,
}

/// What the scheduler reports about a job besides its outcome.
#[derive(Default)]
pub struct JobInfo {
    /// The `default*.do` used, shown in the completion line.
    pub default_do: Option<PathBuf>,
    /// Whether the .do was started (else an error happened before).
    pub ran: bool,
}

pub struct JobSpec {
    pub target: PathBuf,
    pub force: bool,
    /// `-x`: trace this invocation's .do files.
    pub trace: bool,
    /// A retry after waiting for another process: decide again under the
    /// lock, even when forced.
    pub waited: bool,
}

/// What every .do started by one schedule run shares: its environment
/// (ours with this invocation's changes), built once rather than per job.
pub struct ChildBase {
    /// `K=V` for every variable but the per-job ones.
    env: Vec<CString>,
}

/// Variables that differ per job (set in [`run`]).
const PER_JOB: [&str; 5] = [
    crate::env::DIRPREFIX,
    crate::env::DEP_FD,
    crate::env::DEP_CWD,
    crate::env::STDERR_PREFIX,
    crate::env::CHAIN,
];

impl ChildBase {
    pub fn new(sh: &Shared) -> ChildBase {
        let mut explicit: BTreeMap<OsString, Option<OsString>> = BTreeMap::new();
        for (k, v) in sh.ctx.child_vars() {
            explicit.insert(k.into(), Some(v));
        }
        for (k, v) in &sh.child_env {
            explicit.insert(k.into(), v.as_ref().map(OsString::from));
        }
        let mut env = Vec::new();
        for (k, v) in std::env::vars_os() {
            if explicit.contains_key(&k) || PER_JOB.iter().any(|p| k == *p) {
                continue;
            }
            env.extend(env_entry(k.as_bytes(), v.as_bytes()));
        }
        for (k, v) in &explicit {
            if let Some(v) = v {
                env.extend(env_entry(k.as_bytes(), v.as_bytes()));
            }
        }
        ChildBase { env }
    }
}

/// `K=V` as a C string; None if either holds a NUL (cannot be passed on).
fn env_entry(k: &[u8], v: &[u8]) -> Option<CString> {
    let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
    kv.extend_from_slice(k);
    kv.push(b'=');
    kv.extend_from_slice(v);
    CString::new(kv).ok()
}

fn cstr(s: &OsStr) -> Result<CString, String> {
    CString::new(s.as_bytes()).map_err(|_| format!("{s:?} holds a NUL byte"))
}

/// 16 hex digits, distinct for every call in this process and unpredictable
/// across processes: a per-process random seed (one getrandom) mixed with a
/// counter by splitmix64, a bijection, so no syscall per temp name. Names
/// made from it are created with O_EXCL anyway.
fn unique_hex() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let u = crate::build_id::new();
        u64::from_ne_bytes([u[0], u[1], u[2], u[3], u[4], u[5], u[7], u[9]])
            ^ u64::from(std::process::id())
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{z:016x}")
}

/// `fd` itself if at least `min`, else a close-on-exec duplicate that is.
fn at_least(fd: BorrowedFd<'_>, min: RawFd) -> std::io::Result<Option<OwnedFd>> {
    if fd.as_raw_fd() >= min {
        return Ok(None);
    }
    crate::sys::fd::dup_at_least(fd, min).map(Some)
}

/// The .do's stdin: one /dev/null for the whole process.
fn dev_null() -> std::io::Result<RawFd> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd.as_raw_fd());
    }
    let f = File::open("/dev/null")?;
    let f = match at_least(f.as_fd(), 3)? {
        Some(high) => high,
        None => f.into(),
    };
    Ok(NULL.get_or_init(|| f).as_raw_fd())
}

/// The hash of a .do file, remembered per process: one `default.o.do`
/// serves many targets, and reading and hashing it again for each is wasted
/// while its inode data (size, number, both times) is unchanged.
fn do_hash(path: &Path, now: Inode) -> std::io::Result<dep::Hash> {
    type Cache = Mutex<HashMap<PathBuf, (Inode, dep::Hash)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((ino, h)) = lock().get(path) {
        if *ino == now {
            return Ok(*h);
        }
    }
    let h = dep::hash_file(path)?;
    lock().insert(path.to_path_buf(), (now, h));
    Ok(h)
}

/// What a .do process is started with.
struct SpawnSpec<'a> {
    program: &'a CStr,
    argv: &'a [CString],
    envp: &'a [*const libc::c_char],
    cwd: &'a CStr,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    /// Kept open at the same number in the child.
    inherit: &'a [RawFd],
}

/// Start a .do with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), no
/// copy of our address space as fork makes). The child leads a new process
/// group and has the default disposition for the signals we handle or
/// ignore. Every fd of ours is close-on-exec; the ones the child must keep
/// are named by `adddup2(fd, fd)` file actions, which clear the flag in the
/// child only (glibc >= 2.29), so a job spawning at the same time on another
/// thread can never inherit this job's dep fd.
fn spawn(s: &SpawnSpec) -> std::io::Result<libc::pid_t> {
    fn check(r: libc::c_int) -> std::io::Result<()> {
        match r {
            0 => Ok(()),
            e => Err(std::io::Error::from_raw_os_error(e)),
        }
    }
    struct Actions(libc::posix_spawn_file_actions_t);
    impl Drop for Actions {
        fn drop(&mut self) {
            unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
        }
    }
    struct Attr(libc::posix_spawnattr_t);
    impl Drop for Attr {
        fn drop(&mut self) {
            unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
        }
    }
    let mut argv: Vec<*const libc::c_char> = s.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut fa))?;
        let mut fa = Actions(fa);
        // Sources are >= 3 (see run), so these dup2s cannot clobber each other.
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
        for sig in signals::CHILD_DEFAULT {
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

/// Reap the .do.
fn wait_pid(pid: libc::pid_t) -> std::io::Result<ExitStatus> {
    let mut st: libc::c_int = 0;
    loop {
        if unsafe { libc::waitpid(pid, &mut st, 0) } >= 0 {
            return Ok(ExitStatus::from_raw(st));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// The target's lock, or what waiting for it came to.
enum Locked {
    Held(lock::TargetLock),
    Done(Outcome),
}

/// Take the target's lock. When another process (or thread) holds it, give
/// the slot back, wait, and then either find the target built in this run
/// or ask for a retry that decides again.
fn lock_target(
    sh: &Shared,
    target: &Path,
    release_slot: &mut dyn FnMut(),
) -> Result<Locked, String> {
    let lock_path = crate::state::lock_path(target);
    // .redo/ usually exists: create it only when the lock file cannot be.
    let attempt = match lock::try_lock(&lock_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let redo_dir = paths::dir_of(target).join(crate::state::REDO_DIR);
            fs::create_dir_all(&redo_dir)
                .map_err(|e| format!("creating {}: {e}", sh.show(&redo_dir)))?;
            lock::try_lock(&lock_path)
        }
        r => r,
    };
    let pid = match attempt.map_err(|e| format!("locking {}: {e}", sh.show(&lock_path)))? {
        Attempt::Acquired(g) => return Ok(Locked::Held(g)),
        Attempt::Busy { pid } => pid,
    };
    release_slot();
    sh.reporter.emit(Event::Waiting { target, pid });
    let waited = lock::wait_unlocked(&lock_path);
    sh.reporter.emit(Event::Waited { target });
    waited.map_err(|e| format!("waiting for the lock {}: {e}", sh.show(&lock_path)))?;
    let built_here = OldDep::read(sh, target).is_some_and(|o| o.built_in(sh));
    Ok(Locked::Done(if built_here {
        Outcome::AlreadyBuilt
    } else {
        Outcome::Retry
    }))
}

/// What the target's current `.dep` says, as far as a job needs it.
struct OldDep {
    build: [u8; 16],
    /// The self-record (inode data, hash), if it has one.
    self_rec: Option<(Inode, dep::Hash)>,
    /// Committed (renamed into place) after this build run started.
    since_start: bool,
}

impl OldDep {
    /// None when there is no `.dep` or it cannot be read (warned: rebuilt).
    fn read(sh: &Shared, target: &Path) -> Option<OldDep> {
        use std::os::unix::fs::MetadataExt;
        let path = crate::state::dep_path(target);
        let mut f = File::open(&path).ok()?;
        let meta = f.metadata().ok()?;
        let mut b = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut b).ok()?;
        let base = Path::new(paths::base_of(target));
        match dep::decode_self(&b, base) {
            Ok((build, self_rec)) => Some(OldDep {
                build,
                self_rec,
                since_start: sh
                    .ctx
                    .started
                    .is_some_and(|s| (meta.ctime(), meta.ctime_nsec()) >= s),
            }),
            Err(e) => {
                sh.reporter.emit(Event::Warning(&format!(
                    "{}: unreadable .dep ({e}): rebuilding",
                    sh.show(&path)
                )));
                None
            }
        }
    }

    /// Is it the intent of a commit that was cut short (see `commit`)?
    fn is_intent(&self) -> bool {
        self.self_rec.is_some_and(|(i, _)| i.is_intent())
    }

    fn built_in(&self, sh: &Shared) -> bool {
        self.build == sh.ctx.build_uuid && !self.is_intent()
    }

    /// Committed during this run by another build (a concurrent top-level
    /// redo, an orphaned job of a killed one, goredo): what this run decided
    /// before may be stale.
    fn foreign_since_start(&self, sh: &Shared) -> bool {
        self.since_start && self.build != sh.ctx.build_uuid
    }
}

/// Is `target` out of date, decided now from scratch (what the tree holds
/// after another process's build), as a fresh `redo-ifchange` would decide?
fn still_out_of_date(sh: &Shared, target: &Path) -> bool {
    let mut checker = crate::ood::Checker::new(sh.ctx.build_uuid, sh.ctx.trust);
    let verdict = checker.check(target);
    if sh.ctx.flags.debug {
        let state = match &verdict {
            crate::ood::Verdict::Ood(r) => r.describe(&|p| sh.show(p)),
            _ => "up to date".into(),
        };
        sh.reporter.emit(Event::Debug(&format!(
            "{}: built by another process; decided again: {state}",
            sh.show(target)
        )));
    }
    verdict.is_ood()
}

/// The job's dep temp, `flock`ed for as long as any process holds it open:
/// we and the .do (and whatever it starts) that inherit it through
/// `REDO_DEP_FD`. A lock found held on a leftover means an orphaned .do of a
/// dead build still runs for the target.
type DepTemp = nix::fcntl::Flock<File>;

fn create_dep_temp(path: &Path) -> std::io::Result<DepTemp> {
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    // Only lock holders create or probe it, so no one else can hold it yet.
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e.into())
}

fn create_stdout_temp(path: &Path) -> std::io::Result<File> {
    // Readable too: the commit hashes and stats the result through it.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o666)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Create the job's temp files. One that exists already is a leftover of a
/// build that died: it is removed, first waiting for the dead build's
/// orphaned .do if one still runs for this target (then `None`: the slot
/// was given back, and the job must be retried).
fn open_temps(
    sh: &Shared,
    target: &Path,
    names: &crate::state::TempNames,
    release_slot: &mut dyn FnMut(),
) -> Result<Option<(DepTemp, File)>, String> {
    let fail = |p: &Path, e: std::io::Error| format!("creating {}: {e}", sh.show(p));
    let dep = match create_dep_temp(&names.dep) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if !clear_leftovers(sh, target, names, release_slot)? {
                return Ok(None);
            }
            create_dep_temp(&names.dep)
        }
        r => r,
    }
    .map_err(|e| fail(&names.dep, e))?;
    let stdout = match create_stdout_temp(&names.stdout) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by a build killed after its commit renamed the dep temp.
            for p in [&names.stdout, &names.three] {
                let _ = fs::remove_file(p);
            }
            create_stdout_temp(&names.stdout)
        }
        r => r,
    }
    .map_err(|e| fail(&names.stdout, e))?;
    Ok(Some((dep, stdout)))
}

/// Remove a dead build's temp files of `target` (under its lock), after
/// waiting for their owner if its .do still runs. True when nothing was
/// waited for.
fn clear_leftovers(
    sh: &Shared,
    target: &Path,
    names: &crate::state::TempNames,
    release_slot: &mut dyn FnMut(),
) -> Result<bool, String> {
    use nix::fcntl::{Flock, FlockArg};
    let remove_all = || {
        // The dep temp last: while it is there, the others are looked for.
        for p in [&names.intent, &names.stdout, &names.three, &names.dep] {
            let _ = fs::remove_file(p);
        }
    };
    let file = match File::open(&names.dep) {
        Ok(f) => f,
        // Gone meanwhile: nothing to clear.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(format!("opening {}: {e}", sh.show(&names.dep))),
    };
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(_dead_owner) => {
            remove_all();
            return Ok(true);
        }
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => return Err(format!("locking {}: {e}", sh.show(&names.dep))),
    };
    // An orphaned .do of a killed build still runs for this target: never
    // two builds of one target at once, so wait for it to end.
    release_slot();
    sh.reporter.emit(Event::Waiting {
        target,
        pid: Some(0),
    });
    let mut file = file;
    let waited = loop {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(l) => break Ok(l),
            Err((f, nix::errno::Errno::EINTR)) => file = f,
            Err((_, e)) => break Err(e),
        }
    };
    sh.reporter.emit(Event::Waited { target });
    waited.map_err(|e| format!("waiting for the .do holding {}: {e}", sh.show(&names.dep)))?;
    remove_all();
    Ok(false)
}

/// Build `spec.target`. `release_slot` is called as soon as the job no
/// longer needs its job slot (when it waits for another builder, or when the
/// .do has exited).
pub fn run(
    sh: &Shared,
    base: &ChildBase,
    spec: &JobSpec,
    release_slot: &mut dyn FnMut(),
    info: &mut JobInfo,
) -> Result<Outcome, String> {
    let target = &spec.target;
    let show = sh.show(target);
    let guard = match lock_target(sh, target, release_slot)? {
        Locked::Held(g) => g,
        Locked::Done(outcome) => return Ok(outcome),
    };

    let old = OldDep::read(sh, target);
    if !spec.force && old.as_ref().is_some_and(|o| o.built_in(sh)) {
        return Ok(Outcome::AlreadyBuilt);
    }
    let redecide =
        spec.waited || (!spec.force && old.as_ref().is_some_and(|o| o.foreign_since_start(sh)));
    if redecide && !still_out_of_date(sh, target) {
        return Ok(Outcome::AlreadyBuilt);
    }
    let before = fs::symlink_metadata(target)
        .ok()
        .map(|m| Inode::from_meta(&m));
    // An intent: our own commit was cut short, so the target is not
    // "modified", and its content may not be the intent's hash.
    let old_self = old.filter(|o| !o.is_intent()).and_then(|o| o.self_rec);
    if let (Some((recorded, _)), Some(now)) = (old_self, before) {
        if !recorded.equals(&now, sh.ctx.trust) {
            if sh.ctx.flags.stop_if_modified {
                return Err(format!("{show} externally modified"));
            }
            sh.reporter.emit(Event::Warning(&format!(
                "{show} externally modified: not redoing"
            )));
            return Ok(Outcome::Skipped);
        }
    }

    let search = dofile::search(target, sh.ctx.top_dir.as_deref());
    let Some(found) = search.found.clone() else {
        return Err("no .do found".into());
    };
    let tdir = paths::dir_of(target).to_path_buf();
    if found.is_default {
        info.default_do = Some(found.do_path.clone());
    }

    // The new .dep starts with the lookup's records.
    let mut head = dep::header(&sh.ctx.build_uuid).to_vec();
    for tried in &search.tried {
        dep::encode_record(&mut head, &Record::Ifcreate(paths::rel(&tdir, tried)))?;
    }
    let do_meta = fs::metadata(&found.do_path)
        .map_err(|e| format!("reading {}: {e}", sh.show(&found.do_path)))?;
    let do_hash = do_hash(&found.do_path, Inode::from_meta(&do_meta))
        .map_err(|e| format!("reading {}: {e}", sh.show(&found.do_path)))?;
    dep::encode_record(
        &mut head,
        &Record::Ifchange {
            inode: Inode::from_meta(&do_meta),
            hash: do_hash,
            path: paths::rel(&tdir, &found.do_path),
        },
    )?;

    let names = crate::state::TempNames::of(target);
    let (mut dep_file, stdout_file) = match open_temps(sh, target, &names, release_slot)? {
        Some(files) => files,
        None => return Ok(Outcome::Retry),
    };
    let mut temps = Temps::new(names);
    dep_file
        .write_all(&head)
        .map_err(|e| format!("writing {}: {e}", sh.show(&temps.names.dep)))?;
    let dep_fd = crate::sys::fd::dup_high(dep_file.as_fd())
        .map_err(|e| format!("duplicating the fd of {}: {e}", sh.show(&temps.names.dep)))?;
    // `$3` as seen from the .do's directory.
    let arg3 = found.dirprefix.join(paths::base_of(&temps.names.three));

    // access() only when some x bit is set: most .do files have none.
    let executable = do_meta.permissions().mode() & 0o111 != 0 && {
        let c = CString::new(found.do_path.as_os_str().as_bytes()).unwrap_or_default();
        unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
    };
    let mut args: Vec<OsString> = Vec::with_capacity(6);
    let program: OsString = if executable {
        found.do_path.clone().into()
    } else {
        "/bin/sh".into()
    };
    args.push(program.clone());
    if !executable {
        args.push(if spec.trace || sh.ctx.flags.trace_all {
            "-ex".into()
        } else {
            "-e".into()
        });
        // A .do named `-x.do` must not be read as an option by sh.
        let script = paths::base_of(&found.do_path);
        if script.as_encoded_bytes().starts_with(b"-") {
            let mut dotted = OsString::from("./");
            dotted.push(script);
            args.push(dotted);
        } else {
            args.push(script.to_os_string());
        }
    }
    args.push(found.arg1.clone().into());
    args.push(found.arg2.clone().into());
    args.push(arg3.into_os_string());
    let child_prefix = unique_hex();

    let mut chain = sh.ctx.chain.clone();
    chain.push(target.clone());
    let per_job: [(&str, OsString); 5] = [
        (crate::env::DIRPREFIX, found.dirprefix.clone().into()),
        (crate::env::DEP_FD, dep_fd.as_raw_fd().to_string().into()),
        (crate::env::DEP_CWD, found.do_dir.clone().into()),
        (crate::env::STDERR_PREFIX, child_prefix.clone().into()),
        (crate::env::CHAIN, crate::env::encode_chain(&chain)),
    ];
    let mut env: Vec<CString> = Vec::with_capacity(per_job.len());
    for (k, v) in &per_job {
        env.extend(env_entry(k.as_bytes(), v.as_bytes()));
    }
    let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(base.env.len() + env.len() + 1);
    envp.extend(base.env.iter().map(|e| e.as_ptr()));
    envp.extend(env.iter().map(|e| e.as_ptr()));
    envp.push(std::ptr::null());

    let mut argv = Vec::with_capacity(args.len() + 1);
    for a in &args {
        argv.push(cstr(a)?);
    }
    let cwd = cstr(found.do_dir.as_os_str())?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("creating a pipe: {e}"))?;
    let null = dev_null().map_err(|e| format!("opening /dev/null: {e}"))?;
    // The child's 0, 1, 2 come from these; none may itself be 0, 1 or 2.
    let out_hi = at_least(stdout_file.as_fd(), 3).map_err(|e| {
        format!(
            "duplicating the fd of {}: {e}",
            sh.show(&temps.names.stdout)
        )
    })?;
    let err_hi = at_least(err_w.as_fd(), 3)
        .map_err(|e| format!("duplicating the .do's stderr pipe: {e}"))?;
    let mut inherit: Vec<RawFd> = sh.child_fds.clone();
    inherit.push(dep_fd.as_raw_fd());

    let started = Instant::now();
    let started_wall = SystemTime::now();
    let log = if sh.ctx.flags.logs {
        File::create(crate::state::log_path(target)).ok()
    } else {
        None
    };
    let mut spawn_spec = SpawnSpec {
        program: &argv[0],
        argv: &argv,
        envp: &envp,
        cwd: &cwd,
        stdin: null,
        stdout: out_hi
            .as_ref()
            .map_or(stdout_file.as_raw_fd(), |f| f.as_raw_fd()),
        stderr: err_hi.as_ref().map_or(err_w.as_raw_fd(), |f| f.as_raw_fd()),
        inherit: &inherit,
    };
    let mut spawned = spawn(&spawn_spec);
    let sh_argv;
    if executable && matches!(&spawned, Err(e) if e.raw_os_error() == Some(libc::ENOEXEC)) {
        // As execvp does: an executable without a known header is a script.
        sh_argv = [c"/bin/sh".to_owned()]
            .into_iter()
            .chain(argv.iter().cloned())
            .collect::<Vec<_>>();
        spawn_spec.program = &sh_argv[0];
        spawn_spec.argv = &sh_argv[..];
        spawned = spawn(&spawn_spec);
    }
    let pid = spawned.map_err(|e| format!("running {}: {e}", sh.show(&found.do_path)))?;
    drop((dep_fd, out_hi, err_w, err_hi));
    info.ran = true;
    signals::register_child(pid);
    sh.reporter.emit(Event::Started {
        target,
        pid: pid as u32,
    });
    relay(
        sh,
        target,
        pid as u32,
        File::from(err_r),
        &child_prefix,
        log,
    );
    let status = wait_pid(pid);
    signals::unregister_child(pid);
    if signals::requested().is_some() {
        signals::await_group(pid, Duration::from_secs(5));
    }
    release_slot();
    let status = status.map_err(|e| format!("waiting for the .do: {e}"))?;

    let result = if status.success() {
        commit::commit(CommitInput {
            target,
            temps: &mut temps,
            dep_file: &mut dep_file,
            stdout: &stdout_file,
            before,
            old_hash: old_self.map(|(_, h)| h),
            build: sh.ctx.build_uuid,
            trust: sh.ctx.trust,
            fail_at: sh
                .ctx
                .failpoint
                .as_ref()
                .filter(|(_, name)| name.as_os_str() == paths::base_of(target))
                .and_then(|(step, _)| commit::Step::parse(step)),
            sync: !sh.ctx.flags.no_sync,
        })
    } else if let Some(sig) = status.signal() {
        Err(format!("killed by signal {sig}"))
    } else {
        Err(format!("exit status {}", status.code().unwrap_or(-1)))
    };
    if sh.ctx.flags.logs {
        // The job's whole environment, as goredo records it.
        let mut job_env: Vec<&[u8]> = base.env.iter().map(|e| e.as_bytes()).collect();
        job_env.extend(env.iter().map(|e| e.as_bytes()));
        job_env.sort_unstable();
        write_log_rec(
            sh,
            target,
            &found,
            &args,
            &job_env,
            pid as u32,
            started_wall,
            started.elapsed(),
            &status,
            result.is_ok(),
        );
    }
    drop(guard);
    let produced = result?;
    // The committed .dep is this file (renamed): read it through our fd.
    let mut b = Vec::new();
    if dep_file.seek(SeekFrom::Start(0)).is_ok() && dep_file.read_to_end(&mut b).is_ok() {
        warn_simultaneous(sh, target, &b);
    }
    Ok(Outcome::Built(produced))
}

fn warn_simultaneous(sh: &Shared, target: &Path, dep_bytes: &[u8]) {
    if dep::creates_and_changes(dep_bytes) == Ok(true) {
        sh.reporter.emit(Event::Warning(&format!(
            "simultaneous ifcreate and ifchange records: {}",
            sh.show(target)
        )));
    }
}

/// Relay the .do's stderr line by line until it exits. Lines starting with
/// the child's prefix come from a nested redo and pass through unchanged.
/// A background process that keeps stderr open does not hold us: once the
/// .do itself has exited, what is buffered is drained and we stop.
fn relay(
    sh: &Shared,
    target: &Path,
    pid: u32,
    mut stderr: File,
    prefix: &str,
    mut log: Option<File>,
) {
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as RawFd;
    let fd = stderr.as_raw_fd();
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
    commit::with_buf(|buf| loop {
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let nfds = if pidfd >= 0 && !exited { 2 } else { 1 };
        let timeout = if exited { 0 } else { -1 };
        let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if nfds == 2 && fds[1].revents != 0 {
            exited = true;
        }
        if fds[0].revents != 0 {
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
        if exited && fds[0].revents == 0 {
            break;
        }
    });
    if !pending.is_empty() {
        emit_line(&pending, &mut log);
    }
    if pidfd >= 0 {
        unsafe { libc::close(pidfd) };
    }
}

#[allow(clippy::too_many_arguments)]
fn write_log_rec(
    sh: &Shared,
    target: &Path,
    found: &dofile::Found,
    args: &[OsString],
    env: &[&[u8]],
    pid: u32,
    started: SystemTime,
    elapsed: Duration,
    status: &std::process::ExitStatus,
    committed: bool,
) {
    use crate::state::log::tai64n;
    let mut s = String::new();
    let mut field = |k: &str, v: &[u8]| {
        s.push_str(k);
        s.push_str(": ");
        // recfile continuation for embedded newlines
        s.push_str(&String::from_utf8_lossy(v).replace('\n', "\n+ "));
        s.push('\n');
    };
    field(
        "Build",
        crate::build_id::format(&sh.ctx.build_uuid).as_bytes(),
    );
    field("PPID", std::process::id().to_string().as_bytes());
    field("Cwd", found.do_dir.as_os_str().as_bytes());
    field("PID", pid.to_string().as_bytes());
    field("Started", tai64n(started).as_bytes());
    field("Finished", tai64n(started + elapsed).as_bytes());
    field("Duration", elapsed.as_nanos().to_string().as_bytes());
    field("Cmd", args[0].as_bytes());
    for a in &args[1..] {
        field("Arg", a.as_bytes());
    }
    for kv in env {
        field("Env", kv);
    }
    if !status.success() {
        field(
            "ExitCode",
            status.code().unwrap_or(-1).to_string().as_bytes(),
        );
    }
    if committed {
        if let Ok(b) = fs::read(crate::state::dep_path(target)) {
            if let Ok(d) = Dep::decode(&b) {
                for r in &d.records {
                    if let Record::Ifchange { path, .. } = r {
                        field("Ifchange", path.as_os_str().as_bytes());
                    }
                }
            }
        }
    }
    let _ = fs::write(crate::state::log_rec_path(target), s);
}

pub fn os(b: Vec<u8>) -> OsString {
    OsString::from_vec(b)
}
