//! Paths for the kernel to walk from the working directory.
//!
//! The engine names every file by its absolute, clean path, and the kernel
//! walks each component of a path it is given: `stat` of a file 8
//! directories below a working directory that is itself 4 deep looks up 12
//! names, 4 of them the same for every file of the build. Given the path
//! relative to the working directory, it looks up 8. A check of a tree
//! makes tens of thousands of such calls, and ninja, which names files from
//! its directory, makes the shorter walk.
//!
//! Invariant: ferredo never changes its working directory (a child's
//! `chdir` runs after the clone, on the child's own; see `spawn`), so a path
//! below it, made relative, names the same file for the life of the
//! process. The working directory is read once; a path not below it (or a
//! working directory that cannot be read) is used as it is.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

/// `path` (absolute, clean) relative to the working directory if it is
/// below it, else `path` itself.
pub fn walk_from_cwd(path: &Path) -> &Path {
    static CWD: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let cwd = CWD.get_or_init(|| {
        let cwd = std::env::current_dir().ok()?;
        let b = cwd.as_os_str().as_bytes();
        // The root: every absolute path is already as short.
        (b.len() > 1).then(|| b.to_vec())
    });
    let Some(cwd) = cwd else { return path };
    match path.as_os_str().as_bytes().strip_prefix(cwd.as_slice()) {
        Some([b'/', rest @ ..]) if !rest.is_empty() => Path::new(OsStr::from_bytes(rest)),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_below_the_working_directory_is_walked_from_it() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(walk_from_cwd(&cwd.join("a/b")), Path::new("a/b"));
        // The working directory itself, and paths beside it, stay whole.
        assert_eq!(walk_from_cwd(&cwd), cwd.as_path());
        let beside = format!("{}x/y", cwd.display());
        assert_eq!(walk_from_cwd(Path::new(&beside)), Path::new(&beside));
        assert_eq!(walk_from_cwd(Path::new("/")), Path::new("/"));
    }
}
