//! The job's temporary files, and a dead build's leftovers of them: found
//! by the `O_EXCL` create, removed under the target's lock once no process
//! holds the dep temp's `flock` (the orphaned `.do` of a killed build may;
//! that wait asks again after a pause, so that a signal stops it).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::super::commit::remove_temp;
use super::super::Shared;
use crate::error::JobError;
use crate::report::Event;

/// The job's dep temp, `flock`ed for as long as any process holds it open:
/// we and the .do (and whatever it starts) that inherit it through
/// `REDO_DEP_FD`. A lock found held on a leftover means an orphaned .do of a
/// dead build still runs for the target.
pub(super) type DepTemp = nix::fcntl::Flock<File>;

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
pub(super) fn open_temps(
    sh: &Shared,
    target: &Path,
    names: &crate::state::TempNames,
    release_slot: &mut dyn FnMut(),
) -> Result<Option<(DepTemp, File)>, JobError> {
    let fail = |p: &Path, e| JobError::io(format!("creating {}", sh.show(p)), e);
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
                remove_temp(p);
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
) -> Result<bool, JobError> {
    use nix::fcntl::{Flock, FlockArg};
    let remove_all = || {
        // The dep temp last: while it is there, the others are looked for.
        for p in [&names.stdout, &names.three, &names.dep] {
            remove_temp(p);
        }
    };
    let file = match File::open(&names.dep) {
        Ok(f) => f,
        // Gone meanwhile: nothing to clear.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(JobError::io(format!("opening {}", sh.show(&names.dep)), e)),
    };
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(_dead_owner) => {
            remove_all();
            return Ok(true);
        }
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => {
            return Err(JobError::io(
                format!("locking {}", sh.show(&names.dep)),
                e.into(),
            ))
        }
    };
    // An orphaned .do of a killed build still runs for this target: never
    // two builds of one target at once, so wait for it to end.
    release_slot();
    sh.reporter.emit(Event::Waiting {
        target,
        pid: Some(0),
    });
    // Asked again after a pause, not blocked in flock, so that an
    // interrupt stops the wait (`sys::pause`).
    let mut file = file;
    let mut backoff = crate::sys::pause::Backoff::default();
    let waited = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => break Ok(l),
            Err((f, nix::errno::Errno::EWOULDBLOCK | nix::errno::Errno::EINTR)) => file = f,
            Err((_, e)) => break Err(e),
        }
        if crate::sys::signals::requested().is_some() {
            break Err(nix::errno::Errno::EINTR);
        }
        backoff.pause();
    };
    sh.reporter.emit(Event::Waited { target });
    waited.map_err(|e| {
        JobError::io(
            format!("waiting for the .do holding {}", sh.show(&names.dep)),
            e.into(),
        )
    })?;
    remove_all();
    Ok(false)
}
