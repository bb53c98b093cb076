//! Directory listings as an existence oracle for big trees.
//!
//! An out-of-date check of a 10000-target tree asks "does this exist?" tens
//! of thousands of times for names that mostly share a few directories (the
//! `.redo/` holding every `.dep`, the `.do` candidates beside the targets,
//! source files). After a few questions about one directory we read its
//! listing once (a handful of `getdents` calls) and answer from memory, which
//! replaces one failed `open`/`stat` per question.
//!
//! Answers are `lstat`-like (a dangling symlink exists) and reflect the
//! directory at the time it was listed: holders drop the cache whenever they
//! build something. `None` means "not known": the caller asks the kernel.

use std::ffi::OsString;
use std::path::Path;

use crate::ood::{FastMap, FastSet};

/// Questions about one directory answered by `stat` before it is listed.
const LIST_AFTER: u32 = 8;

#[derive(Default)]
pub struct DirLists {
    /// Keyed by the directory's bytes: `Path`'s own hash walks components.
    dirs: FastMap<OsString, Entry>,
}

enum Entry {
    Counting(u32),
    Listed(FastSet<OsString>),
    /// The directory does not exist: nothing below it exists.
    Missing,
    /// Unreadable (permissions): always ask the kernel.
    Unknown,
}

impl DirLists {
    pub fn clear(&mut self) {
        self.dirs.clear();
    }

    /// The answer for `path` if its directory is already listed (or known
    /// missing), without counting: `None` when [`DirLists::exists`] must be
    /// asked.
    pub fn known(&self, path: &Path) -> Option<bool> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let cut = bytes.iter().rposition(|&b| b == b'/')?;
        let name = std::ffi::OsStr::from_bytes(&bytes[cut + 1..]);
        match self
            .dirs
            .get(std::ffi::OsStr::from_bytes(&bytes[..cut.max(1)]))?
        {
            Entry::Listed(names) if !name.is_empty() => Some(names.contains(name)),
            Entry::Missing if !name.is_empty() => Some(false),
            _ => None,
        }
    }

    /// Does `path` exist (not following a final symlink)? `None` when the
    /// answer must come from the kernel.
    pub fn exists(&mut self, path: &Path) -> Option<bool> {
        // Split on the last `/` by bytes: `Path::parent` re-parses
        // components, which shows in profiles of big trees.
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let cut = bytes.iter().rposition(|&b| b == b'/')?;
        let (dir, name) = (
            &bytes[..cut.max(1)],
            std::ffi::OsStr::from_bytes(&bytes[cut + 1..]),
        );
        if name.is_empty() {
            return None;
        }
        let dir = std::ffi::OsStr::from_bytes(dir);
        let entry = match self.dirs.get_mut(dir) {
            Some(e) => e,
            None => self
                .dirs
                .entry(dir.to_owned())
                .or_insert(Entry::Counting(0)),
        };
        match entry {
            Entry::Listed(names) => Some(names.contains(name)),
            Entry::Missing => Some(false),
            Entry::Unknown => None,
            Entry::Counting(n) => {
                *n += 1;
                if *n < LIST_AFTER {
                    return None;
                }
                *entry = list(Path::new(dir));
                match entry {
                    Entry::Listed(names) => Some(names.contains(name)),
                    Entry::Missing => Some(false),
                    _ => None,
                }
            }
        }
    }
}

fn list(dir: &Path) -> Entry {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut all = Vec::new();
            for e in rd {
                match e {
                    Ok(e) => all.push(e.file_name()),
                    Err(_) => return Entry::Unknown,
                }
            }
            let mut names = FastSet::with_capacity_and_hasher(all.len(), Default::default());
            names.extend(all);
            Entry::Listed(names)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Entry::Missing,
        Err(_) => Entry::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_lstat_after_listing() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(d.path().join(format!("f{i}")), "").unwrap();
        }
        std::os::unix::fs::symlink("nowhere", d.path().join("dangling")).unwrap();
        let mut l = DirLists::default();
        let mut answers = Vec::new();
        for i in 0..40 {
            answers.push(l.exists(&d.path().join(format!("f{i}"))));
        }
        // Early questions go to the kernel, later ones are answered.
        assert_eq!(answers[0], None);
        assert_eq!(answers[10], Some(true));
        assert_eq!(answers[30], Some(false));
        assert_eq!(l.exists(&d.path().join("dangling")), Some(true));
        assert_eq!(l.exists(&d.path().join("nodir/x")), None);
    }
}

/// A shareable [`DirLists`] for the out-of-date checker's absence oracle.
/// Parallel checkers mostly ask about listed directories: they share a read
/// lock, and take the write lock only to count or list.
#[derive(Default)]
pub struct SharedDirLists(std::sync::RwLock<DirLists>);

impl SharedDirLists {
    fn exists(&self, path: &Path) -> Option<bool> {
        {
            let g = self.0.read().unwrap_or_else(|e| e.into_inner());
            if let Some(a) = g.known(path) {
                return Some(a);
            }
        }
        let mut g = self.0.write().unwrap_or_else(|e| e.into_inner());
        g.exists(path)
    }
}

impl crate::ood::KnownAbsent for SharedDirLists {
    fn absent(&self, path: &Path) -> bool {
        self.exists(path) == Some(false)
    }

    fn present(&self, path: &Path) -> bool {
        self.exists(path) == Some(true)
    }
}
