//! `redo-ood`: which targets a build would rebuild, and why.
//!
//! The decision is [`crate::ood::Checker::check`], the code a build runs, with
//! the invoker's build run UUID (a fresh random one at top level, so no
//! `.dep` counts as "built in this run") and inode trust. Nothing is built or
//! written. Checkers are shared by whole chunks of candidates
//! ([`super::closure::par_closure`]), so each `.dep` is read and each file
//! hashed at most once per thread.
//!
//! Candidates are the closure's targets plus the operands themselves (an
//! operand never built, or whose `.dep` is gone, is out of date as a build
//! would find it; a source operand is not listed).
//!
//! Always-targets are out of date, and so is every target depending on one
//! (reason: the dependency is out of date): a build rebuilds the
//! always-target first and then only those dependants whose input really
//! changed, which cannot be known without building.

use std::path::PathBuf;

use super::closure::{par_closure, Found, Want};
use crate::ood::Reason;
use crate::state::dirlist::KnownAbsent;
use crate::state::inode::InodeTrust;
use crate::target::Target;
use std::sync::Arc;

/// The out-of-date targets among `starts` (absolute or relative, see
/// [`super::Here`]) and the targets of their closure, each once with the
/// first reason found, unsorted; checked with `threads` threads.
pub fn ood(
    build: [u8; 16],
    trust: InodeTrust,
    starts: &[Target],
    threads: usize,
    known: Option<Arc<dyn KnownAbsent>>,
) -> (Vec<(PathBuf, Reason)>, Found) {
    let mut f = par_closure(
        build,
        trust,
        starts,
        Want {
            ood: true,
            sources: false,
        },
        threads,
        known,
    );
    (std::mem::take(&mut f.ood), f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;
    use std::path::Path;

    fn run(t: &Tree, start: &str, threads: usize) -> Vec<(String, String)> {
        let root = t.root();
        let mut v: Vec<(String, String)> = ood(
            crate::build_id::new(),
            InodeTrust::Ctime,
            &[Target::new(root.join(start))],
            threads,
            None,
        )
        .0
        .into_iter()
        .map(|(p, r)| {
            let show = |q: &Path| paths_rel(&root, q);
            (paths_rel(&root, &p), r.describe(&show))
        })
        .collect();
        v.sort();
        v
    }

    fn paths_rel(root: &Path, p: &Path) -> String {
        crate::paths::rel(root, p).to_string_lossy().into_owned()
    }

    #[test]
    fn reasons() {
        let t = Tree::new();
        t.write("a.c", "a");
        t.write("b.c", "b");
        t.write("default.o.do", "x");
        t.target(
            "a.o",
            "ao",
            &[("ifchange", "default.o.do"), ("ifchange", "a.c")],
        );
        t.target(
            "b.o",
            "bo",
            &[
                ("ifcreate", "b.o.do"),
                ("ifchange", "default.o.do"),
                ("ifchange", "b.c"),
            ],
        );
        t.target("all", "", &[("ifchange", "a.o"), ("ifchange", "b.o")]);
        assert!(run(&t, "all", 1).is_empty());
        t.write("a.c", "changed");
        t.write("b.o.do", "x");
        assert_eq!(run(&t, "all", 1), run(&t, "all", 4));
        assert_eq!(
            run(&t, "all", 1),
            [
                ("a.o".into(), "a.c changed: size differs".into()),
                (
                    "all".into(),
                    "a.o is out of date: a.c changed: size differs".into()
                ),
                ("b.o".into(), "b.o.do appeared (ifcreate)".into()),
            ]
        );
    }
}
