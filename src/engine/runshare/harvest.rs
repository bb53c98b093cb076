//! What a process tells the run share and takes from it around its check:
//! the operands' verdicts looked up and seeded into the checker before it
//! checks, and after it, the facts its final pass established, harvested
//! from the checker's memos (and its parked workers').

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{Fact, RunShare, SelfRecord};
use crate::env::Context;
use crate::fasthash::{FastMap, FastSet};
use crate::ood::{Checker, Verdict};
use crate::target::Target;

/// By the operands' positions: what the share vouched for of each (its
/// self-record, if the file was as recorded).
pub(crate) type SelfRecs = Vec<Option<Option<SelfRecord>>>;

/// What the share says of `targets`, one entry per target: the verdicts
/// for the checker to be seeded with ([`seed`]) before it checks anything,
/// and the self-records of those vouched up to date.
pub(crate) fn apply_share(
    share: &mut RunShare,
    checker: &mut Checker,
    targets: &[Target],
    ctx: &Context,
) -> (Vec<Option<Verdict>>, SelfRecs) {
    use super::Known;
    let known = share.lookup(targets);
    let mut verdicts = vec![None; targets.len()];
    let mut own = vec![None; targets.len()];
    for (((t, k), v), o) in targets.iter().zip(known).zip(&mut verdicts).zip(&mut own) {
        match k {
            Some(Known::Built(s)) | Some(Known::Verified(s)) => {
                *v = Some(Verdict::UpToDate);
                *o = Some(s);
            }
            // A source: recorded with this stat (see `Fact::Source`).
            Some(Known::Source(st)) => {
                checker.preset_stat(t, Some(st));
                *v = Some(Verdict::Source);
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
pub(crate) fn seed<'t>(
    checker: &mut Checker,
    targets: &'t [Target],
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

/// The check of a target stops at its first out-of-date dependency, but a
/// target about to be rebuilt will most likely ask for the same
/// dependencies again from its .do, in a nested redo-ifchange that would
/// check the rest from scratch, in a process that has yet to load what we
/// hold. So down each chain of out-of-date targets from the operands, the
/// dependencies not yet checked are checked here, all at once and on all
/// the cores ([`Checker::check_many`]), and the share then hands the
/// verdicts to the nested processes. Returns the dependencies checked.
pub(crate) fn complete_fan_ins(
    checker: &mut Checker,
    ood: &[Target],
    preset: &FastSet<&std::ffi::OsStr>,
) -> Vec<Target> {
    use crate::state::depview::RecordRef;
    let mut checked = Vec::new();
    let mut seen: FastSet<OsString> = FastSet::default();
    let mut chain: Vec<Target> = ood
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
            let (tdir, base) = (t.dir(), t.base());
            for r in dep.records() {
                if let RecordRef::Ifchange { path, .. } = r {
                    if path.as_os_str() == base {
                        continue;
                    }
                    let abs = Target::join(tdir, path);
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
/// examined and `deps` (the rest of their fan-ins, see [`complete_fan_ins`])
/// (see [`super`]), except those the share gave us. Verified facts are
/// all dropped if the walk meets a cycle (see [`super`]). The parts a
/// parallel check gave to workers are walked by those workers, on their
/// own memos, at the same time as ours.
pub(crate) fn harvest_all(
    checker: &mut Checker,
    operands: &[Target],
    deps: &[Target],
    preset: &FastSet<&std::ffi::OsStr>,
) -> Vec<Fact> {
    let (mut facts, mut cycle) = harvest(checker, operands, deps, &|p| preset.contains(p), true);
    // The walks below stop at up-to-date targets and so may not meet a
    // cycle that the check cut: the checkers say so themselves.
    cycle |= checker.met_cycle();
    // The parts a parallel check gave to workers: each worker, on its own
    // memos, tells what it found of its part and walks below its
    // out-of-date paths. They outlive this call: they get their own copy
    // of the preset, made only when there are any.
    let theirs = if checker.has_parked() {
        let preset: FastSet<OsString> = preset.iter().map(|p| p.to_os_string()).collect();
        checker.on_parked(move |ch, part| {
            let given = |p: &Target| preset.contains(p.as_os_str());
            let (mut facts, ood) = part_facts(ch, part, &given);
            let (below, cycle) = harvest(ch, &[], &ood, &|p| preset.contains(p), false);
            facts.extend(below);
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
        facts.retain(|f| !matches!(f, Fact::Verified(..)));
    }
    facts
}

/// A parked worker's facts of the paths of its part (not `given` by the
/// share): what it vouches for of the up-to-date ones (see
/// [`Checker::vouch`]), the sources with their `stat`; and its out-of-date
/// paths, to walk below. Asked only when a share is told: a no-op's check
/// does none of it.
fn part_facts(
    ch: &mut Checker,
    part: &[Target],
    given: &dyn Fn(&Target) -> bool,
) -> (Vec<Fact>, Vec<Target>) {
    let (mut facts, mut ood) = (Vec::new(), Vec::new());
    for p in part {
        match ch.check(p) {
            Verdict::Ood(_) => ood.push(p.clone()),
            _ if given(p) => {}
            Verdict::UpToDate => {
                if let Some(v) = ch.vouch(p) {
                    facts.push(fact_of(p.to_path_buf(), v));
                }
            }
            Verdict::Source => {
                if let Some(st) = ch.stat(p) {
                    facts.push(Fact::Source(p.to_path_buf(), st));
                }
            }
        }
    }
    (facts, ood)
}

/// The fact for an up-to-date target.
fn fact_of(t: PathBuf, v: crate::ood::Vouch) -> Fact {
    if v.built {
        // Up to date by the BuildUUID alone.
        Fact::Built(t, v.own)
    } else {
        Fact::Verified(t, v.own)
    }
}

/// The facts of one checker's walk from the `operands` and from `deps`
/// (dependencies of out-of-date targets, whose sources get facts too), and
/// whether it met a cycle. The parent's walk (`parent`) leaves the paths a
/// parked worker checked to that worker's walk; a worker's walk counts
/// reaching one of its ancestors (the targets being checked above its
/// part) as a cycle.
fn harvest(
    checker: &mut Checker,
    operands: &[Target],
    deps: &[Target],
    preset: &dyn Fn(&std::ffi::OsStr) -> bool,
    parent: bool,
) -> (Vec<Fact>, bool) {
    #[derive(PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    struct Frame {
        children: Vec<Target>,
        next: usize,
        t: Option<Target>,
        /// The children are dependencies of a target (not operands).
        below: bool,
    }
    let mut marks: FastMap<OsString, Mark> = FastMap::default();
    marks.reserve(operands.len() + deps.len());
    let mut facts = Vec::with_capacity(operands.len() + deps.len());
    let mut cycle = false;
    if !parent {
        for a in checker.ancestors() {
            marks.insert(a.as_os_str().to_owned(), Mark::Open);
        }
    }
    let skip = |checker: &Checker, t: &Path| {
        preset(t.as_os_str()) || (parent && checker.decided_by_worker(t))
    };

    // The roots are the children of frames that stand for no target: the
    // operands, and dependencies of out-of-date targets.
    let mut stack = vec![
        Frame {
            children: deps.to_vec(),
            next: 0,
            t: None,
            below: true,
        },
        Frame {
            children: operands.to_vec(),
            next: 0,
            t: None,
            below: false,
        },
    ];
    while let Some(top) = stack.last_mut() {
        if top.next == top.children.len() {
            if let Some(Some(t)) = stack.pop().map(|f| f.t) {
                marks.insert(t.into_path_buf().into_os_string(), Mark::Done);
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
        // A source operand's fact would only serve another redo-ifchange
        // of it in the same epoch, which the next build's barrier ends.
        let below = top.below;
        let children = enter(checker, &c, below, &mut facts);
        if children.is_empty() {
            // A leaf of the walk (most nodes): done as soon as entered.
            marks.insert(c.into_path_buf().into_os_string(), Mark::Done);
            continue;
        }
        marks.insert(c.as_os_str().to_owned(), Mark::Open);
        stack.push(Frame {
            children,
            next: 0,
            t: Some(c),
            below: true,
        });
    }
    (facts, cycle)
}

/// Enter a node of the harvest walk: push its fact (a source's only when
/// it is `below` a target), and return the children its verdict examined
/// (none below an up-to-date target or a source).
fn enter(checker: &mut Checker, t: &Target, below: bool, facts: &mut Vec<Fact>) -> Vec<Target> {
    use crate::ood::DepState;
    use crate::state::depview::RecordRef;
    let v = checker.check(t);
    if v == Verdict::Source {
        if let (true, Some(st)) = (below, checker.seen_stat(t)) {
            facts.push(Fact::Source(t.to_path_buf(), st));
        }
        return Vec::new();
    }
    let dep = match checker.dep(t) {
        DepState::Present(d) => d,
        _ => return Vec::new(),
    };
    let (tdir, base) = (t.dir(), t.base());
    let deps = dep.records().filter_map(|r| match r {
        RecordRef::Ifchange { path, .. } if path.as_os_str() != base => {
            Some(Target::join(tdir, path))
        }
        RecordRef::IfchangeNonexistent(path) => Some(Target::join(tdir, path)),
        _ => None,
    });
    match v {
        Verdict::Source => Vec::new(),
        Verdict::UpToDate => {
            // The self-record goes with the fact only while the file is
            // as it says (see `vouch`): a reader records T with it,
            // without a stat. No further: only the .do files of out-of-date
            // targets run, and they ask about their own dependencies;
            // nothing will ask about what lies below an up-to-date target.
            if let Some(v) = checker.vouch(t) {
                facts.push(fact_of(t.to_path_buf(), v));
            }
            Vec::new()
        }
        Verdict::Ood(reason) => {
            let out = examined_before(deps, &reason);
            if !below_always(&reason) {
                facts.push(Fact::Ood(t.to_path_buf(), reason));
            }
            out
        }
    }
}

/// Is the verdict out of date only for an always-target below it? That is
/// not final: the always-target is built first, and if its content does not
/// change, neither must this target be rebuilt (goredo's FAQ). A check that
/// stopped before reaching it (the top-level's, above a missing `all`) did
/// not collect it, so the process that builds this target must decide
/// itself, collecting the always-targets: no fact for it.
fn below_always(reason: &crate::ood::Reason) -> bool {
    use crate::ood::Reason;
    let mut r = reason;
    let mut below = false;
    while let Reason::DepOod(_, inner) = r {
        below = true;
        r = inner;
    }
    below && *r == Reason::Always
}

/// The dependencies an out-of-date verdict examined: those before the one
/// that decided it, and that one too when it is itself out of date.
fn examined_before(deps: impl Iterator<Item = Target>, reason: &crate::ood::Reason) -> Vec<Target> {
    use crate::ood::Reason;
    let (cause, include) = match reason {
        Reason::DepOod(p, _) => (p, true),
        Reason::DepMissing(p)
        | Reason::DepSize(p)
        | Reason::DepHash(p)
        | Reason::DepAppeared(p) => (p, false),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for d in deps {
        if d.path() == cause.as_path() {
            if include {
                out.push(d);
            }
            break;
        }
        out.push(d);
    }
    out
}
