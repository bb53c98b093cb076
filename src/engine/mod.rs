//! `redo` and `redo-ifchange`: deciding, scheduling and recording.
//!
//! - `redo-ifchange T...` checks each operand ([`crate::ood`]), builds the
//!   out-of-date ones concurrently, one job per slot, then records every
//!   operand as an ifchange (or ifchange-nonexistent) dependency of the
//!   calling target through `REDO_DEP_FD`.
//! - `redo T...` (and `redo-ifchange -f`) builds every operand even when up
//!   to date; `redo` builds them one after another and stops at the first
//!   failure, as goredo does.
//! - always-targets met below the operands are rebuilt first, once per build
//!   run; their dependants are then rebuilt only if the content changed.
//! - A target already being built above us (the chain in
//!   `REDO_FERREDO_CHAIN`) is a dependency cycle: an error naming it.
//! - What the processes of the run have already established (verified up to
//!   date, built, found out of date) is shared through the run share
//!   ([`runshare`], `REDO_FERREDO_RUNSHARE`): operands it vouches for are not
//!   checked again, and what this process finds is appended for the others.
//!
//! Job slots (see [`crate::jobserver`]): this process owns one implicit slot,
//! the one its parent lent the .do that runs us (or the top-level's own), so
//! its first job needs no token; each further concurrent job reads one token,
//! and writes the same byte back when the job's .do has exited.

pub mod commit;
pub mod job;
pub mod record;
pub mod runshare;
pub mod schedule;

#[cfg(test)]
mod schedule_tests;

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::env::Context;
use crate::error::{Error, Result};
use crate::fasthash::{FastMap, FastSet};
use crate::jobserver::Jobserver;
use crate::ood::{Checker, Verdict};
use crate::report::{Event, Reporter};
use crate::state::dep::Hash;
use crate::state::inode::Inode;
use crate::target::Target;
use runshare::harvest::{apply_share, complete_fan_ins, harvest_all, seed, SelfRecs};

/// What every job of this invocation shares.
pub struct Shared<'a> {
    pub ctx: &'a Context,
    pub reporter: &'a dyn Reporter,
    /// Jobserver variables for children (set or remove).
    pub child_env: Vec<(String, Option<String>)>,
    pub child_fds: Vec<RawFd>,
    /// The environment children inherit (the CLI's), before this build's
    /// own variables are set over it.
    pub inherited_env: &'a [(OsString, OsString)],
}

impl Shared<'_> {
    /// A path as the user should see it: relative to the invocation's cwd.
    pub fn show(&self, p: &Path) -> String {
        crate::paths::rel(&self.ctx.cwd, p)
            .to_string_lossy()
            .into_owned()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Build even if up to date (`redo`, `redo-ifchange -f`).
    pub force: bool,
    /// One after another, stopping at the first failure (`redo`).
    pub sequential: bool,
    /// `-x`: trace the .do files this invocation runs.
    pub trace: bool,
    /// Extra variables for every child (e.g. PATH with private applets).
    pub extra_env: Vec<(String, Option<String>)>,
    /// Fds every child keeps (e.g. the status pipe named in `extra_env`).
    pub extra_fds: Vec<RawFd>,
    /// The environment every child inherits, under this build's variables:
    /// the engine never reads the process environment itself.
    pub inherited_env: Vec<(OsString, OsString)>,
    /// The process exits right after this build (the CLI): the checker's
    /// memos are left to the exit ([`Checker::leave_memos_to_exit`]).
    pub process_exits_after: bool,
}

/// Build `targets` and record them as dependencies of the calling target
/// when run inside a .do.
pub fn build(
    ctx: &Context,
    js: &Jobserver,
    reporter: &dyn Reporter,
    targets: &[Target],
    opts: &Options,
) -> Result<()> {
    if let Some(fd) = ctx.dep_fd {
        // We write our records through it; our own .do children get their
        // own dep fd and must not inherit every ancestor's.
        // Not open (a parent that closed it): recording will say so.
        let _ = crate::sys::fd::set_cloexec_raw(fd);
    }
    let targets = unique(targets);
    let targets: &[Target] = &targets;
    let (mut share, child_env, child_fds) = open_share(ctx, js, opts, reporter);
    let sh = Shared {
        ctx,
        reporter,
        child_env,
        child_fds,
        inherited_env: &opts.inherited_env,
    };
    refuse_cycles(&sh, targets)?;
    let mut checker = Checker::new(ctx.build_uuid, ctx.trust);
    if opts.process_exits_after {
        checker.leave_memos_to_exit();
    }
    checker.list_directories();
    // Self-records (inode data + hash) of operands, from the share or from
    // our own builds: recording them needs no .dep read and no hashing.
    let mut selfrecs: SelfRecs = vec![None; targets.len()];
    let to_build: Vec<Target> = if opts.force {
        targets.to_vec()
    } else {
        let mut check = Check {
            sh: &sh,
            js,
            opts,
            checker: &mut checker,
            share: share.as_mut(),
            selfrecs: &mut selfrecs,
        };
        check.out_of_date(targets)?
    };
    let result = run_shared(
        &sh,
        js,
        &to_build,
        opts.force,
        opts.sequential,
        opts.trace,
        share.as_ref(),
    );
    let (result, built) = match result {
        Ok(b) => (Ok(()), b),
        Err(e) => (Err(e), Vec::new()),
    };
    let built_recs: FastMap<OsString, Option<runshare::SelfRecord>> = built
        .into_iter()
        .map(|(t, s)| (t.into_os_string(), s))
        .collect();
    // What we built changed the tree: answer later questions from the
    // kernel. With nothing built, the listings are as good as the memos
    // the record uses anyway (the `.dep` of each of thousands of sources).
    if !to_build.is_empty() {
        checker.forget_listings();
    }
    if result.is_ok() {
        record_operands(ctx, &mut checker, targets, &selfrecs, &built_recs)?;
    }
    // Writes the .dep caches, and frees the memos unless the process is
    // about to end anyway (`opts.process_exits_after`).
    drop(checker);
    result
}

/// Operands once each, in order; most lists have no repeats to drop.
fn unique(targets: &[Target]) -> std::borrow::Cow<'_, [Target]> {
    let mut seen: FastSet<&std::ffi::OsStr> = FastSet::default();
    seen.reserve(targets.len());
    if targets.iter().all(|t| seen.insert(t.as_os_str())) {
        return std::borrow::Cow::Borrowed(targets);
    }
    seen.clear();
    targets
        .iter()
        .filter(|t| seen.insert(t.as_os_str()))
        .cloned()
        .collect()
}

/// The run share (created at top level, opened below it) and what every
/// child is given: the jobserver's variables and fds, the share's, and the
/// caller's extras.
#[allow(clippy::type_complexity)]
fn open_share(
    ctx: &Context,
    js: &Jobserver,
    opts: &Options,
    reporter: &dyn Reporter,
) -> (
    Option<runshare::RunShare>,
    Vec<(String, Option<String>)>,
    Vec<RawFd>,
) {
    let mut child_env = js.child_env();
    child_env.extend(opts.extra_env.iter().cloned());
    let mut child_fds = js.child_fds();
    child_fds.extend(opts.extra_fds.iter().copied());
    let share = if ctx.top_level {
        runshare::RunShare::create(&ctx.build_uuid)
    } else {
        ctx.runshare
            .as_deref()
            .and_then(|v| runshare::RunShare::open(v, &ctx.build_uuid))
    };
    match &share {
        Some(s) => {
            child_env.push((crate::env::RUNSHARE.into(), Some(s.value().to_string())));
            child_fds.push(s.fd());
        }
        None => {
            if ctx.runshare.is_some() && ctx.flags.debug {
                reporter.emit(Event::Debug(&format!(
                    "{}: unusable, checking without it",
                    crate::env::RUNSHARE
                )));
            }
            child_env.push((crate::env::RUNSHARE.into(), None));
        }
    }
    (share, child_env, child_fds)
}

/// A target already being built above us is a dependency cycle.
fn refuse_cycles(sh: &Shared, targets: &[Target]) -> Result<()> {
    let chain = &sh.ctx.chain;
    for t in targets {
        // Clean absolute paths: equal exactly when their bytes are.
        let Some(pos) = chain.iter().position(|c| c.as_os_str() == t.as_os_str()) else {
            continue;
        };
        let mut cycle: Vec<String> = chain[pos..].iter().map(|c| sh.show(c)).collect();
        cycle.push(sh.show(t));
        let msg = format!(
            "{}: dependency cycle: {}; break it by removing one of these redo-ifchange calls",
            sh.show(t),
            cycle.join(" -> ")
        );
        sh.reporter.emit(Event::Error(&msg));
        return Err(Error::BuildFailed(msg));
    }
    Ok(())
}

/// The check of the operands before a build: with the run share, the
/// always-targets built first, and what was found appended to the share.
struct Check<'c, 's, 'a> {
    sh: &'s Shared<'a>,
    js: &'s Jobserver,
    opts: &'s Options,
    checker: &'c mut Checker,
    share: Option<&'c mut runshare::RunShare>,
    selfrecs: &'c mut SelfRecs,
}

impl Check<'_, '_, '_> {
    /// The operands that are out of date (always-targets below them built
    /// on the way).
    fn out_of_date(&mut self, targets: &[Target]) -> Result<Vec<Target>> {
        let ctx = self.sh.ctx;
        let mut preset: FastSet<&std::ffi::OsStr> = FastSet::default();
        let shared = self.look_up_share(targets);
        if shared.iter().all(Option::is_some) {
            // The share knows every operand (an all.do's redo-ifchange
            // after the top-level checked its tree): nothing to check, and
            // nothing new to tell the share.
            return Ok(targets
                .iter()
                .zip(shared)
                .filter(|(_, v)| matches!(v, Some(Verdict::Ood(_))))
                .map(|(t, _)| t.clone())
                .collect());
        }
        seed(self.checker, targets, shared, &mut preset);
        let always = self.checker.check_collecting_always(targets);
        if !always.is_empty() {
            self.build_always(always)?;
            // The final pass starts now: look the share up again (its
            // epoch tags what this pass finds).
            preset.clear();
            let shared = self.look_up_share(targets);
            seed(self.checker, targets, shared, &mut preset);
        }
        let mut out = Vec::new();
        for t in targets {
            if let Verdict::Ood(reason) = &self.checker.check(t) {
                if ctx.flags.debug {
                    self.sh.reporter.emit(Event::Ood { target: t, reason });
                }
                out.push(t.clone());
            }
        }
        self.tell_share(targets, &out, &preset);
        Ok(out)
    }

    /// What the share knows of each operand (all None without a share);
    /// the self-records it vouches for are kept for recording.
    fn look_up_share(&mut self, targets: &[Target]) -> Vec<Option<Verdict>> {
        let ctx = self.sh.ctx;
        *self.selfrecs = vec![None; targets.len()];
        let Some(s) = self.share.as_deref_mut() else {
            return vec![None; targets.len()];
        };
        let shared;
        (shared, *self.selfrecs) = apply_share(s, self.checker, targets, ctx);
        if ctx.flags.debug && !ctx.top_level {
            let known = shared.iter().filter(|v| v.is_some()).count();
            self.sh.reporter.emit(Event::Debug(&format!(
                "the run's share knows {known} of {} operands",
                targets.len()
            )));
        }
        shared
    }

    /// Build the always-targets met below the operands, once each, then
    /// start the check afresh.
    fn build_always(&mut self, always: Vec<Target>) -> Result<()> {
        let mut uniq = std::collections::HashSet::new();
        let always: Vec<Target> = always
            .into_iter()
            .filter(|p| uniq.insert(p.clone()))
            .collect();
        run_shared(
            self.sh,
            self.js,
            &always,
            false,
            false,
            self.opts.trace,
            self.share.as_deref(),
        )?;
        self.checker.reset();
        self.checker.list_directories();
        Ok(())
    }

    /// Append what this check found to the share, for the processes this
    /// build starts.
    fn tell_share(
        &mut self,
        targets: &[Target],
        out: &[Target],
        preset: &FastSet<&std::ffi::OsStr>,
    ) {
        // A top-level run with nothing to build starts no process that
        // could read the share: recording in it would be wasted work.
        let readers = !(self.sh.ctx.top_level && out.is_empty());
        let deps = if self.share.is_some() && readers {
            complete_fan_ins(self.checker, out, preset)
        } else {
            Vec::new()
        };
        if let (Some(s), true) = (self.share.as_deref(), readers) {
            let facts = harvest_all(self.checker, targets, &deps, preset);
            // Losing facts only costs speed.
            let _ = s.append(&facts);
        }
    }
}

/// Record every operand as a dependency of the calling target, through
/// `REDO_DEP_FD`, from what this run knows of each (no rehash when the file
/// is as recorded).
fn record_operands(
    ctx: &Context,
    checker: &mut Checker,
    targets: &[Target],
    selfrecs: &SelfRecs,
    built_recs: &FastMap<OsString, Option<runshare::SelfRecord>>,
) -> Result<()> {
    let (Some(fd), Some(dir)) = (ctx.dep_fd, ctx.dep_dir.as_deref()) else {
        return Ok(());
    };
    use crate::state::inode::InodeTrust;
    let trust = ctx.trust;
    let selfrec = |i: usize, t: &Path| {
        selfrecs[i]
            .as_ref()
            .or_else(|| built_recs.get(t.as_os_str()))
    };
    // With nothing built, each operand is as the check found it a moment
    // ago (as with `vouched`, a change since makes the record name the
    // older file, and the next run rebuild the caller: the safe side).
    let seen: Vec<Option<Inode>> = if built_recs.is_empty() {
        targets.iter().map(|t| checker.seen_stat(t)).collect()
    } else {
        Vec::new()
    };
    let seen = |i: usize| seen.get(i).copied().flatten();
    let mut previous: Option<FastMap<Vec<u8>, (Inode, Hash)>> = None;
    let mut known = |i: usize, t: &Target, rel: &[u8], now: &Inode| {
        if trust == InodeTrust::None {
            return None;
        }
        if let Some(Some((rec, h))) = selfrec(i, t) {
            if rec.equals(now, trust) {
                return Some(*h);
            }
        }
        if let crate::ood::DepState::Present(d) = checker.dep(t) {
            return d
                .self_ifchange(t.base_path())
                .filter(|(rec, _)| rec.equals(now, trust))
                .map(|(_, h)| h);
        }
        // A source: as the caller's last build recorded it?
        let previous = previous.get_or_insert_with(|| previous_records(ctx, dir));
        previous
            .get(rel)
            .filter(|(rec, _)| rec.equals(now, trust))
            .map(|(_, h)| *h)
    };
    // What this run verified or built, with the file as recorded.
    let vouched = |i: usize, t: &Target| match selfrec(i, t) {
        Some(Some(s)) if trust != InodeTrust::None => Some(*s),
        _ => None,
    };
    record::ifchange(fd, dir, targets, &vouched, &seen, &mut known).map_err(|e| {
        Error::io(
            format!("recording dependencies into {}={fd}", crate::env::DEP_FD),
            e,
        )
    })
}

/// The ifchange records of the calling target's `.dep` as its last build
/// left it (the new one is still a temp), by path as recorded: a rebuild
/// mostly records the same dependencies again, and a source whose inode data
/// still match its record needs no reading for its hash (a `.do` over ten
/// thousand sources hashed them all). The caller is the last target of the
/// chain; its records name paths from `dep_dir`, so another directory
/// means no records. A file's inode data equal to its record's proves the
/// same content, whichever `.dep` holds the record (as in the check).
fn previous_records(ctx: &Context, dep_dir: &Path) -> FastMap<Vec<u8>, (Inode, Hash)> {
    use crate::state::depview::{DepView, RecordRef};
    use std::os::unix::ffi::OsStrExt;
    let mut out = FastMap::default();
    let Some(caller) = ctx.chain.last().map(|c| Target::new(c.clone())) else {
        return out;
    };
    if caller.dir() != dep_dir {
        return out;
    }
    let Ok(d) = crate::state::dep::read_dep(&caller.dep_path()).map(|b| DepView::decode(&b)) else {
        return out;
    };
    let Ok(d) = d else { return out };
    for r in d.records() {
        if let RecordRef::Ifchange { inode, hash, path } = r {
            if !inode.is_intent() {
                out.insert(path.as_os_str().as_bytes().to_vec(), (inode, *hash));
            }
        }
    }
    out
}

/// Build `list` and tell the share: a barrier around forced builds and after
/// a build of ours that created a target file; a Built fact for each target
/// built in this run (by us: as its commit reported it; by another build we
/// waited for: as its `.dep` says). Returns those targets with their
/// self-records.
#[allow(clippy::type_complexity)]
fn run_shared(
    sh: &Shared,
    js: &Jobserver,
    list: &[Target],
    force: bool,
    sequential: bool,
    trace: bool,
    share: Option<&runshare::RunShare>,
) -> Result<Vec<(PathBuf, Option<runshare::SelfRecord>)>> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let jobs = schedule::Jobs::new(sh);
    let Some(share) = share else {
        schedule::run(&jobs, sh.reporter, js, list, force, sequential, trace).result?;
        return Ok(Vec::new());
    };
    if force {
        // Every verdict reached so far may involve what we are about to rebuild.
        let _ = share.barrier();
    }
    let end = schedule::run(&jobs, sh.reporter, js, list, force, sequential, trace);
    // What we built, our commits reported. Any other target of the list was
    // built by another process we waited for (or failed, or was left alone):
    // its `.dep` says which. One of this run tells the share itself that it
    // created the file; a build outside this run (a concurrent top-level
    // redo) does not, so a target it committed that exists now counts as
    // created here (the barrier only costs the run speed).
    let mut created = false;
    let mut built = Vec::new();
    for (i, t) in list.iter().enumerate() {
        if let Some(b) = end.built.get(i).copied().flatten() {
            created |= b.created;
            built.push((t.to_path_buf(), b.self_rec));
            continue;
        }
        let Ok(b) = crate::state::dep::read_dep(&t.dep_path()) else {
            continue;
        };
        let Ok(v) = crate::state::dep::decode_self(&b, t.base_path()) else {
            continue;
        };
        if v.build == sh.ctx.build_uuid && !v.intent {
            built.push((t.to_path_buf(), v.self_rec));
        } else if std::fs::symlink_metadata(t).is_ok() {
            created = true;
        }
    }
    let result = end.result;
    if force || created {
        // A barrier is what keeps Verified facts true: retry-free errors
        // here are only I/O errors on a file we validated.
        let _ = share.barrier();
    }
    let facts: Vec<runshare::Fact> = built
        .iter()
        .map(|(t, s)| runshare::Fact::Built(t.clone(), *s))
        .collect();
    let _ = share.append(&facts);
    result.map(|()| built)
}
