//! Dependency closure: the targets reachable from a start set through
//! ifchange (and ifchange-nonexistent) records, and the dependencies met on
//! the way that are not targets — from which `redo-sources` picks the
//! sources. Backs `redo-targets`, `redo-sources`, `redo-ood` and `redo-dot`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Problems;
use crate::ood::{Checker, DepState, Reason, Verdict};
use crate::paths;
use crate::state::dep::{Dep, Record};
use crate::state::inode::InodeTrust;

/// How a target depends on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Edge {
    /// ifchange, or ifchange-nonexistent (the file did not exist then).
    Ifchange,
    /// "rebuild me if this appears" (redo-ifcreate, or a more specific .do
    /// that did not exist).
    Ifcreate,
}

/// The dependencies recorded in `dep` for target `t` (absolute), self-record
/// skipped, in record order: (absolute path, kind).
pub fn edges<'a>(t: &'a Path, dep: &'a Dep) -> impl Iterator<Item = (PathBuf, Edge)> + 'a {
    let dir = paths::dir_of(t);
    let base = super::base(t);
    dep.records.iter().filter_map(move |r| {
        let (p, e) = match r {
            Record::Ifchange { path, .. } | Record::IfchangeNonexistent(path) => {
                (path, Edge::Ifchange)
            }
            Record::Ifcreate(path) => (path, Edge::Ifcreate),
            _ => return None,
        };
        if p.as_os_str() == base {
            return None;
        }
        Some((paths::abs_join(dir, p), e))
    })
}

/// What [`closure`] found.
#[derive(Debug, Default)]
pub struct Closure {
    /// Targets (absolute), start targets first, then in discovery order.
    pub targets: Vec<PathBuf>,
    /// ifchange dependencies that are not targets (no `.dep`), absolute.
    pub leaves: Vec<PathBuf>,
}

/// Every target reachable from `starts` (absolute, clean) through ifchange
/// records, `.dep` files read through `checker`'s memo. A start that is not
/// a target contributes nothing.
pub fn closure(checker: &mut Checker, starts: &[PathBuf]) -> Closure {
    let mut out = Closure::default();
    let mut seen: HashSet<PathBuf> = HashSet::with_capacity(starts.len() * 2);
    let mut queue: Vec<PathBuf> = Vec::new();
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
        for (p, e) in edges(&t, &dep) {
            if e != Edge::Ifchange || seen.contains(&p) {
                continue;
            }
            seen.insert(p.clone());
            if matches!(checker.dep(&p), DepState::Absent) {
                out.leaves.push(p);
            } else {
                out.targets.push(p.clone());
                queue.push(p);
            }
        }
    }
    out
}

/// The sources among a closure's leaves (see the module docs of
/// [`crate::query`]); a leaf that is a dangling symlink is a problem.
pub fn sources(c: &Closure, here: &super::Here, problems: &mut Problems) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in &c.leaves {
        if super::is_source(l) {
            out.push(l.clone());
        } else if super::is_dangling(l) {
            problems.push(format!("{}: dangling symlink", here.show(l).display()));
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
    pub targets: Vec<PathBuf>,
    /// With [`Want::ood`]: the out-of-date starts and targets, with reasons.
    pub ood: Vec<(PathBuf, Reason)>,
    /// With [`Want::sources`]: the sources among the leaves.
    pub sources: Vec<PathBuf>,
    /// With [`Want::sources`]: leaves that are dangling symlinks.
    pub dangling: Vec<PathBuf>,
    /// Unusable `.dep` files met: (target, message).
    pub dep_errors: Vec<(PathBuf, String)>,
}

/// The closure of `starts` as [`closure`] computes it, with the
/// out-of-date check ([`Checker::check`]) of every start and target and
/// the source classification of the leaves, spread over `threads` threads.
///
/// Breadth first in rounds: each round splits its frontier into contiguous
/// chunks (starts sorted, so a chunk is a few directories and the checker's
/// memo of `.do` candidates is hit), each chunk gets its own [`Checker`]
/// (with `build` and `trust`), which checks its paths and reads their
/// `.dep`s once for both the check and the expansion; targets not seen yet
/// form the next round's frontier. A shared dependency is at worst checked
/// once per thread; every verdict is the one a single checker would reach.
pub fn par_closure(
    build: [u8; 16],
    trust: InodeTrust,
    starts: &[PathBuf],
    want: Want,
    threads: usize,
) -> Found {
    let mut seen: HashSet<PathBuf> = HashSet::with_capacity(starts.len() * 2);
    let mut frontier: Vec<PathBuf> = starts
        .iter()
        .filter(|s| seen.insert((*s).clone()))
        .cloned()
        .collect();
    let mut found = Found::default();
    let mut leaves_seen: HashSet<PathBuf> = HashSet::new();
    while !frontier.is_empty() {
        let n = threads
            .clamp(1, 64)
            .min(frontier.len().div_ceil(MIN_CHUNK))
            .max(1);
        let size = frontier.len().div_ceil(n);
        let seen_ref = &seen;
        let parts: Vec<Part> = if n == 1 {
            vec![round(build, trust, &frontier, seen_ref, want)]
        } else {
            std::thread::scope(|s| {
                let hs: Vec<_> = frontier
                    .chunks(size)
                    .map(|c| s.spawn(move || round(build, trust, c, seen_ref, want)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().expect("query thread panicked"))
                    .collect()
            })
        };
        let mut next = Vec::new();
        for p in parts {
            found.targets.extend(p.targets);
            found.ood.extend(p.ood);
            for (t, m) in p.dep_errors {
                if !found.dep_errors.iter().any(|(u, _)| *u == t) {
                    found.dep_errors.push((t, m));
                }
            }
            for l in p.sources {
                if leaves_seen.insert(l.clone()) {
                    found.sources.push(l);
                }
            }
            for l in p.dangling {
                if leaves_seen.insert(l.clone()) {
                    found.dangling.push(l);
                }
            }
            for t in p.next {
                if seen.insert(t.clone()) {
                    next.push(t);
                }
            }
        }
        frontier = next;
    }
    found
}

/// Below this many paths per thread, threads cost more than they save.
const MIN_CHUNK: usize = if cfg!(test) { 1 } else { 512 };

/// One chunk's share of a round.
#[derive(Default)]
struct Part {
    targets: Vec<PathBuf>,
    ood: Vec<(PathBuf, Reason)>,
    sources: Vec<PathBuf>,
    dangling: Vec<PathBuf>,
    next: Vec<PathBuf>,
    dep_errors: Vec<(PathBuf, String)>,
}

fn round(
    build: [u8; 16],
    trust: InodeTrust,
    chunk: &[PathBuf],
    seen: &HashSet<PathBuf>,
    want: Want,
) -> Part {
    let mut ch = Checker::new(build, trust);
    let mut part = Part::default();
    let mut local: HashSet<PathBuf> = HashSet::new();
    for t in chunk {
        if want.ood {
            if let Verdict::Ood(r) = ch.check(t) {
                part.ood.push((t.clone(), r));
            }
        }
        let dep = match ch.dep(t) {
            DepState::Absent => continue,
            DepState::Corrupt(_) => {
                part.targets.push(t.clone());
                continue;
            }
            DepState::Present(d) => d,
        };
        part.targets.push(t.clone());
        for (p, e) in edges(t, &dep) {
            if e != Edge::Ifchange || seen.contains(&p) || local.contains(&p) {
                continue;
            }
            local.insert(p.clone());
            if !matches!(ch.dep(&p), DepState::Absent) {
                part.next.push(p);
            } else if want.sources {
                if super::is_source(&p) {
                    part.sources.push(p);
                } else if super::is_dangling(&p) {
                    part.dangling.push(p);
                }
            }
        }
    }
    part.dep_errors = ch.dep_errors();
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::testutil::Tree;
    use crate::state::inode::InodeTrust;

    fn rels(root: &Path, v: &[PathBuf]) -> Vec<String> {
        let mut v: Vec<PathBuf> = v.iter().map(|p| paths::rel(root, p)).collect();
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
        let c = closure(&mut ch, &[root.join("all")]);
        assert_eq!(rels(&root, &c.targets), ["a.o", "all", "gen", "sub/b.o"]);
        let mut pr = Problems::default();
        let s = sources(&c, &t.here(), &mut pr);
        assert_eq!(
            rels(&root, &s),
            ["a.c", "all.do", "default.o.do", "gen.do", "sub/b.c"]
        );
        let c = closure(&mut ch, &[root.join("sub/b.o"), root.join("a.c")]);
        assert_eq!(rels(&root, &c.targets), ["sub/b.o"]);
        assert_eq!(
            rels(&root, &c.leaves),
            ["default.o.do", "sub/b.c", "sub/b.h"]
        );
        assert!(pr.is_empty());
    }

    #[test]
    fn dangling_leaf_is_reported() {
        let t = Tree::new();
        t.write("x.do", "x");
        std::os::unix::fs::symlink("nowhere", t.p("dep")).unwrap();
        t.write("dep.tmp", "");
        // record `dep` while it was a real file, then make it dangle
        std::fs::remove_file(t.p("dep")).unwrap();
        t.write("dep", "d");
        t.target("x", "x", &[("ifchange", "dep")]);
        std::fs::remove_file(t.p("dep")).unwrap();
        std::os::unix::fs::symlink("nowhere", t.p("dep")).unwrap();
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        let c = closure(&mut ch, &[t.p("x")]);
        let mut pr = Problems::default();
        assert!(sources(&c, &t.here(), &mut pr).is_empty());
        assert_eq!(pr.0, ["dep: dangling symlink"]);
    }
}
