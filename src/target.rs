//! One target's names, made once: its absolute clean path, its directory and
//! base name, and where goredo keeps its state (`D/.redo/base.dep`, `.lock`,
//! `.log`, `.log-rec`), as goredo's `Tgt` holds them.
//!
//! Every step that works on a target (the `.do` search, the out-of-date
//! check, the job, the commit, the queries) takes a [`Target`], so no step
//! splits a path again. The directory and the base name are slices of the
//! path, found by one scan when the `Target` is made: they cost no allocation
//! and no second scan. The state files' paths are built when asked for: a
//! check reads most `.dep` files through its directory's cache, by base name,
//! and never needs the `.dep`'s own path, so storing it in every `Target`
//! would cost an allocation per dependency checked for nothing.
//!
//! A `Target` derefs to its [`Path`]: a function that needs only the path
//! (a `stat`, a memo lookup, a message) takes `&Path`, and is given `&target`.
//!
//! Invariant: the path is clean ([`crate::paths::clean`]) and names a file,
//! not `/`, so its last `/` separates the directory from the base name, and
//! two `Target`s are equal exactly when their paths' bytes are. A build's
//! targets are absolute; a query's may be relative to its working directory
//! (`query::Here`'s relative mode: `d/x`, `x`, `../lib/y`), where a name
//! without `/` is in the directory `""`.

use std::ffi::{OsStr, OsString};
use std::ops::Deref;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The directory beside each target that holds its state.
pub const REDO_DIR: &str = ".redo";

/// A target: its absolute clean path, split once (see the module essay).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    path: PathBuf,
    /// Where the base name starts: one past the path's last `/`.
    base_at: usize,
}

impl Target {
    /// The target at the clean path `path`.
    pub fn new(path: PathBuf) -> Target {
        let b = path.as_os_str().as_bytes();
        let base_at = b.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
        Target { path, base_at }
    }

    /// The target named `rel` (as a `.dep` records it) from the clean
    /// directory `dir`.
    pub fn join(dir: &Path, rel: &Path) -> Target {
        Target::new(crate::paths::abs_join(dir, rel))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn into_path_buf(self) -> PathBuf {
        self.path
    }

    /// The directory the target is in (`/` for `/x`, `""` for `x`).
    pub fn dir(&self) -> &Path {
        let b = self.path.as_os_str().as_bytes();
        let end = match self.base_at {
            0 => 0,
            1 => 1, // `/x`: the root keeps its `/`
            n => n - 1,
        };
        Path::new(OsStr::from_bytes(&b[..end]))
    }

    /// The target's file name, as `.dep` records name it.
    pub fn base(&self) -> &OsStr {
        OsStr::from_bytes(&self.path.as_os_str().as_bytes()[self.base_at..])
    }

    /// The target's base name as a relative path (a `.dep`'s self-record).
    pub fn base_path(&self) -> &Path {
        Path::new(self.base())
    }

    /// `D/.redo/<base><suffix>`.
    pub fn state_file(&self, suffix: &str) -> PathBuf {
        let mut name = OsString::with_capacity(self.base().len() + suffix.len());
        name.push(self.base());
        name.push(suffix);
        self.dir().join(REDO_DIR).join(name)
    }

    /// `D/.redo/<base>.dep`: the dependency record.
    pub fn dep_path(&self) -> PathBuf {
        self.state_file(".dep")
    }

    /// `D/.redo/<base>.lock`: the fcntl lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.state_file(".lock")
    }

    /// `D/.redo/<base>.log`: the `-k` log of the `.do`'s stderr.
    pub fn log_path(&self) -> PathBuf {
        self.state_file(".log")
    }

    /// `D/.redo/<base>.log-rec`: the `-k` record of the job.
    pub fn log_rec_path(&self) -> PathBuf {
        self.state_file(".log-rec")
    }
}

impl Deref for Target {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Target {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for Target {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

impl From<Target> for PathBuf {
    fn from(t: Target) -> PathBuf {
        t.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_agrees_with_the_path_functions() {
        for p in [
            "/a",
            "/a/b",
            "/a/b.c.d",
            "/x/.redo",
            "/a/b/c/d/e",
            "x",
            "d/x",
            "../l/y",
        ] {
            let t = Target::new(PathBuf::from(p));
            assert_eq!(t.dir(), crate::paths::dir_of(Path::new(p)), "{p}");
            assert_eq!(t.base(), crate::paths::base_of(Path::new(p)), "{p}");
            assert_eq!(t.path(), Path::new(p));
        }
    }

    #[test]
    fn state_files_are_beside_the_target() {
        let t = Target::new(PathBuf::from("/d/e/t.o"));
        assert_eq!(t.dep_path(), Path::new("/d/e/.redo/t.o.dep"));
        assert_eq!(t.lock_path(), Path::new("/d/e/.redo/t.o.lock"));
        assert_eq!(t.log_path(), Path::new("/d/e/.redo/t.o.log"));
        assert_eq!(t.log_rec_path(), Path::new("/d/e/.redo/t.o.log-rec"));
        let top = Target::new(PathBuf::from("/t"));
        assert_eq!(top.dep_path(), Path::new("/.redo/t.dep"));
        let here = Target::new(PathBuf::from("t"));
        assert_eq!(here.dep_path(), Path::new(".redo/t.dep"));
    }

    #[test]
    fn join_cleans_and_splits() {
        let t = Target::join(Path::new("/a/b"), Path::new("../c/d.x"));
        assert_eq!(t.path(), Path::new("/a/c/d.x"));
        assert_eq!(t.dir(), Path::new("/a/c"));
        assert_eq!(t.base(), "d.x");
    }

    #[test]
    fn names_that_are_not_utf8_survive() {
        use std::os::unix::ffi::OsStringExt;
        let raw = OsString::from_vec(b"/d/\xff\xfe.o".to_vec());
        let t = Target::new(PathBuf::from(raw));
        assert_eq!(t.base().as_bytes(), b"\xff\xfe.o");
        assert_eq!(t.dir(), Path::new("/d"));
    }
}
