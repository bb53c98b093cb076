//! `redo-dot`: the dependency graph in Graphviz DOT.
//!
//! ```text
//! digraph d {
//!     rankdir=LR;
//!     node [shape=box];
//!     "all" -> "a.o";
//!     "a.o" -> "a.o.do" [style=dotted];
//! }
//! ```
//!
//! One edge per recorded dependency of each target of the closure: ifchange
//! (and ifchange-nonexistent) solid, ifcreate dotted; self-records skipped,
//! duplicates dropped. Targets in bytewise order of their shown names, edges
//! in record order. Names are relative to the invoking directory, quoted,
//! with `"` and `\` escaped and newline / carriage return written `\n` / `\r`
//! (so every name, however odd, is one DOT ID that `dot` accepts, distinct
//! names stay distinct, and the label shows the name). Invalid UTF-8 is
//! replaced (DOT input is UTF-8).

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::closure::{edges, Edge};
use crate::ood::{Checker, DepState};
use crate::target::Target;

/// A DOT quoted string for `name`. Graphviz reads UTF-8 only, so a byte
/// that is not part of valid UTF-8 is written `\xNN`, where a backslash
/// of the name is written `\\`: two names never quote alike.
pub fn quote(name: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// The DOT text for the targets `targets` (absolute), names shown relative
/// to the cwd.
pub fn dot(checker: &mut Checker, targets: &[Target], here: &super::Here) -> String {
    let mut ts: Vec<(PathBuf, &Target)> = targets.iter().map(|t| (here.show(t), t)).collect();
    ts.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    ts.dedup_by(|a, b| a.0 == b.0);
    let mut out = String::from("digraph d {\n\trankdir=LR;\n\tnode [shape=box];\n");
    for (shown, t) in ts {
        let DepState::Present(dep) = checker.dep(t) else {
            continue;
        };
        let from = quote(shown.as_os_str().as_bytes());
        let mut seen = HashSet::new();
        for (p, e) in edges(t, &dep) {
            if !seen.insert((p.clone(), e)) {
                continue;
            }
            let to = quote(here.show(&p).as_os_str().as_bytes());
            out.push('\t');
            out.push_str(&from);
            out.push_str(" -> ");
            out.push_str(&to);
            if e == Edge::Ifcreate {
                out.push_str(" [style=dotted]");
            }
            out.push_str(";\n");
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;

    #[test]
    fn quoting() {
        assert_eq!(quote(b"a b"), "\"a b\"");
        assert_eq!(quote(b"q\"\\\n\r"), "\"q\\\"\\\\\\n\\r\"");
        assert_eq!(quote("é".as_bytes()), "\"é\"");
        // Not UTF-8: each such byte in hex, apart from a name spelling it.
        assert_eq!(quote(b"x\xff"), "\"x\\xff\"");
        assert_eq!(quote(b"x\\xff"), "\"x\\\\xff\"");
        assert_ne!(quote(b"x\xff"), quote(b"x\xfe"));
    }

    #[test]
    fn graph_text() {
        let t = Tree::new();
        t.write("a.c", "a");
        t.target(
            "a.o",
            "ao",
            &[
                ("ifcreate", "a.o.do"),
                ("ifchange", "a.c"),
                ("ifchange", "a.c"),
            ],
        );
        t.target("all", "", &[("ifchange", "a.o"), ("nonexistent", "x\"y")]);
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        let got = dot(&mut ch, &[t.t("all"), t.t("a.o")], &t.here());
        assert_eq!(
            got,
            "digraph d {\n\trankdir=LR;\n\tnode [shape=box];\n\
             \t\"a.o\" -> \"a.o.do\" [style=dotted];\n\t\"a.o\" -> \"a.c\";\n\
             \t\"all\" -> \"a.o\";\n\t\"all\" -> \"x\\\"y\";\n}\n"
        );
    }
}
