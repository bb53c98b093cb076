//! Whether the job builds: the target's lock (or a wait for another
//! process, then a retry), the old `.dep`, and deciding again when another
//! build committed the target during this run.

use std::io::Read;

use super::super::Shared;
use super::Outcome;
use crate::error::JobError;
use crate::report::Event;
use crate::state::dep;
use crate::state::inode::Inode;
use crate::state::lock::{self, Attempt};
use crate::target::Target;
use std::fs;

/// The target's lock, or what waiting for it came to.
pub(super) enum Locked {
    Held(lock::TargetLock),
    Done(Outcome),
}

/// Take the target's lock. When another process (or thread) holds it, give
/// the slot back, wait, and then either find the target built in this run
/// or ask for a retry that decides again.
pub(super) fn lock_target(
    sh: &Shared,
    target: &Target,
    release_slot: &mut dyn FnMut(),
) -> Result<Locked, JobError> {
    let lock_path = target.lock_path();
    // .redo/ usually exists: create it only when the lock file cannot be.
    let attempt = match lock::try_lock(&lock_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let redo_dir = target.dir().join(crate::state::REDO_DIR);
            fs::create_dir_all(&redo_dir)
                .map_err(|e| JobError::io(format!("creating {}", sh.show(&redo_dir)), e))?;
            lock::try_lock(&lock_path)
        }
        r => r,
    };
    let locking = |e| JobError::io(format!("locking {}", sh.show(&lock_path)), e);
    let pid = match attempt.map_err(locking)? {
        Attempt::Acquired(g) => return Ok(Locked::Held(g)),
        Attempt::Busy { pid } => pid,
    };
    release_slot();
    sh.reporter.emit(Event::Waiting { target, pid });
    let interrupted = || crate::sys::signals::requested().is_some();
    let waited = lock::wait_unlocked(&lock_path, &interrupted);
    sh.reporter.emit(Event::Waited { target });
    waited.map_err(|e| JobError::io(format!("waiting for the lock {}", sh.show(&lock_path)), e))?;
    let built_here = OldDep::read(sh, target).is_some_and(|o| o.built_in(sh));
    Ok(Locked::Done(if built_here {
        Outcome::AlreadyBuilt
    } else {
        Outcome::Retry
    }))
}

/// What the target's current `.dep` says, as far as a job needs it.
pub(super) struct OldDep {
    pub(super) build: [u8; 16],
    /// The self-record (inode data, hash), if it has one.
    pub(super) self_rec: Option<(Inode, dep::Hash)>,
    /// The commit that wrote it was cut short (see `commit`).
    intent: bool,
    /// Committed (renamed into place) after this build run started.
    pub(super) since_start: bool,
}

impl OldDep {
    /// None when there is no `.dep` or it cannot be read (warned: rebuilt).
    pub(super) fn read(sh: &Shared, target: &Target) -> Option<OldDep> {
        use std::os::unix::fs::MetadataExt;
        let path = target.dep_path();
        let (mut f, meta) = dep::open_dep(&path).ok()?;
        let mut b = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut b).ok()?;
        match dep::decode_self(&b, target.base_path()) {
            Ok(v) => Some(OldDep {
                build: v.build,
                self_rec: v.self_rec,
                intent: v.intent,
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

    /// Is it the `.dep` of a commit that was cut short (see `commit`)?
    pub(super) fn is_intent(&self) -> bool {
        self.intent
    }

    pub(super) fn built_in(&self, sh: &Shared) -> bool {
        self.build == sh.ctx.build_uuid && !self.is_intent()
    }

    /// Committed during this run by another build (a concurrent top-level
    /// redo, an orphaned job of a killed one, goredo): what this run decided
    /// before may be stale.
    pub(super) fn foreign_since_start(&self, sh: &Shared) -> bool {
        self.since_start && self.build != sh.ctx.build_uuid
    }
}

/// Is `target` out of date, decided now from scratch (what the tree holds
/// after another process's build), as a fresh `redo-ifchange` would decide?
pub(super) fn still_out_of_date(sh: &Shared, target: &Target) -> bool {
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

/// What step 1 came to, the lock held.
pub(super) enum Decision {
    /// Nothing to build: already built, up to date now, or edited by hand.
    Done(Outcome),
    Build(Prior),
}

/// What the commit needs to know of the target as it was.
pub(super) struct Prior {
    /// The target's inode data before the `.do` runs (None if absent).
    pub before: Option<Inode>,
    /// Its self-record in the old `.dep`, unless that `.dep` is an intent:
    /// then the target may not hold the intent's content.
    pub old_self: Option<(Inode, dep::Hash)>,
}

/// Under the target's lock: build it, or not?
pub(super) fn decide(sh: &Shared, spec: &super::JobSpec) -> Result<Decision, JobError> {
    let target = &spec.target;
    let old = OldDep::read(sh, target);
    if !spec.force && old.as_ref().is_some_and(|o| o.built_in(sh)) {
        return Ok(Decision::Done(Outcome::AlreadyBuilt));
    }
    let redecide =
        spec.waited || (!spec.force && old.as_ref().is_some_and(|o| o.foreign_since_start(sh)));
    if redecide && !still_out_of_date(sh, target) {
        return Ok(Decision::Done(Outcome::AlreadyBuilt));
    }
    let before = fs::symlink_metadata(target)
        .ok()
        .map(|m| Inode::from_meta(&m));
    // An intent: our own commit was cut short, so the target is not
    // "modified".
    let old_self = old.filter(|o| !o.is_intent()).and_then(|o| o.self_rec);
    if let (Some((recorded, _)), Some(now)) = (old_self, before) {
        if !recorded.equals(&now, sh.ctx.trust) {
            let show = sh.show(target);
            if sh.ctx.flags.stop_if_modified {
                return Err(JobError::ExternallyModified(show));
            }
            sh.reporter.emit(Event::Warning(&format!(
                "{show} externally modified: not redoing"
            )));
            return Ok(Decision::Done(Outcome::Skipped));
        }
    }
    Ok(Decision::Build(Prior { before, old_self }))
}
