//! `redo-whichdo`: the .do search for one target, as a build performs it
//! ([`crate::dofile::search`], honouring `REDO_TOP_DIR` and `.redo/top`):
//! each candidate tried that does not exist, in search order, then the .do
//! found (if any) last; paths relative to the invoking directory (`default.do`,
//! not `./default.do`). The target's directory need not exist.

use std::path::{Path, PathBuf};

use crate::target::Target;

/// The lines to print and whether a .do was found.
pub fn whichdo(target: &Target, top_dir: Option<&Path>, cwd: &Path) -> (Vec<PathBuf>, bool) {
    let s = crate::dofile::search(target, top_dir);
    let mut lines: Vec<PathBuf> = s.tried.iter().map(|p| crate::paths::rel(cwd, p)).collect();
    let found = s.found.is_some();
    if let Some(f) = s.found {
        lines.push(crate::paths::rel(cwd, &f.do_path));
    }
    (lines, found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tree;

    #[test]
    fn relative_lines_and_top() {
        let t = Tree::new();
        t.write("default.z.do", "");
        t.write("a/b/.keep", "");
        let (l, found) = whichdo(&t.t("a/b/x.y.z"), Some(&t.root()), &t.p("a"));
        assert!(found);
        let l: Vec<String> = l.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            l,
            [
                "b/x.y.z.do",
                "b/default.y.z.do",
                "b/default.z.do",
                "b/default.do",
                "default.y.z.do",
                "default.z.do",
                "default.do",
                "../default.y.z.do",
                "../default.z.do"
            ]
        );
        let (l, found) = whichdo(&t.t("a/q"), Some(&t.p("a")), &t.p("a"));
        assert!(!found);
        assert_eq!(l, [PathBuf::from("q.do"), PathBuf::from("default.do")]);
    }
}
