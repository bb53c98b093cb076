//! `redo-cleanup`: remove redo's own files below a directory, nothing else.
//!
//! * `tmp`: every entry whose name starts with `.redo.` (temporary outputs
//!   `D/.redo.T.*`, `.dep`s being written `D/.redo/.redo.T.dep.*`), files,
//!   directories or symlinks, anywhere below, inside `.redo/` too;
//! * `log`: every `*.log` and `*.log-rec` inside a `.redo/` directory;
//! * `full`: every `.redo` directory (a real directory, not a symlink to
//!   one), plus what `tmp` removes outside them.
//!
//! Modes combine; a path is listed once, and nothing inside a listed
//! directory is listed separately. Symlinks are removed, never followed.
//! [`plan`] only looks; [`remove`] deletes what a plan lists.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::walk::{walk, Kind, Step};
use super::{Here, Problems};
use crate::state::{REDO_DIR, TMP_PREFIX};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tmp,
    Log,
    Full,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "tmp" => Some(Mode::Tmp),
            "log" => Some(Mode::Log),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }
}

/// The paths `modes` would remove below the cwd, sorted bytewise.
pub fn plan(here: &Here, modes: &[Mode], problems: &mut Problems) -> Vec<PathBuf> {
    let full = modes.contains(&Mode::Full);
    let tmp = full || modes.contains(&Mode::Tmp);
    let log = modes.contains(&Mode::Log);
    let mut out = Vec::new();
    walk(here, problems, &mut |e| {
        let n = e.name.as_bytes();
        let is_tmp = n.starts_with(TMP_PREFIX.as_bytes());
        if !e.in_redo {
            if full && e.kind == Kind::Dir && n == REDO_DIR.as_bytes() {
                out.push(e.path.to_path_buf());
                return Step::Skip;
            }
            if tmp && is_tmp {
                out.push(e.path.to_path_buf());
                return Step::Skip;
            }
            return Step::Enter;
        }
        let is_log = matches!(e.kind, Kind::File | Kind::Symlink)
            && (n.ends_with(b".log") || n.ends_with(b".log-rec"));
        if (tmp && is_tmp) || (log && is_log) {
            out.push(e.path.to_path_buf());
        }
        Step::Skip
    });
    super::sort_bytes(&mut out);
    out
}

/// Remove each path (a real directory recursively, anything else as a
/// file; symlinks themselves). Returns those removed; failures are problems.
pub fn remove(paths: &[PathBuf], here: &Here, problems: &mut Problems) -> Vec<PathBuf> {
    let mut done = Vec::new();
    for p in paths {
        let r = match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
            Ok(_) => std::fs::remove_file(p),
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => done.push(p.clone()),
            Err(e) => problems.push(format!("cannot remove {}: {e}", here.show(p).display())),
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tree;

    fn fixture() -> Tree {
        let t = Tree::new();
        for f in [
            "a",
            ".redo/a.dep",
            ".redo/a.lock",
            ".redo/a.log",
            ".redo/a.log-rec",
            ".redo/.redo.a.dep.1f2e",
            ".redo.a.99",
            "sub/.redo.x.1.3",
            "sub/.redo/x.dep",
            "sub/.redo/x.log",
            "sub/keep.log",
            "sub/.redox",
            ".redo.dir/inner",
        ] {
            t.write(f, "");
        }
        std::os::unix::fs::symlink(t.p("sub"), t.p("linked")).unwrap();
        t
    }

    fn planned(t: &Tree, modes: &[Mode]) -> Vec<String> {
        let mut pr = Problems::default();
        let v = plan(&t.here(), modes, &mut pr);
        assert!(pr.is_empty());
        t.here()
            .shown_sorted(v)
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn plans() {
        let t = fixture();
        assert_eq!(
            planned(&t, &[Mode::Tmp]),
            [
                ".redo.a.99",
                ".redo.dir",
                ".redo/.redo.a.dep.1f2e",
                "sub/.redo.x.1.3"
            ]
        );
        assert_eq!(
            planned(&t, &[Mode::Log]),
            [".redo/a.log", ".redo/a.log-rec", "sub/.redo/x.log"]
        );
        assert_eq!(
            planned(&t, &[Mode::Full]),
            [
                ".redo",
                ".redo.a.99",
                ".redo.dir",
                "sub/.redo",
                "sub/.redo.x.1.3"
            ]
        );
        assert_eq!(
            planned(&t, &[Mode::Log, Mode::Full]),
            planned(&t, &[Mode::Full])
        );
        assert_eq!(
            planned(&t, &[Mode::Log, Mode::Tmp]),
            [
                ".redo.a.99",
                ".redo.dir",
                ".redo/.redo.a.dep.1f2e",
                ".redo/a.log",
                ".redo/a.log-rec",
                "sub/.redo.x.1.3",
                "sub/.redo/x.log"
            ]
        );
    }

    #[test]
    fn removes_exactly_the_plan() {
        let t = fixture();
        let mut pr = Problems::default();
        let p = plan(&t.here(), &[Mode::Full], &mut pr);
        let done = remove(&p, &t.here(), &mut pr);
        assert_eq!(done, p);
        assert!(pr.is_empty());
        assert!(t.p("a").exists() && t.p("sub/keep.log").exists() && t.p("sub/.redox").exists());
        assert!(!t.p(".redo").exists() && !t.p(".redo.dir").exists() && !t.p("sub/.redo").exists());
        assert!(t.p("linked").exists());
    }
}
