//! Building one target, in the steps a job takes on its job thread:
//!
//! 1. [`decide`]: take the target's lock (or give the slot back, wait for the
//!    process that holds it, and come back as [`Outcome::Retry`]); read the
//!    old `.dep`; stop if the target was built in this run, or was committed
//!    by another build meanwhile and is now up to date; leave an edited
//!    target alone (the externally-modified rule; a commit intent is ours).
//! 2. [`prepare`]: find the `.do`, start the new `.dep` with the lookup's
//!    records, create the temp files ([`temps`]: a dead build's leftovers are
//!    cleared, after its orphaned `.do` if one still runs).
//! 3. [`run_do`]: spawn the `.do` ([`crate::sys::spawn`]) with its argv and
//!    environment ([`child`]), relay its stderr ([`relay`]), and wait for it.
//! 4. [`finish`]: the commit ([`crate::engine::commit`]), the `-k` record
//!    ([`logrec`]), and the lock released. Once the `.do` has exited with
//!    success, the job needs no slot: [`run`] hands this step back to the
//!    scheduler as a [`Step::Finish`], which runs it while the slot's next
//!    job runs.

mod child;
mod decide;
mod logrec;
mod relay;
mod temps;

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

use super::commit::{self, Built, CommitInput, Temps};
use super::schedule::Step;
use super::Shared;
use crate::dofile;
use crate::error::JobError;
use crate::paths;
use crate::report::Event;
use crate::state::dep::{self, Record};
use crate::state::inode::Inode;
use crate::sys::signals;
use crate::sys::spawn::{self as spawning, SpawnSpec};
use crate::target::Target;
pub use child::ChildBase;
use decide::{Decision, Locked};

pub enum Outcome {
    Built(Built),
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

#[derive(Clone)]
pub struct JobSpec {
    pub target: Target,
    pub force: bool,
    /// `-x`: trace this invocation's .do files.
    pub trace: bool,
    /// A retry after waiting for another process: decide again under the
    /// lock, even when forced.
    pub waited: bool,
}

/// Build `spec.target` up to the exit of its `.do`; the rest, the commit,
/// comes back as a [`Step::Finish`] (after a failed `.do`, it runs here).
/// `release_slot` is called when the job waits for another builder (once
/// the `.do` has exited the job needs no slot, and the scheduler passes it
/// on or gives it back), `started` once the `.do` runs.
pub fn run<'r>(
    sh: &'r Shared,
    base: &'r ChildBase,
    spec: &JobSpec,
    release_slot: &mut dyn FnMut(),
    started: &mut dyn FnMut(),
    info: &mut JobInfo,
) -> Step<'r> {
    match start(sh, base, spec, release_slot, started, info) {
        Ok(Started::Done(outcome)) => Step::Done(Ok(outcome)),
        // A failure is told before the slot can start another job.
        Ok(Started::Ran(job)) if !job.ran.status.success() => Step::Done(job.finish(sh, base)),
        Ok(Started::Ran(job)) => Step::Finish {
            heavy: job.output_len() > HEAVY_OUTPUT,
            rest: Box::new(move || job.finish(sh, base)),
        },
        Err(e) => Step::Done(Err(e)),
    }
}

/// An output this big takes longer to hash (0.3-1 ms per MiB) than the
/// thread wake-ups a slot handed on saves (about 70 us on a VM): its commit
/// runs at once, not behind the next job on the same thread.
const HEAVY_OUTPUT: u64 = 1 << 20;

enum Started {
    Done(Outcome),
    Ran(Box<Exited>),
}

/// A job whose `.do` has exited: what its commit needs, under its lock.
struct Exited {
    spec: JobSpec,
    guard: crate::state::lock::TargetLock,
    prior: decide::Prior,
    prep: Prepared,
    ran: Ran,
}

/// Steps 1 to 3.
fn start(
    sh: &Shared,
    base: &ChildBase,
    spec: &JobSpec,
    release_slot: &mut dyn FnMut(),
    started: &mut dyn FnMut(),
    info: &mut JobInfo,
) -> Result<Started, JobError> {
    let guard = match decide::lock_target(sh, &spec.target, release_slot)? {
        Locked::Held(g) => g,
        Locked::Done(outcome) => return Ok(Started::Done(outcome)),
    };
    let prior = match decide::decide(sh, spec)? {
        Decision::Build(prior) => prior,
        Decision::Done(outcome) => return Ok(Started::Done(outcome)),
    };
    let Some(mut prep) = prepare(sh, spec, release_slot, info)? else {
        return Ok(Started::Done(Outcome::Retry));
    };
    let ran = run_do(sh, base, spec, &mut prep, started, info)?;
    Ok(Started::Ran(Box::new(Exited {
        spec: spec.clone(),
        guard,
        prior,
        prep,
        ran,
    })))
}

impl Exited {
    /// The bigger of the `.do`'s stdout and `$3`, in bytes.
    fn output_len(&self) -> u64 {
        let stdout = self.prep.stdout_file.metadata().map_or(0, |m| m.len());
        let three = std::fs::symlink_metadata(&self.prep.temps.names.three).map_or(0, |m| m.len());
        stdout.max(three)
    }

    /// Step 4, and the lock released.
    fn finish(mut self, sh: &Shared, base: &ChildBase) -> Result<Outcome, JobError> {
        let result = finish(sh, base, &self.spec, &mut self.prep, &self.ran, &self.prior);
        drop(self.guard);
        let built = result?;
        // The committed .dep is this file (renamed): read it through our fd.
        let mut b = Vec::new();
        let dep = &mut self.prep.dep_file;
        if dep.seek(SeekFrom::Start(0)).is_ok() && dep.read_to_end(&mut b).is_ok() {
            warn_simultaneous(sh, &self.spec.target, &b);
        }
        Ok(Outcome::Built(built))
    }
}

/// What the job has ready before the `.do` starts.
struct Prepared {
    found: dofile::Found,
    /// The `.do` has an x bit and we may execute it.
    executable: bool,
    temps: Temps,
    dep_file: temps::DepTemp,
    stdout_file: File,
}

/// Step 2: the `.do`, the new `.dep`'s first records, the temp files.
/// None when the job gave its slot back to wait for a dead build's
/// orphaned `.do` (retry).
fn prepare(
    sh: &Shared,
    spec: &JobSpec,
    release_slot: &mut dyn FnMut(),
    info: &mut JobInfo,
) -> Result<Option<Prepared>, JobError> {
    let target = &spec.target;
    let (search, do_meta) = dofile::search_stat(target, sh.ctx.top_dir.as_deref());
    let Some(found) = search.found else {
        return Err(JobError::NoDo);
    };
    let tdir = target.dir();
    if found.is_default {
        info.default_do = Some(found.do_path.clone());
    }
    // The new .dep starts with the lookup's records.
    let mut head = dep::header(&sh.ctx.build_uuid).to_vec();
    for tried in &search.tried {
        dep::encode_record(&mut head, &Record::Ifcreate(paths::rel(tdir, tried)))?;
    }
    let reading = |e| JobError::io(format!("reading {}", sh.show(&found.do_path)), e);
    let do_meta = match do_meta {
        Some(m) => m,
        None => std::fs::metadata(&found.do_path).map_err(reading)?,
    };
    let do_inode = Inode::from_meta(&do_meta);
    let do_hash = child::do_hash(&found.do_path, do_inode).map_err(reading)?;
    dep::encode_record(
        &mut head,
        &Record::Ifchange {
            inode: do_inode,
            hash: do_hash,
            path: paths::rel(tdir, &found.do_path),
        },
    )?;
    let names = crate::state::TempNames::of(target);
    let Some((mut dep_file, stdout_file)) = temps::open_temps(sh, target, &names, release_slot)?
    else {
        return Ok(None);
    };
    let temps = Temps::new(names);
    dep_file
        .write_all(&head)
        .map_err(|e| JobError::io(format!("writing {}", sh.show(&temps.names.dep)), e))?;
    let executable = do_meta.permissions().mode() & 0o111 != 0
        && nix::unistd::access(&found.do_path, nix::unistd::AccessFlags::X_OK).is_ok();
    Ok(Some(Prepared {
        found,
        executable,
        temps,
        dep_file,
        stdout_file,
    }))
}

/// What running the `.do` came to.
struct Ran {
    status: ExitStatus,
    pid: u32,
    args: Vec<OsString>,
    /// The per-job variables (`K=V`), for the `-k` record.
    job_env: Vec<CString>,
    started: SystemTime,
    elapsed: Duration,
}

/// Step 3: spawn the `.do`, relay its stderr until it exits, and reap it.
fn run_do(
    sh: &Shared,
    base: &ChildBase,
    spec: &JobSpec,
    prep: &mut Prepared,
    started_hook: &mut dyn FnMut(),
    info: &mut JobInfo,
) -> Result<Ran, JobError> {
    let target = &spec.target;
    let dep_fd = crate::sys::fd::dup_high(prep.dep_file.as_fd()).map_err(|e| {
        JobError::io(
            format!("duplicating the fd of {}", sh.show(&prep.temps.names.dep)),
            e,
        )
    })?;
    let args = child::do_argv(
        sh,
        spec,
        &prep.found,
        prep.executable,
        &prep.temps.names.three,
    );
    let prefix = child::unique_hex();
    let job_env = child::per_job_env(sh, target, &prep.found, dep_fd.as_raw_fd(), &prefix);
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| JobError::io("creating a pipe for the .do's stderr", e.into()))?;
    let log = if sh.ctx.flags.logs {
        File::create(target.log_path()).ok()
    } else {
        None
    };
    let started = SystemTime::now();
    let clock = Instant::now();
    let pid = spawn_do(sh, base, prep, &args, &job_env, dep_fd, err_w)?;
    info.ran = true;
    signals::register_child(pid);
    sh.reporter.emit(Event::Started {
        target,
        pid: pid as u32,
    });
    started_hook();
    relay::relay(sh, target, pid as u32, File::from(err_r), &prefix, log);
    let status = spawning::wait_pid(pid);
    signals::unregister_child(pid);
    if signals::requested().is_some() {
        signals::await_group(pid, Duration::from_secs(5));
    }
    let status = status.map_err(|e| JobError::io(format!("waiting for the .do (pid {pid})"), e))?;
    Ok(Ran {
        status,
        pid: pid as u32,
        args,
        job_env,
        started,
        elapsed: clock.elapsed(),
    })
}

/// Start the `.do`: stdin /dev/null, stdout the stdout temp, stderr the
/// relay's pipe, and our dep fd and the build's shared fds inherited. An
/// executable without a known header runs under `/bin/sh`, as execvp does.
#[allow(clippy::too_many_arguments)]
fn spawn_do(
    sh: &Shared,
    base: &ChildBase,
    prep: &Prepared,
    args: &[OsString],
    job_env: &[CString],
    dep_fd: OwnedFd,
    err_w: OwnedFd,
) -> Result<libc::pid_t, JobError> {
    let cstr = |s: &std::ffi::OsStr| {
        CString::new(s.as_bytes()).map_err(|_| JobError::Nul(format!("{s:?}")))
    };
    let argv = args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = cstr(prep.found.do_dir.as_os_str())?;
    let envp = base.envp(job_env);
    let null = spawning::dev_null().map_err(|e| JobError::io("opening /dev/null", e))?;
    // The child's 0, 1, 2 come from these; none may itself be 0, 1 or 2.
    let out_hi = crate::sys::fd::at_least(prep.stdout_file.as_fd(), 3).map_err(|e| {
        JobError::io(
            format!(
                "duplicating the fd of {}",
                sh.show(&prep.temps.names.stdout)
            ),
            e,
        )
    })?;
    let err_hi = crate::sys::fd::at_least(err_w.as_fd(), 3)
        .map_err(|e| JobError::io("duplicating the .do's stderr pipe", e))?;
    let mut inherit: Vec<RawFd> = sh.child_fds.clone();
    inherit.push(dep_fd.as_raw_fd());
    let mut spec = SpawnSpec {
        program: &argv[0],
        argv: &argv,
        envp: &envp,
        cwd: &cwd,
        stdin: null,
        stdout: out_hi
            .as_ref()
            .map_or(prep.stdout_file.as_raw_fd(), |f| f.as_raw_fd()),
        stderr: err_hi.as_ref().map_or(err_w.as_raw_fd(), |f| f.as_raw_fd()),
        inherit: &inherit,
        sigdefault: &signals::CHILD_DEFAULT,
    };
    let mut spawned = spawning::spawn(&spec);
    let sh_argv: Vec<CString>;
    if prep.executable && matches!(&spawned, Err(e) if e.raw_os_error() == Some(libc::ENOEXEC)) {
        sh_argv = std::iter::once(c"/bin/sh".to_owned())
            .chain(argv.iter().cloned())
            .collect();
        spec.program = &sh_argv[0];
        spec.argv = &sh_argv;
        spawned = spawning::spawn(&spec);
    }
    // Our copies of what the child inherited close here.
    spawned.map_err(|e| JobError::io(format!("running {}", sh.show(&prep.found.do_path)), e))
}

/// Step 4: commit what the `.do` produced (if it succeeded) and write the
/// `-k` record.
fn finish(
    sh: &Shared,
    base: &ChildBase,
    spec: &JobSpec,
    prep: &mut Prepared,
    ran: &Ran,
    prior: &decide::Prior,
) -> Result<Built, JobError> {
    let target = &spec.target;
    let status = &ran.status;
    let result = if status.success() {
        commit::commit(CommitInput {
            target,
            temps: &mut prep.temps,
            dep_file: &mut prep.dep_file,
            stdout: &prep.stdout_file,
            before: prior.before,
            old_hash: prior.old_self.map(|(_, h)| h),
            build: sh.ctx.build_uuid,
            trust: sh.ctx.trust,
            fail_at: failpoint(sh, target),
            sync: !sh.ctx.flags.no_sync,
        })
    } else {
        Err(JobError::DoFailed(*status))
    };
    if sh.ctx.flags.logs {
        // The job's whole environment, as goredo records it.
        let mut env: Vec<&[u8]> = base.env_bytes().collect();
        env.extend(ran.job_env.iter().map(|e| e.as_bytes()));
        env.sort_unstable();
        let run = logrec::Run {
            args: &ran.args,
            env: &env,
            pid: ran.pid,
            started: ran.started,
            elapsed: ran.elapsed,
            status,
            committed: result.is_ok(),
        };
        logrec::write_log_rec(sh, target, &prep.found, &run);
    }
    result
}

/// The commit step to die at, if `REDO_FERREDO_FAILPOINT` names this target.
fn failpoint(sh: &Shared, target: &Target) -> Option<commit::Step> {
    let (step, name) = sh.ctx.failpoint.as_ref()?;
    if name.as_os_str() != target.base() {
        return None;
    }
    commit::Step::parse(step)
}

fn warn_simultaneous(sh: &Shared, target: &Path, dep_bytes: &[u8]) {
    if dep::creates_and_changes(dep_bytes) == Ok(true) {
        sh.reporter.emit(Event::Warning(&format!(
            "simultaneous ifcreate and ifchange records: {}",
            sh.show(target)
        )));
    }
}
