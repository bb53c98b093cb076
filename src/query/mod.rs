//! The query applets' engine: questions asked of a build tree's recorded
//! state, never a build. Nothing here writes to the terminal or parses argv;
//! the CLI (`bin/redo/query*`) renders what these functions return.
//!
//! # Vocabulary
//!
//! * A **target** is a path `D/X` for which `D/.redo/X.dep` exists (readable
//!   or not). The **tree below a directory** is every target found by
//!   [`walk`]ing it: all `.redo` directories beneath it, without following
//!   symlinked directories.
//! * The **dependencies** of a target are the paths of its ifchange and
//!   ifchange-nonexistent records, minus its own self-record; ifcreate records
//!   are dependencies only for [`affects`] and [`dot`] (see there).
//! * The **closure** of a set of start paths ([`closure`]) is every target
//!   reachable from them through dependencies, the start paths included when
//!   they are targets. With no operands the start set is the walked tree, so
//!   `redo-targets` in a subdirectory also names the targets elsewhere that
//!   the subdirectory's targets depend on (they would be built by building
//!   it).
//! * A **source** is a dependency of a target in the closure that is not a
//!   target itself, exists, and has no `X.do` beside it — the rule the
//!   out-of-date check ([`crate::ood::Checker`]) uses. `.do` files are
//!   therefore sources (as in goredo): editing one changes what gets built.
//!   Missing dependencies are not sources.
//!
//! # Output conventions
//!
//! Every list is sorted bytewise on the path as printed (relative to the
//! invoking directory, [`Here::show`]), as Go's `sort.Strings` does.
//! Problems (a corrupt `.dep`, an unreadable `.redo` directory, a dangling
//! symlink) are collected in [`Problems`] while the rest of the answer is
//! still computed; the CLI prints them and exits 1.
//!
//! # Speed
//!
//! A no-op `redo-ood` over ten thousand targets is dominated by system calls,
//! so the aim is the fewest per target (about six: read the `.dep`, `stat`
//! the target and its sources) and no per-target work on one thread only:
//!
//! * paths stay relative to a canonical cwd ([`Here`]): short kernel lookups;
//! * the walk ([`walk::targets_par`]) reads `d_type` (no `stat` per entry),
//!   runs the subdirectories on several threads, never canonicalizes, and
//!   keeps a [`walk::Listing`] of what it saw, which tells the checkers which
//!   files do not exist (most `.do` candidates, every source's `.dep`)
//!   without asking the kernel; a `.redo/` whose `.dep` cache is complete
//!   is not listed: its targets are the cache's names, and neither is a
//!   directory whose names the cache remembers, current, with its
//!   subdirectories ([`closure::CachedTree`]); the checks find the caches
//!   loaded;
//! * [`closure::par_closure`] reads every `.dep` once, then runs the
//!   [`crate::ood::Checker`] level by level from the leaves up, on several
//!   threads, each checker seeded with the `.dep`s, verdicts and `stat`s
//!   already known — the code path and verdicts of a build, without its
//!   repeated work.

pub mod affects;
pub mod cleanup;
pub mod closure;
pub mod dep2rec;
pub mod depfix;
pub mod dot;
pub mod log;
pub mod ood;
pub mod walk;
pub mod whichdo;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Messages about things that could not be read, each naming the file.
/// Collected while the other results are still computed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Append the unusable `.dep` files met (as [`crate::ood::Checker::dep_errors`]
    /// lists them), paths shown relative to the cwd, each once.
    pub fn add_dep_errors(&mut self, errors: Vec<(PathBuf, String)>, here: &Here) {
        for (target, msg) in errors {
            let dep = crate::target::Target::new(target.clone()).dep_path();
            let prefix = format!("{}: ", dep.display());
            let why = msg.strip_prefix(&prefix).unwrap_or(&msg);
            let line = format!(
                "{}: {why}: unusable, so a build rebuilds {}",
                here.show(&dep).to_string_lossy(),
                here.show(&target).to_string_lossy()
            );
            if !self.0.contains(&line) {
                self.0.push(line);
            }
        }
    }
}

/// Where a query runs, and how paths are handled there.
///
/// When the logical cwd is the physical one (no symlink in `$PWD`), every
/// path is kept *relative* to it: `d/x`, `../lib/y.h`. The kernel then walks
/// only the components below the cwd for each of the many `stat`s an
/// out-of-date check makes, and the shown form needs no computation. This is
/// exact because lexical cleaning leaves `..` only at the start of a
/// relative path, and from a canonical cwd a leading `..` names the logical
/// parent. Otherwise (cwd reached through a symlink) paths are absolute,
/// against the logical cwd as goredo's; an operand's `..` after a symlink
/// is applied physically, though (`paths::resolve_join`).
#[derive(Clone, Debug)]
pub struct Here {
    cwd: PathBuf,
    relative: bool,
}

impl Here {
    /// `cwd` is the absolute logical working directory; relative mode is
    /// chosen when it is canonical.
    pub fn new(cwd: PathBuf) -> Here {
        let relative = std::fs::canonicalize(&cwd).is_ok_and(|c| c == cwd);
        Here { cwd, relative }
    }

    /// Always work with absolute paths.
    pub fn absolute(cwd: PathBuf) -> Here {
        Here {
            cwd,
            relative: false,
        }
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The root to walk: empty (the cwd) in relative mode, else the cwd.
    pub fn root(&self) -> &Path {
        if self.relative {
            Path::new("")
        } else {
            &self.cwd
        }
    }

    /// A command-line operand as a clean path of this mode, naming what the
    /// operating system would open (see `paths::resolve_join`).
    pub fn resolve(&self, op: &Path) -> PathBuf {
        let abs = crate::paths::resolve_join(&self.cwd, op);
        if self.relative {
            crate::paths::rel(&self.cwd, &abs)
        } else {
            abs
        }
    }

    /// A path of this mode as an absolute one.
    pub fn absolute_of(&self, p: &Path) -> PathBuf {
        crate::paths::abs_join(&self.cwd, p)
    }

    /// A path (of either form) as shown to the user: relative to the cwd,
    /// in its shortest form (`../sub/x` from `sub` is `x`).
    pub fn show(&self, p: &Path) -> PathBuf {
        if p.is_absolute() || p.as_os_str().as_bytes().starts_with(b"../") {
            crate::paths::rel(&self.cwd, &crate::paths::abs_join(&self.cwd, p))
        } else if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    }

    /// Paths (of either form) to their shown form, sorted bytewise.
    pub fn shown_sorted<P: AsRef<Path>>(&self, v: impl IntoIterator<Item = P>) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = v.into_iter().map(|p| self.show(p.as_ref())).collect();
        sort_bytes(&mut v);
        v
    }
}

/// Sort paths bytewise (not component-wise as `Path`'s `Ord` does) and drop
/// duplicates.
pub fn sort_bytes<P: AsRef<Path> + PartialEq>(v: &mut Vec<P>) {
    v.sort_unstable_by(|a, b| {
        let (a, b) = (a.as_ref().as_os_str(), b.as_ref().as_os_str());
        a.as_bytes().cmp(b.as_bytes())
    });
    v.dedup();
}

/// Why a query could not answer about one file; the message names the
/// file as the user should see it and, where it helps, what to do.
#[derive(Debug)]
pub enum QueryError {
    /// Reading the file (as shown) failed.
    Io {
        file: String,
        source: std::io::Error,
    },
    /// A `.dep` (as shown) that does not exist: never built by redo.
    NoDep(String),
    /// A `.dep` (as shown) that does not decode.
    Corrupt {
        file: String,
        source: crate::state::dep::DecodeError,
    },
    /// A recfile that does not parse.
    Rec(crate::state::rec::RecError),
    /// No log kept for the target (as shown).
    NoLog(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Io { file, source } => write!(f, "{file}: {source}"),
            QueryError::NoDep(file) => {
                write!(f, "{file}: no such .dep (the target was never built by redo)")
            }
            QueryError::Corrupt { file, source } => write!(f, "{file}: {source}"),
            QueryError::Rec(e) => e.fmt(f),
            QueryError::NoLog(t) => write!(
                f,
                "no log kept for {t}: logs are kept only by builds with -k (REDO_LOGS=1); run `redo -k {t}`"
            ),
        }
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueryError::Io { source, .. } => Some(source),
            QueryError::Corrupt { source, .. } => Some(source),
            QueryError::Rec(e) => Some(e),
            _ => None,
        }
    }
}

/// True when `p` is a symlink whose target does not exist.
pub fn is_dangling(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(p).is_err()
}

#[cfg(test)]
impl crate::testutil::Tree {
    /// The tree's root as the invoking directory of a query.
    pub fn here(&self) -> Here {
        Here::absolute(self.root())
    }
}
