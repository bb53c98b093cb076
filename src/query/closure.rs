//! Dependency closure: the targets reachable from a start set through
//! ifchange (and ifchange-nonexistent) records, and the dependencies met on
//! the way that are not targets — from which `redo-sources` picks the
//! sources. Backs `redo-targets`, `redo-sources`, `redo-ood` and `redo-dot`.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::fasthash::{FastMap, FastSet};
use crate::ood::{Checker, DepState, Reason, Verdict};
use crate::paths;
use crate::state::depview::{DepView, RecordRef};
use crate::state::dirlist::KnownAbsent;
use crate::state::inode::{Inode, InodeTrust};
use crate::target::Target;
use std::sync::Arc;

/// How a target depends on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Edge {
    /// ifchange, or ifchange-nonexistent (the file did not exist then).
    Ifchange,
    /// "rebuild me if this appears" (redo-ifcreate, or a more specific .do
    /// that did not exist).
    Ifcreate,
}

/// The dependencies recorded in `dep` for target `t`, self-record skipped,
/// in record order: (path, kind), paths in `t`'s form (see [`super::Here`]).
pub fn edges<'a>(t: &'a Target, dep: &'a DepView) -> impl Iterator<Item = (Target, Edge)> + 'a {
    edges_of(t, dep, true)
}

/// [`edges`], leaving out the ifcreate ones unless `ifcreate`.
pub fn edges_of<'a>(
    t: &'a Target,
    dep: &'a DepView,
    ifcreate: bool,
) -> impl Iterator<Item = (Target, Edge)> + 'a {
    let (dir, base) = (t.dir(), t.base());
    dep.records().filter_map(move |r| {
        let (p, e) = match r {
            RecordRef::Ifchange { path, .. } | RecordRef::IfchangeNonexistent(path) => {
                (path, Edge::Ifchange)
            }
            RecordRef::Ifcreate(path) if ifcreate => (path, Edge::Ifcreate),
            _ => return None,
        };
        if p.as_os_str() == base {
            return None;
        }
        Some((Target::join(dir, p), e))
    })
}

/// What [`closure`] found.
#[derive(Debug, Default)]
pub struct Closure {
    /// Targets, start targets first, then in discovery order.
    pub targets: Vec<Target>,
    /// ifchange dependencies that are not targets (no `.dep`), absolute.
    pub leaves: Vec<PathBuf>,
}

/// Every target reachable from `starts` (absolute, clean) through ifchange
/// records, `.dep` files read through `checker`'s memo. A start that is not
/// a target contributes nothing.
pub fn closure(checker: &mut Checker, starts: &[Target]) -> Closure {
    let mut out = Closure::default();
    let mut seen: HashSet<Target> = HashSet::with_capacity(starts.len() * 2);
    let mut queue: Vec<Target> = Vec::new();
    for s in starts {
        if seen.insert(s.clone()) && !matches!(checker.dep(s), DepState::Absent) {
            out.targets.push(s.clone());
            queue.push(s.clone());
        }
    }
    while let Some(t) = queue.pop() {
        let DepState::Present(dep) = checker.dep(&t) else {
            continue;
        };
        for (p, _) in edges_of(&t, &dep, false) {
            if seen.contains(&p) {
                continue;
            }
            seen.insert(p.clone());
            if matches!(checker.dep(&p), DepState::Absent) {
                out.leaves.push(p.into());
            } else {
                out.targets.push(p.clone());
                queue.push(p);
            }
        }
    }
    out
}

/// What [`par_closure`] should compute besides the targets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    /// Run the out-of-date check on every start and target reached.
    pub ood: bool,
    /// Classify the leaves (sources, dangling symlinks).
    pub sources: bool,
}

/// What [`par_closure`] found (unsorted, each path once).
#[derive(Debug, Default)]
pub struct Found {
    /// Targets of the closure.
    pub targets: Vec<Target>,
    /// With [`Want::ood`]: the out-of-date starts and targets, with reasons.
    pub ood: Vec<(PathBuf, Reason)>,
    /// With [`Want::sources`]: the sources among the leaves.
    pub sources: Vec<PathBuf>,
    /// With [`Want::sources`]: leaves that are dangling symlinks.
    pub dangling: Vec<PathBuf>,
    /// Unusable `.dep` files met: (target, message).
    pub dep_errors: Vec<(PathBuf, String)>,
}

/// Below this many paths per thread, threads cost more than they save.
const MIN_CHUNK: usize = if cfg!(test) { 1 } else { 256 };

/// How many chunks [`par_chunks`] splits `len` items into.
fn chunk_count(len: usize, threads: usize) -> usize {
    threads.clamp(1, 64).min(len.div_ceil(MIN_CHUNK)).max(1)
}

/// Run `f` on contiguous chunks of `items` on up to `threads` threads (on
/// this one when there is little work); results in chunk order.
fn par_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: &(dyn Fn(&[T]) -> R + Sync),
) -> Vec<R> {
    let n = chunk_count(items.len(), threads);
    if n == 1 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(n);
    std::thread::scope(|s| {
        let hs: Vec<_> = items.chunks(size).map(|c| s.spawn(move || f(c))).collect();
        hs.into_iter()
            .map(|h| h.join().expect("query thread panicked"))
            .collect()
    })
}

/// A checker for one thread's share of the work. It is never dropped: its
/// memo maps hold a few allocations per path, freeing them one by one costs
/// more than a query's real work, and the process ends right after.
///
/// Unless `alone`, it checks on this thread only: the query spreads its
/// checks over the threads itself. A checker `alone` (the only one of its
/// round) splits a big fan-in among the cores as a build does: a target
/// over ten thousand sources is one node of the query, not ten thousand.
fn checker(
    build: [u8; 16],
    trust: InodeTrust,
    known: &Option<Arc<dyn KnownAbsent>>,
    alone: bool,
) -> &'static mut Checker {
    let mut ch = Checker::new(build, trust);
    if let Some(k) = known {
        ch.assume_listings(k.clone());
    }
    ch.share_dep_caches(query_dep_caches());
    if !alone {
        ch.keep_to_this_thread();
    }
    Box::leak(Box::new(ch))
}

/// What the `.dep` caches tell a walk for targets ([`super::walk::WalkMemory`]):
/// a directory's targets when its cache is complete (see
/// [`crate::ood::DepCaches::complete_targets`]), and its names when they are
/// remembered there and current. The checks that follow find the caches
/// loaded.
pub struct CachedTree;

impl super::walk::WalkMemory for CachedTree {
    fn targets(&self, dir: &std::path::Path, each: &mut dyn FnMut(&OsStr)) -> bool {
        query_dep_caches().complete_targets(dir, each)
    }

    fn names(&self, dir: &std::path::Path) -> Option<Arc<crate::state::dirnames::DirNames>> {
        query_dep_caches().current_names(dir)
    }
}

/// One set of `.redo/` snapshots and `.dep` caches for all the checkers of
/// this process: a query builds nothing, so the tree it sees does not change
/// under it (as with the walk's listing), and each directory's cache is
/// loaded once instead of once per thread.
fn query_dep_caches() -> Arc<crate::ood::DepCaches> {
    static CACHES: std::sync::OnceLock<Arc<crate::ood::DepCaches>> = std::sync::OnceLock::new();
    CACHES.get_or_init(Arc::default).clone()
}

/// The closure of `starts` as [`closure`] computes it, plus (per `want`)
/// the out-of-date check ([`Checker::check`]) of every start and target and
/// the sources among the leaves, spread over `threads` threads. `known`
/// (the tree walk's listing) spares the checkers the `stat`s of files that
/// do not exist.
///
/// 1. Expansion, breadth first in rounds: each round's frontier is split
///    into contiguous chunks (starts sorted, so a chunk is a few directories
///    and the memo of `.do` candidates is hit); each `.dep` is read once.
/// 2. With `want.ood`, the check, level by level from the targets that
///    depend on no other target up to the roots: each level is split into
///    chunks whose checkers are seeded with the `.dep`s already read and the
///    verdicts of the lower levels, so no target is checked twice and a root
///    depending on thousands of targets does not drag them all into one
///    thread. A level too small to split (the wide target over thousands
///    of sources) gets one checker that splits big fan-ins itself, as a
///    build does. Each verdict is the one a single checker reaches (only
///    the cut of a recorded dependency cycle may fall elsewhere).
pub fn par_closure(
    build: [u8; 16],
    trust: InodeTrust,
    starts: &[Target],
    want: Want,
    threads: usize,
    known: Option<Arc<dyn KnownAbsent>>,
) -> Found {
    let mut found = Found::default();
    // 1. Expansion.
    let mut seen: FastSet<OsString> = FastSet::default();
    seen.reserve(starts.len() * 2);
    let mut nodes: Vec<(Target, DepState)> = Vec::with_capacity(starts.len());
    let mut node_kids: Vec<Vec<Target>> = Vec::with_capacity(starts.len());
    let mut frontier: Vec<(Target, Option<DepState>)> = starts
        .iter()
        .filter(|s| seen.insert(s.as_os_str().to_os_string()))
        .map(|s| (s.clone(), None))
        .collect();
    let mut leaves_seen: FastSet<OsString> = FastSet::default();
    let mut leaves: Vec<Target> = Vec::new();
    // Collects the `.dep` files the expansion read, to write the caches of
    // their directories once (a later query or no-op then reads one file).
    let mut collector = Checker::new(build, trust);
    collector.share_dep_caches(query_dep_caches());
    while !frontier.is_empty() {
        let seen_ref = &seen;
        let known_ref = &known;
        let parts = par_chunks(&frontier, threads, &|c| {
            expand(build, trust, c, seen_ref, want, known_ref)
        });
        let mut next = Vec::new();
        for mut p in parts {
            if let Some(f) = p.fresh.take() {
                collector.absorb_fresh(f);
            }
            nodes.extend(p.nodes);
            node_kids.extend(p.kids);
            for l in p.leaves {
                if leaves_seen.insert(l.as_os_str().to_os_string()) {
                    leaves.push(l);
                }
            }
            for (t, st) in p.next {
                if seen.insert(t.as_os_str().to_os_string()) {
                    next.push((t, Some(st)));
                }
            }
        }
        frontier = next;
    }
    collector.persist_dep_caches();
    if want.sources {
        (found.sources, found.dangling) = classify_leaves(build, trust, &leaves, threads, &known);
    }
    for (t, st) in &nodes {
        match st {
            DepState::Absent => {}
            DepState::Corrupt(m) => {
                found.targets.push(t.clone());
                found.dep_errors.push((t.to_path_buf(), m.clone()));
            }
            DepState::Present(_) => found.targets.push(t.clone()),
        }
    }
    if want.ood {
        found.ood = check_levels(build, trust, &nodes, &node_kids, threads, &known);
    }
    found
}

/// The sources and the dangling symlinks among `leaves` (dependencies
/// without a `.dep`), by the checker's source rule: a file that exists and
/// has no `.do` of its own. Classified apart from the expansion, on all the
/// threads: one target may have ten thousand leaves.
fn classify_leaves(
    build: [u8; 16],
    trust: InodeTrust,
    leaves: &[Target],
    threads: usize,
    known: &Option<Arc<dyn KnownAbsent>>,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let parts = par_chunks(leaves, threads, &|c: &[Target]| {
        let ch = checker(build, trust, known, false);
        let (mut sources, mut dangling) = (Vec::new(), Vec::new());
        for p in c {
            // through the checker's stat memo, as a check would ask
            if ch.stat(p).is_some() && ch.stat(&paths::with_suffix(p, ".do")).is_none() {
                sources.push(p.to_path_buf());
            } else if super::is_dangling(p) {
                dangling.push(p.to_path_buf());
            }
        }
        (sources, dangling)
    });
    let (mut sources, mut dangling) = (Vec::new(), Vec::new());
    for (s, d) in parts {
        sources.extend(s);
        dangling.extend(d);
    }
    (sources, dangling)
}

/// One chunk's share of an expansion round.
#[derive(Default)]
struct Expanded {
    nodes: Vec<(Target, DepState)>,
    /// With [`Want::sources`], the dependencies without a `.dep`.
    leaves: Vec<Target>,
    /// With [`Want::ood`], the dependencies of each node that may be
    /// targets (all but the leaves), in record order.
    kids: Vec<Vec<Target>>,
    next: Vec<(Target, DepState)>,
    /// The `.dep` files read, for the directories' caches.
    fresh: Option<crate::ood::DepFresh>,
}

fn expand(
    build: [u8; 16],
    trust: InodeTrust,
    chunk: &[(Target, Option<DepState>)],
    seen: &FastSet<OsString>,
    want: Want,
    known: &Option<Arc<dyn KnownAbsent>>,
) -> Expanded {
    let ch = checker(build, trust, known, false);
    let mut out = Expanded::default();
    // The paths met in this chunk, and whether each is a target.
    let mut local: FastMap<OsString, bool> = FastMap::default();
    for (t, st) in chunk {
        let st = match st {
            Some(st) => st.clone(),
            None => ch.dep(t),
        };
        out.nodes.push((t.clone(), st.clone()));
        let mut kids = Vec::new();
        if let DepState::Present(dep) = st {
            for (p, _) in edges_of(t, &dep, false) {
                // A start or a target of an earlier round, or met here.
                let target = match local.get(p.as_os_str()) {
                    _ if seen.contains(p.as_os_str()) => true,
                    Some(&target) => target,
                    None => {
                        let st = ch.dep(&p);
                        let target = !matches!(st, DepState::Absent);
                        local.insert(p.as_os_str().to_os_string(), target);
                        match st {
                            DepState::Absent if want.sources => out.leaves.push(p.clone()),
                            DepState::Absent => {}
                            st => out.next.push((p.clone(), st)),
                        }
                        target
                    }
                };
                if target && want.ood {
                    kids.push(p);
                }
            }
        }
        out.kids.push(kids);
    }
    out.fresh = Some(ch.take_fresh());
    out
}

/// The out-of-date check of every node, level by level (see [`par_closure`]).
fn check_levels(
    build: [u8; 16],
    trust: InodeTrust,
    nodes: &[(Target, DepState)],
    node_kids: &[Vec<Target>],
    threads: usize,
    known: &Option<Arc<dyn KnownAbsent>>,
) -> Vec<(PathBuf, Reason)> {
    let mut index: FastMap<&OsStr, usize> = FastMap::default();
    index.reserve(nodes.len());
    for (i, (t, _)) in nodes.iter().enumerate() {
        index.insert(t.as_os_str(), i);
    }
    // The nodes each node depends on, then each node's height.
    let kids: Vec<Vec<usize>> = node_kids
        .iter()
        .map(|ks| {
            ks.iter()
                .filter_map(|p| index.get(p.as_os_str()).copied())
                .collect()
        })
        .collect();
    let height = heights(&kids);
    let top = height.iter().copied().max().unwrap_or(0);
    let mut levels: Vec<Vec<usize>> = vec![Vec::new(); top + 1];
    for (i, &h) in height.iter().enumerate() {
        levels[h].push(i);
    }
    // Per node: its verdict, and the stat of its file the check made (a
    // dependant's check compares it against its record: no second stat).
    let mut verdicts: Vec<Option<Verdict>> = vec![None; nodes.len()];
    let mut stats: Vec<Option<Option<Inode>>> = vec![None; nodes.len()];
    for level in &levels {
        let (done, seen) = (&verdicts, &stats);
        let kids = &kids;
        let alone = chunk_count(level.len(), threads) == 1;
        let parts = par_chunks(level, threads, &|c: &[usize]| {
            let ch = checker(build, trust, known, alone);
            // Each node, its dependencies' verdicts, and about one source each.
            let kids_n: usize = c.iter().map(|&i| kids[i].len()).sum();
            ch.expect_paths(c.len() * 2 + kids_n);
            for &i in c {
                ch.preset_dep(&nodes[i].0, nodes[i].1.clone());
                for &k in &kids[i] {
                    if let Some(v) = &done[k] {
                        ch.preset_verdict(&nodes[k].0, v.clone());
                    }
                    if let Some(st) = seen[k] {
                        ch.preset_stat(&nodes[k].0, st);
                    }
                }
            }
            c.iter()
                .map(|&i| {
                    let v = ch.check(&nodes[i].0);
                    (i, v, ch.stat(&nodes[i].0))
                })
                .collect::<Vec<_>>()
        });
        for (i, v, st) in parts.into_iter().flatten() {
            verdicts[i] = Some(v);
            stats[i] = Some(st);
        }
    }
    verdicts
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| match v {
            Some(Verdict::Ood(r)) => Some((nodes[i].0.to_path_buf(), r)),
            _ => None,
        })
        .collect()
}

/// Height of each node: 0 without children, else 1 + the highest child.
/// Iterative; an edge closing a cycle is ignored.
fn heights(kids: &[Vec<usize>]) -> Vec<usize> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; kids.len()];
    let mut h = vec![0usize; kids.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..kids.len() {
        if state[root] != NEW {
            continue;
        }
        state[root] = OPEN;
        stack.push((root, 0));
        while let Some(&mut (n, ref mut next)) = stack.last_mut() {
            if let Some(&k) = kids[n].get(*next) {
                *next += 1;
                match state[k] {
                    NEW => {
                        state[k] = OPEN;
                        stack.push((k, 0));
                    }
                    DONE => h[n] = h[n].max(h[k] + 1),
                    _ => {} // a cycle: ignore the edge
                }
            } else {
                state[n] = DONE;
                stack.pop();
                if let Some(&(p, _)) = stack.last() {
                    h[p] = h[p].max(h[n] + 1);
                }
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;

    fn rels<P: AsRef<std::path::Path>>(root: &std::path::Path, v: &[P]) -> Vec<String> {
        let mut v: Vec<PathBuf> = v.iter().map(|p| paths::rel(root, p.as_ref())).collect();
        crate::query::sort_bytes(&mut v);
        v.iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn closure_and_sources() {
        let t = Tree::new();
        t.write("default.o.do", "x");
        t.write("all.do", "x");
        t.write("a.c", "a");
        t.write("sub/b.c", "b");
        t.write("gen.do", "x");
        t.target("gen", "g", &[("ifchange", "gen.do")]);
        t.target(
            "a.o",
            "ao",
            &[
                ("ifcreate", "a.o.do"),
                ("ifchange", "default.o.do"),
                ("ifchange", "a.c"),
                ("ifchange", "gen"),
            ],
        );
        t.target(
            "sub/b.o",
            "bo",
            &[
                ("ifchange", "../default.o.do"),
                ("ifchange", "b.c"),
                ("nonexistent", "b.h"),
            ],
        );
        t.target(
            "all",
            "",
            &[
                ("ifchange", "all.do"),
                ("ifchange", "a.o"),
                ("ifchange", "sub/b.o"),
            ],
        );
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        let root = t.root();
        let c = closure(&mut ch, &[Target::new(root.join("all"))]);
        assert_eq!(rels(&root, &c.targets), ["a.o", "all", "gen", "sub/b.o"]);
        let c = closure(
            &mut ch,
            &[
                Target::new(root.join("sub/b.o")),
                Target::new(root.join("a.c")),
            ],
        );
        assert_eq!(rels(&root, &c.targets), ["sub/b.o"]);
        assert_eq!(
            rels(&root, &c.leaves),
            ["default.o.do", "sub/b.c", "sub/b.h"]
        );
        // the parallel closure finds the same, and the sources among the leaves
        for threads in [1, 3] {
            let want = Want {
                ood: false,
                sources: true,
            };
            let f = par_closure(
                [0; 16],
                InodeTrust::Ctime,
                &[Target::new(root.join("all"))],
                want,
                threads,
                None,
            );
            assert_eq!(rels(&root, &f.targets), ["a.o", "all", "gen", "sub/b.o"]);
            assert_eq!(
                rels(&root, &f.sources),
                ["a.c", "all.do", "default.o.do", "gen.do", "sub/b.c"]
            );
            assert!(f.dangling.is_empty() && f.dep_errors.is_empty());
        }
    }

    #[test]
    fn ood_levels_agree_with_one_checker() {
        let t = Tree::new();
        for (f, c) in [("a.c", "a"), ("b.c", "b"), ("c.c", "c"), ("x.do", "x")] {
            t.write(f, c);
        }
        t.target("a.o", "1", &[("ifchange", "x.do"), ("ifchange", "a.c")]);
        t.target("b.o", "2", &[("ifchange", "x.do"), ("ifchange", "b.c")]);
        t.target(
            "c.o",
            "3",
            &[
                ("ifchange", "x.do"),
                ("ifchange", "c.c"),
                ("ifcreate", "c.o.do"),
            ],
        );
        t.target("lib", "4", &[("ifchange", "a.o"), ("ifchange", "b.o")]);
        t.target(
            "all",
            "5",
            &[
                ("ifchange", "lib"),
                ("ifchange", "c.o"),
                ("ifchange", "a.o"),
            ],
        );
        t.write("b.c", "changed");
        t.write("c.o.do", "x");
        let starts: Vec<Target> = ["a.o", "all", "b.o", "c.o", "lib"]
            .iter()
            .map(|n| t.t(n))
            .collect();
        let mut one = Checker::new([0; 16], InodeTrust::Ctime);
        let mut want: Vec<(PathBuf, Reason)> = starts
            .iter()
            .filter_map(|s| match one.check(s) {
                Verdict::Ood(r) => Some((s.to_path_buf(), r)),
                _ => None,
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        for threads in [1, 2, 5] {
            let want_ood = Want {
                ood: true,
                sources: false,
            };
            let mut got =
                par_closure([0; 16], InodeTrust::Ctime, &starts, want_ood, threads, None).ood;
            got.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "threads {threads}");
        }
        assert_eq!(want.len(), 4, "{want:?}");
    }

    #[test]
    fn a_lone_target_over_many_sources_is_checked_as_one_checker_would() {
        // The only node of its level: its checker splits the fan-in among
        // the cores; the reason must still name the first change recorded.
        let t = Tree::new();
        t.write("big.do", "x");
        let mut recs = vec![("ifchange".to_string(), "big.do".to_string())];
        for i in 0..300 {
            t.write(&format!("s{i}.c"), "s");
            recs.push(("ifchange".into(), format!("s{i}.c")));
        }
        let recs: Vec<(&str, &str)> = recs.iter().map(|(k, p)| (k.as_str(), p.as_str())).collect();
        t.target("big", "b", &recs);
        t.write("s250.c", "changed, later in the records");
        t.write("s40.c", "changed, earlier");
        let want = match Checker::new([0; 16], InodeTrust::Ctime).check(&t.t("big")) {
            Verdict::Ood(r) => vec![(t.p("big"), r)],
            v => panic!("{v:?}"),
        };
        let want_ood = Want {
            ood: true,
            sources: false,
        };
        for threads in [1, 2, 4] {
            let got = par_closure(
                [0; 16],
                InodeTrust::Ctime,
                &[t.t("big")],
                want_ood,
                threads,
                None,
            );
            assert_eq!(got.ood, want, "threads {threads}");
        }
        let show = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            want[0].1.describe(&show).starts_with("s40.c changed"),
            "{:?}",
            want[0].1.describe(&show)
        );
    }

    #[test]
    fn heights_of_a_dag_with_a_cycle() {
        // 0 -> 1 -> 2, 0 -> 2, 3 -> 4 -> 3 (cycle)
        let kids = vec![vec![1, 2], vec![2], vec![], vec![4], vec![3]];
        let h = heights(&kids);
        assert_eq!(&h[..3], &[2, 1, 0]);
        assert!(h[3] <= 1 && h[4] <= 1);
    }

    #[test]
    fn dangling_leaf_is_reported() {
        let t = Tree::new();
        t.write("x.do", "x");
        // record `dep` while it is a real file, then make it dangle
        t.write("dep", "d");
        t.target("x", "x", &[("ifchange", "dep")]);
        std::fs::remove_file(t.p("dep")).unwrap();
        std::os::unix::fs::symlink("nowhere", t.p("dep")).unwrap();
        let want = Want {
            ood: false,
            sources: true,
        };
        let f = par_closure([0; 16], InodeTrust::Ctime, &[t.t("x")], want, 1, None);
        assert!(f.sources.is_empty());
        assert_eq!(f.dangling, [t.p("dep")]);
    }
}
