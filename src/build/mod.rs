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
//!
//! Job slots (see [`crate::jobserver`]): this process owns one implicit slot,
//! the one its parent lent the .do that runs us (or the top-level's own), so
//! its first job needs no token; each further concurrent job reads one token,
//! and writes the same byte back when the job's .do has exited.

pub mod commit;
pub mod job;
pub mod record;
pub mod schedule;
pub mod signals;

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::env::Context;
use crate::error::{Error, Result};
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
        signals::set_cloexec(fd);
    }
    let mut seen = std::collections::HashSet::new();
    let targets: Vec<PathBuf> = targets
        .iter()
        .filter(|t| seen.insert((*t).clone()))
        .cloned()
        .collect();
    let mut child_env = js.child_env();
    child_env.extend(opts.extra_env.iter().cloned());
    let sh = Shared {
        ctx,
        reporter,
        child_env,
        child_fds: js.child_fds(),
    };

    for t in &targets {
        if let Some(pos) = ctx.chain.iter().position(|c| c == t) {
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

    let mut checker = Checker::new(ctx.build_uuid, ctx.trust);
    let fresh_lists = || -> std::sync::Arc<dyn crate::ood::KnownAbsent> {
        std::sync::Arc::new(crate::state::dirlist::SharedDirLists::default())
    };
    checker.known_absent = Some(fresh_lists());
    let to_build: Vec<PathBuf> = if opts.force {
        targets.clone()
    } else {
        checker.collect_always = Some(Vec::new());
        for t in &targets {
            checker.check(t);
        }
        let always = checker.collect_always.take().unwrap_or_default();
        flush_warnings(&mut checker, reporter);
        if !always.is_empty() {
            let mut uniq = std::collections::HashSet::new();
            let always: Vec<PathBuf> = always
                .into_iter()
                .filter(|p| uniq.insert(p.clone()))
                .collect();
            schedule::run(&sh, js, &always, false, false, opts.trace)?;
            checker.reset();
            checker.known_absent = Some(fresh_lists());
        }
        let mut out = Vec::new();
        for t in &targets {
            let v = checker.check(t);
            if let Verdict::Ood(reason) = &v {
                if ctx.flags.debug {
                    reporter.emit(Event::Ood { target: t, reason });
                }
                out.push(t.clone());
            }
        }
        flush_warnings(&mut checker, reporter);
        out
    };

    let result = schedule::run(&sh, js, &to_build, opts.force, opts.sequential, opts.trace);
    // What we built changed the tree: answer later questions from the kernel.
    checker.known_absent = None;
    if result.is_ok() {
        if let (Some(fd), Some(dir)) = (ctx.dep_fd, ctx.dep_dir.as_deref()) {
            let trust = ctx.trust;
            let mut known = |t: &Path, now: &crate::state::inode::Inode| {
                if trust == crate::state::inode::InodeTrust::None {
                    return None;
                }
                match checker.dep(t) {
                    crate::ood::DepState::Present(d) => d
                        .self_ifchange(Path::new(crate::paths::base_of(t)))
                        .filter(|(rec, _)| rec.equals(now, trust))
                        .map(|(_, h)| *h),
                    _ => None,
                }
            };
            record::ifchange(fd, dir, &targets, &mut known).map_err(|e| {
                Error::io(
                    format!("recording dependencies into {}={fd}", crate::env::DEP_FD),
                    e,
                )
            })?;
        }
    }
    result
}

fn flush_warnings(checker: &mut Checker, reporter: &dyn Reporter) {
    for w in checker.warnings.drain(..) {
        reporter.emit(Event::Warning(&w));
    }
}
