//! `redo-affects`: every target that transitively depends on any of the
//! given paths, following the recorded edges backwards over the whole tree
//! below the invoking directory (and the targets elsewhere that tree depends
//! on).
//!
//! Edges followed: ifchange, ifchange-nonexistent and ifcreate records
//! (self-records skipped). An ifcreate edge counts because creating that
//! file (say a more specific `x.o.do`) rebuilds the target. The operands
//! themselves are listed only when reached from another operand.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::closure::edges;
use crate::ood::{Checker, DepState};
use crate::target::Target;

/// Targets affected by `operands` (absolute), given every known target
/// `targets` (absolute), unsorted.
pub fn affects(checker: &mut Checker, targets: &[Target], operands: &[PathBuf]) -> Vec<Target> {
    let mut rev: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        if let DepState::Present(dep) = checker.dep(t) {
            for (p, _) in edges(t, &dep) {
                rev.entry(p.into()).or_default().push(i);
            }
        }
    }
    let mut reached: HashSet<usize> = HashSet::new();
    let mut queue: Vec<&Path> = operands.iter().map(PathBuf::as_path).collect();
    while let Some(p) = queue.pop() {
        if let Some(users) = rev.get(p) {
            for &u in users {
                if reached.insert(u) {
                    queue.push(&targets[u]);
                }
            }
        }
    }
    reached.into_iter().map(|i| targets[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;

    #[test]
    fn reverse_closure() {
        let t = Tree::new();
        t.write("a.c", "a");
        t.write("b.c", "b");
        t.target("a.o", "ao", &[("ifcreate", "a.o.do"), ("ifchange", "a.c")]);
        t.target("b.o", "bo", &[("ifchange", "b.c")]);
        t.target("lib", "l", &[("ifchange", "a.o"), ("ifchange", "b.o")]);
        t.target("all", "", &[("ifchange", "lib")]);
        t.target("other", "", &[("ifchange", "b.c")]);
        let targets: Vec<Target> = ["a.o", "b.o", "lib", "all", "other"]
            .iter()
            .map(|n| t.t(n))
            .collect();
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        let q = |ch: &mut Checker, ops: &[&str]| {
            let ops: Vec<PathBuf> = ops.iter().map(|o| t.p(o)).collect();
            let v = affects(ch, &targets, &ops);
            t.here().shown_sorted(v)
        };
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(q(&mut ch, &["a.c"]), p(&["a.o", "all", "lib"]));
        assert_eq!(q(&mut ch, &["a.o.do"]), p(&["a.o", "all", "lib"]));
        assert_eq!(q(&mut ch, &["b.c"]), p(&["all", "b.o", "lib", "other"]));
        assert_eq!(
            q(&mut ch, &["a.c", "lib"]),
            p(&["a.o", "all", "lib"]),
            "lib reached from a.c"
        );
        assert_eq!(q(&mut ch, &["lib"]), p(&["all"]));
        assert!(q(&mut ch, &["all"]).is_empty());
    }
}
