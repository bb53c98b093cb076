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
pub mod signals;

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

/// Build `targets` (absolute, clean) and record them as dependencies of the
/// calling target when run inside a .do.
pub fn build(
    ctx: &Context,
    js: &Jobserver,
    reporter: &dyn Reporter,
    targets: &[PathBuf],
    opts: &Options,
) -> Result<()> {
    if let Some(fd) = ctx.dep_fd {
        // We write our records through it; our own .do children get their
        // own dep fd and must not inherit every ancestor's.
        // Not open (a parent that closed it): recording will say so.
        let _ = crate::sys::fd::set_cloexec_raw(fd);
    }
    // Operands once each, in order; most lists have no repeats to drop.
    let mut seen: FastSet<&std::ffi::OsStr> = FastSet::default();
    seen.reserve(targets.len());
    let targets: std::borrow::Cow<[PathBuf]> = if targets.iter().all(|t| seen.insert(t.as_os_str()))
    {
        std::borrow::Cow::Borrowed(targets)
    } else {
        seen.clear();
        targets
            .iter()
            .filter(|t| seen.insert(t.as_os_str()))
            .cloned()
            .collect()
    };
    drop(seen);
    let targets: &[PathBuf] = &targets;
    let mut child_env = js.child_env();
    child_env.extend(opts.extra_env.iter().cloned());
    let mut child_fds = js.child_fds();
    child_fds.extend(opts.extra_fds.iter().copied());
    let mut share = if ctx.top_level {
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
    let sh = Shared {
        ctx,
        reporter,
        child_env,
        child_fds,
        inherited_env: &opts.inherited_env,
    };

    for t in targets {
        // Clean absolute paths: equal exactly when their bytes are.
        if let Some(pos) = ctx
            .chain
            .iter()
            .position(|c| c.as_os_str() == t.as_os_str())
        {
            let mut cycle: Vec<String> = ctx.chain[pos..].iter().map(|c| sh.show(c)).collect();
            cycle.push(sh.show(t));
            let msg = format!(
                "{}: dependency cycle: {}; break it by removing one of these redo-ifchange calls",
                sh.show(t),
                cycle.join(" -> ")
            );
            reporter.emit(Event::Error(&msg));
            return Err(Error::BuildFailed(msg));
        }
    }

    // Self-records (inode data + hash) of operands, from the share or from
    // our own builds: recording them needs no .dep read and no hashing.
    let mut selfrecs: SelfRecs = vec![None; targets.len()];
    let mut built_recs: FastMap<OsString, Option<runshare::SelfRecord>> = FastMap::default();
    let mut checker = Checker::new(ctx.build_uuid, ctx.trust);
    if opts.process_exits_after {
        checker.leave_memos_to_exit();
    }
    let fresh_lists = || -> std::sync::Arc<dyn crate::state::dirlist::KnownAbsent> {
        std::sync::Arc::new(crate::state::dirlist::SharedDirLists::default())
    };
    checker.assume_listings(fresh_lists());
    let to_build: Vec<PathBuf> = if opts.force {
        targets.to_vec()
    } else {
        'check: {
            let mut preset: FastSet<&std::ffi::OsStr> = FastSet::default();
            let mut shared = vec![None; targets.len()];
            if let Some(s) = share.as_mut() {
                (shared, selfrecs) = apply_share(s, &mut checker, targets, ctx);
                if ctx.flags.debug && !ctx.top_level {
                    let known = shared.iter().filter(|v| v.is_some()).count();
                    reporter.emit(Event::Debug(&format!(
                        "the run's share knows {known} of {} operands",
                        targets.len()
                    )));
                }
            }
            if shared.iter().all(Option::is_some) {
                // The share knows every operand (an all.do's redo-ifchange
                // after the top-level checked its tree): nothing to check, and
                // nothing new to tell the share.
                break 'check targets
                    .iter()
                    .zip(shared)
                    .filter(|(_, v)| matches!(v, Some(Verdict::Ood(_))))
                    .map(|(t, _)| t.to_path_buf())
                    .collect();
            }
            seed(&mut checker, targets, shared, &mut preset);
            let always = checker.check_collecting_always(targets);
            flush_warnings(&mut checker, reporter);
            if !always.is_empty() {
                let mut uniq = std::collections::HashSet::new();
                let always: Vec<PathBuf> = always
                    .into_iter()
                    .filter(|p| uniq.insert(p.clone()))
                    .collect();
                run_shared(&sh, js, &always, false, false, opts.trace, share.as_ref())?;
                checker.reset();
                checker.assume_listings(fresh_lists());
                // The final pass starts now: look the share up again (its
                // epoch tags what this pass finds).
                preset.clear();
                selfrecs = vec![None; targets.len()];
                if let Some(s) = share.as_mut() {
                    let shared;
                    (shared, selfrecs) = apply_share(s, &mut checker, targets, ctx);
                    seed(&mut checker, targets, shared, &mut preset);
                }
            }
            let mut out = Vec::new();
            for t in targets {
                let v = checker.check(t);
                if let Verdict::Ood(reason) = &v {
                    if ctx.flags.debug {
                        reporter.emit(Event::Ood { target: t, reason });
                    }
                    out.push(t.to_path_buf());
                }
            }
            // A top-level run with nothing to build starts no process that
            // could read the share: recording in it would be wasted work.
            let readers = !(ctx.top_level && out.is_empty());
            let mut roots = targets.to_vec();
            if share.is_some() && readers {
                roots.extend(complete_fan_ins(&mut checker, &out, &preset));
            }
            flush_warnings(&mut checker, reporter);
            if let (Some(s), true) = (share.as_ref(), readers) {
                let facts = harvest_all(&mut checker, &roots, &preset);
                // Losing facts only costs speed.
                let _ = s.append(&facts);
            }
            out
        }
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
    for (t, s) in built {
        built_recs.insert(t.into_os_string(), s);
    }
    let selfrec = |i: usize, t: &Path| {
        selfrecs[i]
            .as_ref()
            .or_else(|| built_recs.get(t.as_os_str()))
    };
    // What we built changed the tree: answer later questions from the kernel.
    checker.forget_listings();
    if result.is_ok() {
        if let (Some(fd), Some(dir)) = (ctx.dep_fd, ctx.dep_dir.as_deref()) {
            let trust = ctx.trust;
            let mut known = |i: usize, t: &Path, now: &crate::state::inode::Inode| {
                if trust == crate::state::inode::InodeTrust::None {
                    return None;
                }
                if let Some(Some((rec, h))) = selfrec(i, t) {
                    if rec.equals(now, trust) {
                        return Some(*h);
                    }
                }
                match checker.dep(t) {
                    crate::ood::DepState::Present(d) => d
                        .self_ifchange(Path::new(crate::paths::base_of(t)))
                        .filter(|(rec, _)| rec.equals(now, trust))
                        .map(|(_, h)| *h),
                    _ => None,
                }
            };
            // What this run verified or built, with the file as recorded.
            let vouched = |i: usize, t: &Path| match selfrec(i, t) {
                Some(Some(s)) if trust != crate::state::inode::InodeTrust::None => Some(*s),
                _ => None,
            };
            record::ifchange(fd, dir, targets, &vouched, &mut known).map_err(|e| {
                Error::io(
                    format!("recording dependencies into {}={fd}", crate::env::DEP_FD),
                    e,
                )
            })?;
        }
    }
    // Writes the .dep caches, and frees the memos unless the process is
    // about to end anyway (`opts.process_exits_after`).
    drop(checker);
    result
}

/// By the operands' positions: what the share vouched for of each (its
/// self-record, if the file was as recorded).
type SelfRecs = Vec<Option<Option<runshare::SelfRecord>>>;

/// What the share says of `targets`, one entry per target: the verdicts
/// for the checker to be seeded with ([`seed`]) before it checks anything,
/// and the self-records of those vouched up to date.
fn apply_share(
    share: &mut runshare::RunShare,
    checker: &mut Checker,
    targets: &[PathBuf],
    ctx: &Context,
) -> (Vec<Option<Verdict>>, SelfRecs) {
    use runshare::Known;
    let known = share.lookup(targets);
    let mut verdicts = vec![None; targets.len()];
    let mut own = vec![None; targets.len()];
    for (((t, k), v), o) in targets.iter().zip(known).zip(&mut verdicts).zip(&mut own) {
        match k {
            Some(Known::Built(s)) | Some(Known::Verified(s)) => {
                *v = Some(Verdict::UpToDate);
                *o = Some(s);
            }
            // Out of date unless built since: confirm from the .dep header
            // (a build racing us is caught again under the target's lock).
            // Under -d the checker finds the exact reason itself.
            Some(Known::Ood(reason)) if !ctx.flags.debug => {
                if let crate::ood::DepState::Present(d) = checker.dep(t) {
                    if d.build != ctx.build_uuid {
                        *v = Some(Verdict::Ood(reason));
                    }
                }
            }
            _ => {}
        }
    }
    (verdicts, own)
}

/// Give the checker what the share vouched for, so that a check reaching
/// one of these targets from another stops there; note them in `preset`.
fn seed<'t>(
    checker: &mut Checker,
    targets: &'t [PathBuf],
    verdicts: Vec<Option<Verdict>>,
    preset: &mut FastSet<&'t std::ffi::OsStr>,
) {
    let n = verdicts.iter().flatten().count();
    checker.reserve_verdicts(n);
    preset.reserve(n);
    for (t, v) in targets.iter().zip(verdicts) {
        if let Some(v) = v {
            checker.preset_verdict(t, v);
            preset.insert(t.as_os_str());
        }
    }
}

/// Build `list` and tell the share: a barrier around forced builds and after
/// a build that created a file; a Built fact for each target whose `.dep`
/// now carries this run. Returns those targets with their self-records.
#[allow(clippy::type_complexity)]
fn run_shared(
    sh: &Shared,
    js: &Jobserver,
    list: &[PathBuf],
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
        schedule::run(&jobs, sh.reporter, js, list, force, sequential, trace)?;
        return Ok(Vec::new());
    };
    if force {
        // Every verdict reached so far may involve what we are about to rebuild.
        let _ = share.barrier();
    }
    let existed: Vec<bool> = list
        .iter()
        .map(|t| std::fs::symlink_metadata(t).is_ok())
        .collect();
    let result = schedule::run(&jobs, sh.reporter, js, list, force, sequential, trace);
    let mut created = false;
    let mut built = Vec::new();
    for (t, existed) in list.iter().zip(existed) {
        if !existed && std::fs::symlink_metadata(t).is_ok() {
            created = true;
        }
        let Ok(b) = std::fs::read(crate::state::dep_path(t)) else {
            continue;
        };
        let base = Path::new(crate::paths::base_of(t));
        let Ok((build, s)) = crate::state::dep::decode_self(&b, base) else {
            continue;
        };
        if build == sh.ctx.build_uuid {
            built.push((t.clone(), s));
        }
    }
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

/// The check of a target stops at its first out-of-date dependency, but a
/// target about to be rebuilt will most likely ask for the same
/// dependencies again from its .do, in a nested redo-ifchange that would
/// check the rest from scratch, in a process that has yet to load what we
/// hold. So down each chain of out-of-date targets from the operands, the
/// dependencies not yet checked are checked here, all at once and on all
/// the cores ([`Checker::check_many`]), and the share then hands the
/// verdicts to the nested processes. Returns the dependencies checked.
fn complete_fan_ins(
    checker: &mut Checker,
    ood: &[PathBuf],
    preset: &FastSet<&std::ffi::OsStr>,
) -> Vec<PathBuf> {
    use crate::state::dep::Record;
    let mut checked = Vec::new();
    let mut seen: FastSet<OsString> = FastSet::default();
    let mut chain: Vec<PathBuf> = ood
        .iter()
        .filter(|t| !preset.contains(t.as_os_str()))
        .cloned()
        .collect();
    // In rounds: what a round finds out of date has its own rest.
    while !chain.is_empty() {
        let mut todo = Vec::new();
        while let Some(t) = chain.pop() {
            if !seen.insert(t.as_os_str().to_owned()) {
                continue;
            }
            let crate::ood::DepState::Present(dep) = checker.dep(&t) else {
                continue;
            };
            // Built in this run, or about to be rebuilt for an always-target
            // whose news decides the rest.
            if dep.build == checker.build_id() || dep.has_always() {
                continue;
            }
            let tdir = crate::paths::dir_of(&t);
            let base = crate::paths::base_of(&t);
            for r in dep.records.iter() {
                if let Record::Ifchange { path, .. } = r {
                    if path.as_os_str() == base {
                        continue;
                    }
                    let abs = crate::paths::abs_join(tdir, path);
                    if preset.contains(abs.as_os_str()) {
                        continue;
                    }
                    match checker.verdict(&abs) {
                        Some(Verdict::Ood(_)) => chain.push(abs),
                        Some(_) => {}
                        None => todo.push(abs),
                    }
                }
            }
        }
        todo.sort_unstable();
        todo.dedup();
        checker.check_many(&todo);
        chain = todo
            .iter()
            .filter(|p| matches!(checker.verdict(p), Some(Verdict::Ood(_))))
            .cloned()
            .collect();
        checked.append(&mut todo);
    }
    checked
}

/// The verdicts this process's final check pass reached, as facts for the
/// share: the operands and, below out-of-date targets, what their check
/// examined (see [`runshare`]), except those the share gave us. Verified facts are
/// all dropped if the walk meets a cycle (see [`runshare`]). The parts a
/// parallel check gave to workers are walked by those workers, on their
/// own memos, at the same time as ours.
fn harvest_all(
    checker: &mut Checker,
    roots: &[PathBuf],
    preset: &FastSet<&std::ffi::OsStr>,
) -> Vec<runshare::Fact> {
    let (mut facts, mut cycle) = harvest(checker, roots, &|p| preset.contains(p), true);
    // The walks below stop at up-to-date targets and so may not meet a
    // cycle that the check cut: the checkers say so themselves.
    cycle |= checker.met_cycle();
    // What the workers vouched for while checking, without waking them.
    for (t, v) in checker.take_worker_vouches() {
        if !preset.contains(t.as_os_str()) {
            facts.push(fact_of(t, v));
        }
    }
    // Below their out-of-date paths, the workers walk with their own memos.
    // They outlive this call: they get their own copy of the preset, made
    // only when there are any.
    let theirs = if checker.has_parked() {
        let preset: FastSet<OsString> = preset.iter().map(|p| p.to_os_string()).collect();
        checker.on_parked(move |ch, part| {
            let ood: Vec<PathBuf> = part
                .iter()
                .filter(|p| matches!(ch.check(p), Verdict::Ood(_)))
                .cloned()
                .collect();
            let (facts, cycle) = harvest(ch, &ood, &|p| preset.contains(p), false);
            (facts, cycle || ch.met_cycle())
        })
    } else {
        Vec::new()
    };
    for (f, c) in theirs {
        facts.extend(f);
        cycle |= c;
    }
    if cycle {
        facts.retain(|f| !matches!(f, runshare::Fact::Verified(..)));
    }
    facts
}

/// The fact for an up-to-date target.
fn fact_of(t: PathBuf, v: crate::ood::Vouch) -> runshare::Fact {
    if v.built {
        // Up to date by the BuildUUID alone.
        runshare::Fact::Built(t, v.own)
    } else {
        runshare::Fact::Verified(t, v.own)
    }
}

/// The facts of one checker's walk from `roots`, and whether it met a
/// cycle. The parent's walk (`parent`) leaves the paths a parked worker
/// checked to that worker's walk; a worker's walk counts reaching one of
/// its ancestors (the targets being checked above its part) as a cycle.
fn harvest(
    checker: &mut Checker,
    roots: &[PathBuf],
    preset: &dyn Fn(&std::ffi::OsStr) -> bool,
    parent: bool,
) -> (Vec<runshare::Fact>, bool) {
    use crate::ood::{DepState, Reason};
    use crate::state::dep::Record;
    use runshare::Fact;

    #[derive(PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    struct Frame {
        children: Vec<PathBuf>,
        next: usize,
        t: Option<PathBuf>,
    }
    let mut marks: FastMap<OsString, Mark> = FastMap::default();
    marks.reserve(roots.len());
    let mut facts = Vec::with_capacity(roots.len());
    let mut cycle = false;
    if !parent {
        for a in checker.ancestors() {
            marks.insert(a.as_os_str().to_owned(), Mark::Open);
        }
    }
    let skip = |checker: &Checker, t: &Path| {
        preset(t.as_os_str()) || (parent && checker.decided_by_worker(t))
    };

    // Enter a node: its fact and the children its verdict examined.
    let enter = |checker: &mut Checker, t: &Path, facts: &mut Vec<Fact>| -> Vec<PathBuf> {
        let v = checker.check(t);
        let dep = match checker.dep(t) {
            DepState::Present(d) => d,
            _ => return Vec::new(),
        };
        let tdir = crate::paths::dir_of(t);
        let base = crate::paths::base_of(t);
        let deps = dep.records.iter().filter_map(|r| match r {
            Record::Ifchange { path, .. } if path.as_os_str() != base => {
                Some(crate::paths::abs_join(tdir, path))
            }
            Record::IfchangeNonexistent(path) => Some(crate::paths::abs_join(tdir, path)),
            _ => None,
        });
        match v {
            Verdict::Source => Vec::new(),
            Verdict::UpToDate => {
                // The self-record goes with the fact only while the file is
                // as it says (see `vouch`): a reader records T with it,
                // without a stat. No further: only the .do files of out-of-date targets
                // run, and they ask about their own dependencies; nothing
                // will ask about what lies below an up-to-date target.
                if let Some(v) = checker.vouch(t) {
                    facts.push(fact_of(t.to_path_buf(), v));
                }
                Vec::new()
            }
            Verdict::Ood(reason) => {
                // The dependencies examined before the one that decided.
                let cause = match &reason {
                    Reason::DepOod(p, _) => Some((p.clone(), true)),
                    Reason::DepMissing(p)
                    | Reason::DepSize(p)
                    | Reason::DepHash(p)
                    | Reason::DepAppeared(p) => Some((p.clone(), false)),
                    _ => None,
                };
                let mut out = Vec::new();
                if let Some((p, include)) = cause {
                    for d in deps {
                        if d == p {
                            if include {
                                out.push(d);
                            }
                            break;
                        }
                        out.push(d);
                    }
                }
                facts.push(Fact::Ood(t.to_path_buf(), reason));
                out
            }
        }
    };

    // The roots are the children of a frame that stands for no target.
    let mut stack = vec![Frame {
        children: roots.to_vec(),
        next: 0,
        t: None,
    }];
    while let Some(top) = stack.last_mut() {
        if top.next == top.children.len() {
            if let Some(Some(t)) = stack.pop().map(|f| f.t) {
                marks.insert(t.into_os_string(), Mark::Done);
            }
            continue;
        }
        let c = &top.children[top.next];
        top.next += 1;
        if skip(checker, c) {
            continue;
        }
        match marks.get(c.as_os_str()) {
            Some(Mark::Open) => {
                cycle = true;
                continue;
            }
            Some(Mark::Done) => continue,
            None => {}
        }
        let c = c.clone();
        let children = enter(checker, &c, &mut facts);
        if children.is_empty() {
            // A leaf of the walk (most nodes): done as soon as entered.
            marks.insert(c.into_os_string(), Mark::Done);
            continue;
        }
        marks.insert(c.as_os_str().to_owned(), Mark::Open);
        stack.push(Frame {
            children,
            next: 0,
            t: Some(c),
        });
    }
    (facts, cycle)
}

fn flush_warnings(checker: &mut Checker, reporter: &dyn Reporter) {
    for w in checker.drain_warnings() {
        reporter.emit(Event::Warning(&w));
    }
}
