//! Which .do builds a target (goredo's Rules): for `dir/base.a.b`,
//! `dir/base.a.b.do` (in the target's own directory only), then in `dir` and
//! each parent in turn `default.a.b.do`, `default.b.do`, `default.do`. The
//! search stops after the directory equal to `REDO_TOP_DIR`, after a
//! directory holding `.redo/top`, or at `/`. Candidates tried before the one
//! found become ifcreate dependencies; the one found an ifchange dependency.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::target::Target;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Absolute path of the .do file.
    pub do_path: PathBuf,
    /// Its directory: the .do's cwd.
    pub do_dir: PathBuf,
    /// Target directory relative to the .do's directory ("" when the same).
    pub dirprefix: PathBuf,
    /// `$1`: dirprefix/basename.
    pub arg1: PathBuf,
    /// `$2`: `$1` without the extension matched by `default.<ext>.do`.
    pub arg2: PathBuf,
    /// True for `default*.do` files (shown in completion lines).
    pub is_default: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// Absolute paths of candidates that did not exist, in search order.
    pub tried: Vec<PathBuf>,
    pub found: Option<Found>,
}

/// Suffixes of a basename, longest first: `a.b.c` → `b.c`, `c`. Every
/// dot starts one, a trailing dot too (`x.` → the empty suffix, so
/// `default..do`), as splitting the name at its dots gives (goredo, and
/// apenwarr's redo).
fn suffixes(base: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for (i, &c) in base.iter().enumerate() {
        if c == b'.' {
            out.push(&base[i + 1..]);
        }
    }
    out
}

fn name(parts: &[&[u8]]) -> OsString {
    OsString::from_vec(parts.concat())
}

/// Search for the .do of `target`, with an optional absolute top
/// directory. `exists` is injected so that tests and
/// `redo-whichdo` share the exact logic.
pub fn search_with(
    target: &Target,
    top_dir: Option<&Path>,
    exists: &dyn Fn(&Path) -> bool,
) -> Search {
    let (tdir, base) = (target.dir(), target.base().as_bytes());
    let mut s = Search::default();

    let exact = tdir.join(name(&[base, b".do"]));
    if exists(&exact) {
        s.found = Some(found(target, &exact, None));
        return s;
    }
    s.tried.push(exact);

    let exts = suffixes(base);
    let mut dir = tdir.to_path_buf();
    loop {
        let mut candidates: Vec<(PathBuf, Option<&[u8]>)> = exts
            .iter()
            .map(|e| (dir.join(name(&[b"default.", e, b".do"])), Some(*e)))
            .collect();
        candidates.push((dir.join("default.do"), None));
        for (cand, ext) in candidates {
            if exists(&cand) {
                s.found = Some(found(target, &cand, Some(ext)));
                return s;
            }
            s.tried.push(cand);
        }
        let at_top = top_dir.is_some_and(|t| t == dir) || exists(&dir.join(".redo/top"));
        match dir.parent() {
            Some(p) if !at_top => dir = p.to_path_buf(),
            _ => break,
        }
    }
    s
}

pub fn search(target: &Target, top_dir: Option<&Path>) -> Search {
    search_with(target, top_dir, &|p| p.exists())
}

/// [`search`], with the `stat` (following symlinks) it made of the `.do`
/// it found: a build records that file, and need not ask again.
pub fn search_stat(target: &Target, top_dir: Option<&Path>) -> (Search, Option<std::fs::Metadata>) {
    // The last candidate that exists is the one found: a `.redo/top` that
    // exists ends the search with nothing found.
    let last = std::cell::RefCell::new(None);
    let s = search_with(target, top_dir, &|p| match std::fs::metadata(p) {
        Ok(m) => {
            *last.borrow_mut() = Some(m);
            true
        }
        Err(_) => false,
    });
    let meta = s.found.as_ref().and(last.into_inner());
    (s, meta)
}

fn found(target: &Target, do_path: &Path, default_ext: Option<Option<&[u8]>>) -> Found {
    let do_dir = crate::paths::dir_of(do_path).to_path_buf();
    let tdir = target.dir();
    let dirprefix = if tdir == do_dir {
        PathBuf::new()
    } else {
        crate::paths::rel(&do_dir, tdir)
    };
    let arg1 = dirprefix.join(target.base());
    let arg2 = match default_ext {
        Some(Some(ext)) => {
            let a = arg1.as_os_str().as_bytes();
            let cut = a.len() - ext.len() - 1;
            PathBuf::from(OsStr::from_bytes(&a[..cut]))
        }
        _ => arg1.clone(),
    };
    Found {
        do_path: do_path.to_path_buf(),
        do_dir,
        dirprefix,
        arg1,
        arg2,
        is_default: default_ext.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> Target {
        Target::new(PathBuf::from(p))
    }

    /// The candidates a search tried, as text.
    fn tried(s: &Search) -> Vec<String> {
        s.tried
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn search_stat_gives_the_stat_of_the_do_found_and_none_without_one() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("sub/.redo")).unwrap();
        std::fs::write(root.join("default.do"), "echo up").unwrap();
        std::fs::write(root.join("sub/default.x.do"), "echo x").unwrap();
        let (s, meta) = search_stat(&Target::new(root.join("sub/a.x")), None);
        let found = s.found.unwrap().do_path;
        assert_eq!(found, root.join("sub/default.x.do"));
        let want = std::fs::metadata(&found).unwrap();
        assert_eq!(
            meta.map(|m| (m.ino(), m.len())),
            Some((want.ino(), want.len()))
        );
        // `.redo/top` exists (a stat that succeeded) and ends the search
        // before the upper `default.do`: nothing found, no stat given.
        std::fs::write(root.join("sub/.redo/top"), "").unwrap();
        let (s, meta) = search_stat(&Target::new(root.join("sub/a.y")), None);
        assert!(s.found.is_none());
        assert!(meta.is_none());
    }

    #[test]
    fn whichdo_nonexist_list() {
        let s = search_with(&t("/__nonexist/a/x.y.z"), None, &|_| false);
        let got = tried(&s);
        assert_eq!(
            got,
            [
                "/__nonexist/a/x.y.z.do",
                "/__nonexist/a/default.y.z.do",
                "/__nonexist/a/default.z.do",
                "/__nonexist/a/default.do",
                "/__nonexist/default.y.z.do",
                "/__nonexist/default.z.do",
                "/__nonexist/default.do",
                "/default.y.z.do",
                "/default.z.do",
                "/default.do",
            ]
        );
        assert!(s.found.is_none());
    }

    #[test]
    fn leading_dot_and_args() {
        let s = search_with(&t("/p/.x.y"), Some(Path::new("/p")), &|_| false);
        let got = tried(&s);
        assert_eq!(
            got,
            [
                "/p/.x.y.do",
                "/p/default.x.y.do",
                "/p/default.y.do",
                "/p/default.do"
            ]
        );

        let s = search_with(&t("/r/a/b/file.z"), None, &|p| {
            p == Path::new("/r/a/default.z.do")
        });
        let f = s.found.unwrap();
        assert_eq!(f.arg1, PathBuf::from("b/file.z"));
        assert_eq!(f.arg2, PathBuf::from("b/file"));
        assert_eq!(f.dirprefix, PathBuf::from("b"));
        assert_eq!(f.do_dir, PathBuf::from("/r/a"));

        let s = search_with(&t("/r/a.b.c"), None, &|p| {
            p == Path::new("/r/default.b.c.do")
        });
        assert_eq!(s.found.unwrap().arg2, PathBuf::from("a"));
        let s = search_with(&t("/r/a.b.c"), None, &|p| p == Path::new("/r/default.do"));
        assert_eq!(s.found.unwrap().arg2, PathBuf::from("a.b.c"));
    }

    #[test]
    fn a_trailing_dot_gives_the_empty_suffix() {
        let s = search_with(&t("/p/x."), Some(Path::new("/p")), &|_| false);
        let got = tried(&s);
        assert_eq!(got, ["/p/x..do", "/p/default..do", "/p/default.do"]);
        let s = search_with(&t("/p/x."), None, &|p| p == Path::new("/p/default..do"));
        let f = s.found.unwrap();
        assert_eq!((f.arg1, f.arg2), (PathBuf::from("x."), PathBuf::from("x")));
    }
}
