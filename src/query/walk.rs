//! The tree walk: every directory below a root, without following symlinked
//! directories, listing each `.redo` directory met but never descending
//! below it. Entry kinds come from `d_type` (no `stat` per entry), and the
//! path buffer is reused, so a walk costs one `getdents` per directory.
//!
//! An unreadable directory is a problem (named, relative to the root) and
//! the walk goes on with the others.

use std::ffi::OsStr;
use std::fs::FileType;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Here, Problems};
use crate::fasthash::{hash_bytes, FastMap, FastSet};
use crate::state::dirlist::KnownAbsent;
use crate::state::dirnames::DirNames;
use crate::state::{REDO_DIR, TMP_PREFIX};
use crate::target::Target;
use std::ffi::OsString;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

impl Kind {
    fn of(t: FileType) -> Kind {
        if t.is_symlink() {
            Kind::Symlink
        } else if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else {
            Kind::Other
        }
    }
}

/// One directory entry met by [`walk`].
pub struct Entry<'a> {
    /// Full path (the root joined with the entry's relative path).
    pub path: &'a Path,
    pub name: &'a OsStr,
    pub kind: Kind,
    /// The entry is inside a `.redo` directory.
    pub in_redo: bool,
}

/// What the visitor wants done with a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Descend (for a real directory; `.redo` directories are listed, not
    /// descended further).
    Enter,
    /// Do not look inside (the visitor is removing or ignoring it).
    Skip,
}

/// Visit every entry below the cwd (depth first, in directory order), paths
/// in `here`'s form. A cwd that is itself a `.redo` directory is listed as
/// one.
pub fn walk(here: &Here, problems: &mut Problems, visit: &mut dyn FnMut(&Entry<'_>) -> Step) {
    walk_listing(here, problems, None, visit)
}

/// [`walk`], also recording in `listing` every directory read and every
/// entry seen.
pub fn walk_listing(
    here: &Here,
    problems: &mut Problems,
    listing: Option<&mut Listing>,
    visit: &mut dyn FnMut(&Entry<'_>) -> Step,
) {
    let mut buf = here.root().to_path_buf();
    let in_redo = cwd_is_redo(here);
    let mut w = Walker {
        here,
        problems,
        listing,
        visit,
        memory: None,
    };
    w.dir(&mut buf, in_redo, None);
}

/// Is the cwd itself a `.redo` directory?
fn cwd_is_redo(here: &Here) -> bool {
    here.cwd()
        .file_name()
        .is_some_and(|n| n.as_bytes() == REDO_DIR.as_bytes())
}

/// One walk's state: where it reports, what it records, whom it asks.
struct Walker<'w, 'l> {
    here: &'w Here,
    problems: &'w mut Problems,
    listing: Option<&'l mut Listing>,
    visit: &'w mut dyn FnMut(&Entry<'_>) -> Step,
    /// A directory whose names this remembers, current, is not read: its
    /// subdirectories are visited from them (and only they: the walks that
    /// pass a memory look for directories).
    memory: Option<&'w dyn WalkMemory>,
}

impl Walker<'_, '_> {
    /// Read the directory `buf` and visit its entries; descend into the
    /// directories the visitor enters, or with `defer`, hand them back
    /// instead (with whether each is a `.redo` directory).
    fn dir(
        &mut self,
        buf: &mut PathBuf,
        in_redo: bool,
        mut defer: Option<&mut Vec<(PathBuf, bool)>>,
    ) {
        if !in_redo && self.recalled(buf, &mut defer) {
            return;
        }
        let dir: &Path = if buf.as_os_str().is_empty() {
            Path::new(".")
        } else {
            buf
        };
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => return self.cannot_read(buf, &e),
        };
        if let Some(l) = self.listing.as_mut() {
            l.listed.insert(buf.as_os_str().to_os_string());
        }
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => return self.cannot_read(buf, &e),
            };
            let kind = match ent.file_type() {
                Ok(t) => Kind::of(t),
                Err(_) => Kind::Other,
            };
            let name = ent.file_name();
            buf.push(&name);
            if let Some(l) = self.listing.as_mut() {
                l.entries.insert(hash_bytes(buf.as_os_str().as_bytes()));
            }
            self.entry(buf, &name, kind, in_redo, &mut defer);
            buf.pop();
        }
    }

    /// Visit the subdirectories of `buf` from the names remembered of it,
    /// if they are current; false (nothing done) when they are not known.
    fn recalled(
        &mut self,
        buf: &mut PathBuf,
        defer: &mut Option<&mut Vec<(PathBuf, bool)>>,
    ) -> bool {
        let Some(names) = self.memory.and_then(|m| m.names(buf)) else {
            return false;
        };
        let subdirs: Vec<OsString> = match names.subdirs() {
            Some(s) => s.map(|n| OsStr::from_bytes(n).to_os_string()).collect(),
            None => return false,
        };
        if let Some(l) = self.listing.as_mut() {
            l.recalled.insert(buf.as_os_str().to_os_string(), names);
        }
        for name in subdirs {
            buf.push(&name);
            self.entry(buf, &name, Kind::Dir, false, defer);
            buf.pop();
        }
        true
    }

    /// Visit the entry `buf` (named `name`), and descend into it (or defer
    /// it) if it is a directory the visitor enters.
    fn entry(
        &mut self,
        buf: &mut PathBuf,
        name: &OsStr,
        kind: Kind,
        in_redo: bool,
        defer: &mut Option<&mut Vec<(PathBuf, bool)>>,
    ) {
        let step = (self.visit)(&Entry {
            path: buf,
            name,
            kind,
            in_redo,
        });
        if kind == Kind::Dir && step == Step::Enter && !in_redo {
            let is_redo = name.as_bytes() == REDO_DIR.as_bytes();
            match defer.as_mut() {
                Some(d) => d.push((buf.clone(), is_redo)),
                None => self.dir(buf, is_redo, None),
            }
        }
    }

    fn cannot_read(&mut self, buf: &Path, e: &std::io::Error) {
        self.problems.push(format!(
            "cannot read directory {}: {e}",
            self.here.show(buf).display()
        ));
    }
}

/// The names a walk saw: every directory it read and every entry in them,
/// as paths in the walk's form, and the names remembered of the directories
/// it did not read. Tells the out-of-date checker which files certainly do
/// not exist ([`KnownAbsent`]).
#[derive(Debug, Default)]
pub struct Listing {
    listed: FastSet<OsString>,
    /// Directories not read but remembered (see [`WalkMemory::names`]): the
    /// names they had, which rule out the others.
    recalled: FastMap<OsString, Arc<DirNames>>,
    /// The hash of each entry's path: no allocation per file of the tree.
    /// Two paths of one hash only make an absent one pass for present
    /// (asked of the kernel), never the other way round.
    entries: FastSet<u64>,
}

impl Listing {
    /// Nothing was listed (no walk): knows nothing.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.recalled.is_empty()
    }
}

impl KnownAbsent for Listing {
    /// Absent when the deepest ancestor directory of `path` the walk read
    /// (or recalled) lacks the next component. A path with `..` (outside
    /// the walk) is unknown.
    fn absent(&self, path: &Path) -> bool {
        let b = path.as_os_str().as_bytes();
        if b == b".." || b.starts_with(b"../") || b.is_empty() {
            return false;
        }
        let child = |from: usize| -> &[u8] {
            match b[from..].iter().position(|&c| c == b'/') {
                Some(k) => &b[..from + k],
                None => b,
            }
        };
        let present = |p: &[u8]| self.entries.contains(&hash_bytes(p));
        // The name below `dir` (the bytes from `from`) is ruled out by it.
        let ruled_out = |dir: &[u8], from: usize| -> Option<bool> {
            if self.listed.contains(OsStr::from_bytes(dir)) {
                return Some(!present(child(from)));
            }
            let names = self.recalled.get(OsStr::from_bytes(dir))?;
            Some(names.rules_out(&child(from)[from..]))
        };
        for i in (0..b.len()).rev().filter(|&i| b[i] == b'/') {
            if let Some(absent) = ruled_out(&b[..i], i + 1) {
                return absent;
            }
        }
        if b[0] != b'/' {
            return ruled_out(b"", 0).unwrap_or(false);
        }
        false
    }
}

/// What a walk for targets found.
#[derive(Debug, Default)]
pub struct Targets {
    /// Target paths (`D/X` for each `D/.redo/X.dep`), unsorted.
    pub targets: Vec<Target>,
    /// Legacy goredo 1.x `D/.redo/X.rec` files.
    pub legacy: Vec<PathBuf>,
    /// The `.redo` directories met.
    pub redo_dirs: Vec<PathBuf>,
}

/// Every target below the cwd: `X` for each `.redo/X.dep` (a file or a
/// symlink; names starting with `.redo.` are temporary files, skipped).
pub fn targets(here: &Here, problems: &mut Problems) -> Targets {
    targets_listing(here, problems, None)
}

/// [`targets`], also filling `listing`.
pub fn targets_listing(
    here: &Here,
    problems: &mut Problems,
    listing: Option<&mut Listing>,
) -> Targets {
    let mut out = Targets::default();
    walk_listing(here, problems, listing, &mut |e| out.visit(e, None));
    out
}

/// What a walk for targets may know of a directory without reading it
/// (the `.dep` caches, see [`super::closure::CachedTree`]).
pub trait WalkMemory: Sync {
    /// The target names of `dir` from elsewhere than a listing of its
    /// `.redo/` (its complete `.dep` cache): calls `each` with each and says
    /// whether it knew them (else the walk lists `.redo/`).
    fn targets(&self, dir: &Path, each: &mut dyn FnMut(&OsStr)) -> bool;

    /// The names of `dir` remembered from a listing, when they are still
    /// current (see [`crate::state::dirnames`]) and tell its subdirectories.
    fn names(&self, dir: &Path) -> Option<Arc<DirNames>>;
}

/// A walk is split among the threads once the top of the tree offers this
/// many subtrees per thread: a narrow top (a root over three directories)
/// is opened level by level here first, so that no thread is left with
/// most of the tree.
const SUBTREES_PER_THREAD: usize = 8;

/// The levels a walk opens before it splits, at most.
const MAX_OPENED_LEVELS: usize = 4;

/// [`targets_listing`] on up to `threads` threads: the top of the tree is
/// read here (see [`SUBTREES_PER_THREAD`]), the subtrees below it are taken
/// one at a time by the threads, and the results merged (problems in the
/// order of the subtrees). A `.redo/` whose targets `memory` gives is not
/// listed: its entries are then missing from `listing` (which only makes
/// them unknown, not absent), and so are its legacy `.rec` files. A
/// directory whose names `memory` remembers is not listed either: its
/// subdirectories are walked from them, and `listing` keeps the names.
pub fn targets_par(
    here: &Here,
    problems: &mut Problems,
    listing: &mut Listing,
    threads: usize,
    memory: Option<&dyn WalkMemory>,
) -> Targets {
    let mut out = Targets::default();
    let subtrees = open_top(here, problems, listing, threads, &mut out, memory);
    let n = threads.clamp(1, 64).min(subtrees.len()).max(1);
    let taken = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Subtrees> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|_| s.spawn(|| walk_subtrees(here, &subtrees, &taken, memory)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("walk thread panicked"))
            .collect()
    });
    let mut found_problems = Vec::new();
    for p in parts {
        out.targets.extend(p.targets.targets);
        out.legacy.extend(p.targets.legacy);
        out.redo_dirs.extend(p.targets.redo_dirs);
        listing.listed.extend(p.listing.listed);
        listing.entries.extend(p.listing.entries);
        listing.recalled.extend(p.listing.recalled);
        found_problems.extend(p.problems);
    }
    found_problems.sort_by_key(|(at, _)| *at);
    for (_, p) in found_problems {
        problems.0.extend(p.0);
    }
    out
}

/// Read the cwd, and the levels below it while they are narrow (see
/// [`SUBTREES_PER_THREAD`]), into `out`; the subtrees left to walk, each
/// with whether it is a `.redo` directory.
fn open_top(
    here: &Here,
    problems: &mut Problems,
    listing: &mut Listing,
    threads: usize,
    out: &mut Targets,
    memory: Option<&dyn WalkMemory>,
) -> Vec<(PathBuf, bool)> {
    let mut buf = here.root().to_path_buf();
    let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
    let mut visit = |e: &Entry<'_>| out.visit(e, memory);
    let mut w = Walker {
        here,
        problems,
        listing: Some(listing),
        visit: &mut visit,
        memory,
    };
    w.dir(&mut buf, cwd_is_redo(here), Some(&mut dirs));
    for _ in 0..MAX_OPENED_LEVELS {
        let narrow = dirs.len() < threads * SUBTREES_PER_THREAD;
        if threads < 2 || !narrow || dirs.iter().all(|(_, is_redo)| *is_redo) {
            break;
        }
        let mut next = Vec::new();
        for (mut d, is_redo) in std::mem::take(&mut dirs) {
            if is_redo {
                next.push((d, true));
            } else {
                w.dir(&mut d, false, Some(&mut next));
            }
        }
        dirs = next;
    }
    dirs
}

/// What one thread of [`targets_par`] found.
struct Subtrees {
    targets: Targets,
    listing: Listing,
    /// The problems of each subtree that had some, with its ordinal.
    problems: Vec<(usize, Problems)>,
}

/// Walk subtrees of `all`, taking the next one not yet `taken` until none
/// is left.
fn walk_subtrees(
    here: &Here,
    all: &[(PathBuf, bool)],
    taken: &std::sync::atomic::AtomicUsize,
    memory: Option<&dyn WalkMemory>,
) -> Subtrees {
    let mut out = Subtrees {
        targets: Targets::default(),
        listing: Listing::default(),
        problems: Vec::new(),
    };
    loop {
        let at = taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some((dir, is_redo)) = all.get(at) else {
            return out;
        };
        let (mut buf, mut p) = (dir.clone(), Problems::default());
        let targets = &mut out.targets;
        let mut visit = |e: &Entry<'_>| targets.visit(e, memory);
        let mut w = Walker {
            here,
            problems: &mut p,
            listing: Some(&mut out.listing),
            visit: &mut visit,
            memory,
        };
        w.dir(&mut buf, *is_redo, None);
        if !p.is_empty() {
            out.problems.push((at, p));
        }
    }
}

impl Targets {
    /// The walk visitor collecting targets, legacy `.rec`s and `.redo` dirs
    /// (whose targets `memory` may give without a listing).
    fn visit(&mut self, e: &Entry<'_>, memory: Option<&dyn WalkMemory>) -> Step {
        if !e.in_redo {
            if e.kind == Kind::Dir && e.name.as_bytes() == REDO_DIR.as_bytes() {
                self.redo_dirs.push(e.path.to_path_buf());
                return match memory {
                    Some(memory) => self.known_targets(e.path, memory),
                    None => Step::Enter,
                };
            }
            return Step::Enter;
        }
        let n = e.name.as_bytes();
        if !matches!(e.kind, Kind::File | Kind::Symlink) {
            return Step::Skip;
        }
        let dir = e.path.parent().and_then(Path::parent);
        if let (Some(t), Some(dir)) = (n.strip_suffix(b".dep").filter(|t| is_target_name(t)), dir) {
            self.targets
                .push(Target::new(dir.join(OsStr::from_bytes(t))));
        } else if n.strip_suffix(b".rec").is_some_and(is_target_name) {
            self.legacy.push(e.path.to_path_buf());
        }
        Step::Skip
    }

    /// The targets of the `.redo` directory `redo` if they are known
    /// without listing it (then skip it), as a listing would find them.
    fn known_targets(&mut self, redo: &Path, memory: &dyn WalkMemory) -> Step {
        let Some(dir) = redo.parent() else {
            return Step::Enter;
        };
        let targets = &mut self.targets;
        let mut each = |name: &OsStr| {
            if is_target_name(name.as_bytes()) {
                targets.push(Target::new(dir.join(name)));
            }
        };
        if memory.targets(dir, &mut each) {
            Step::Skip
        } else {
            Step::Enter
        }
    }
}

/// Is `X` of a `.redo/X.dep` (or `X.rec`) a target's name: not empty, and
/// not a temporary file's (`.redo.` names, see [`TMP_PREFIX`]).
fn is_target_name(x: &[u8]) -> bool {
    !x.is_empty() && !x.starts_with(TMP_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tree;

    #[test]
    fn finds_dep_files_only_below_root_and_skips_symlinked_dirs() {
        let t = Tree::new();
        t.write("a/.redo/x.dep", "");
        t.write("a/.redo/x.lock", "");
        t.write("a/.redo/.redo.y.dep.123", "");
        t.write("a/.redo/old.rec", "");
        t.write(".redo/top.dep", "");
        t.write("b/c/.redo/with space.dep", "");
        t.write("outside/.redo/o.dep", "");
        std::os::unix::fs::symlink(t.p("outside"), t.p("b/link")).unwrap();
        let mut pr = Problems::default();
        let mut found = targets(&Here::absolute(t.root()), &mut pr);
        crate::query::sort_bytes(&mut found.targets);
        let rel: Vec<_> = found
            .targets
            .iter()
            .map(|p| crate::paths::rel(&t.root(), p))
            .collect();
        assert_eq!(
            rel,
            [
                PathBuf::from("a/x"),
                PathBuf::from("b/c/with space"),
                PathBuf::from("outside/o"),
                PathBuf::from("top")
            ]
        );
        assert_eq!(found.legacy, [t.p("a/.redo/old.rec")]);
        assert!(pr.is_empty());

        let mut pr = Problems::default();
        let found = targets(&Here::absolute(t.p("b")), &mut pr);
        assert_eq!(
            found.targets,
            [t.t("b/c/with space")],
            "the symlinked dir is not followed"
        );
    }

    #[test]
    fn parallel_walk_finds_the_same() {
        let t = Tree::new();
        for f in [
            "a/.redo/x.dep",
            "a/b/.redo/y.dep",
            "c/.redo/z.dep",
            ".redo/top.dep",
            "d/e/f/.redo/g.rec",
        ] {
            t.write(f, "");
        }
        let here = Here::absolute(t.root());
        let (mut p1, mut p2) = (Problems::default(), Problems::default());
        let (mut l1, mut l2) = (Listing::default(), Listing::default());
        let mut a = targets_listing(&here, &mut p1, Some(&mut l1));
        let mut b = targets_par(&here, &mut p2, &mut l2, 3, None);
        crate::query::sort_bytes(&mut a.targets);
        crate::query::sort_bytes(&mut b.targets);
        for v in [&mut a.legacy, &mut b.legacy] {
            crate::query::sort_bytes(v);
        }
        assert_eq!((a.targets, a.legacy), (b.targets, b.legacy));
        assert_eq!((l1.listed, l1.entries), (l2.listed, l2.entries));
    }

    #[test]
    fn known_targets_replace_the_listing_of_their_redo_dir() {
        let t = Tree::new();
        t.write("a/.redo/x.dep", "");
        t.write("a/.redo/z.dep", "");
        t.write("b/.redo/w.dep", "");
        let here = Here::absolute(t.root());
        let a = t.p("a");
        // Knows `a` (with a temp name and an empty one to skip), not `b`.
        struct Knows(PathBuf);
        impl WalkMemory for Knows {
            fn targets(&self, dir: &Path, each: &mut dyn FnMut(&OsStr)) -> bool {
                if dir != self.0 {
                    return false;
                }
                for n in ["x", ".redo.x.123", "", "y"] {
                    each(OsStr::new(n));
                }
                true
            }
            fn names(&self, _: &Path) -> Option<Arc<DirNames>> {
                None
            }
        }
        let (mut pr, mut l) = (Problems::default(), Listing::default());
        let mut found = targets_par(&here, &mut pr, &mut l, 2, Some(&Knows(a)));
        crate::query::sort_bytes(&mut found.targets);
        assert_eq!(found.targets, [t.t("a/x"), t.t("a/y"), t.t("b/w")]);
        assert_eq!(found.redo_dirs.len(), 2);
        assert!(
            !l.absent(&t.p("a/.redo/q.dep")),
            "a/.redo unlisted: unknown"
        );
        assert!(l.absent(&t.p("b/.redo/q.dep")));
    }

    #[test]
    fn remembered_names_replace_the_listing_of_their_directory() {
        let t = Tree::new();
        t.write("a/b/.redo/x.dep", "");
        t.write("a/c/.redo/y.dep", "");
        t.write("a/f", "");
        t.write("z/.redo/w.dep", "");
        // Remembers `a` without `c`: the walk must go by the memory, not
        // read `a` (a stale memory is the memory's to rule out).
        struct Remembers(PathBuf);
        impl WalkMemory for Remembers {
            fn targets(&self, _: &Path, _: &mut dyn FnMut(&OsStr)) -> bool {
                false
            }
            fn names(&self, dir: &Path) -> Option<Arc<DirNames>> {
                (dir == self.0).then(|| {
                    let all = [&b"b"[..], b"c", b"f"];
                    let names = DirNames::new([0; 7], all.into_iter());
                    Arc::new(names.with_subdirs([&b"b"[..]].into_iter()))
                })
            }
        }
        let here = Here::absolute(t.root());
        let (mut pr, mut l) = (Problems::default(), Listing::default());
        let mut found = targets_par(&here, &mut pr, &mut l, 2, Some(&Remembers(t.p("a"))));
        crate::query::sort_bytes(&mut found.targets);
        assert_eq!(found.targets, [t.t("a/b/x"), t.t("z/w")]);
        assert!(pr.is_empty());
        // Absence below `a` from the names remembered, below `a/b` from its listing.
        assert!(!l.absent(&t.p("a/f")) && !l.absent(&t.p("a/c/y")));
        assert!(l.absent(&t.p("a/g")) && l.absent(&t.p("a/g/h")));
        assert!(l.absent(&t.p("a/b/q")) && !l.absent(&t.p("a/b/.redo")));
    }

    #[test]
    fn listing_knows_absence() {
        let t = Tree::new();
        t.write("a/x", "");
        t.write("a/.redo/x.dep", "");
        std::fs::create_dir(t.p("b")).unwrap();
        std::os::unix::fs::symlink(t.p("a"), t.p("link")).unwrap();
        let mut l = Listing::default();
        let mut pr = Problems::default();
        targets_listing(&Here::absolute(t.root()), &mut pr, Some(&mut l));
        let abs = |r: &str| l.absent(&t.p(r));
        assert!(!abs("a/x") && !abs("a/.redo/x.dep") && !abs("a") && !abs("b"));
        assert!(abs("a/y") && abs("a/.redo/y.dep") && abs("b/.redo/z.dep") && abs("c/d/e"));
        assert!(!abs("link/y"), "not below a listed dir: unknown");
        assert!(!l.absent(&t.root().parent().unwrap().join("elsewhere")));
        assert!(!l.absent(Path::new("../x")));
    }

    #[test]
    fn unreadable_dir_is_a_problem_not_a_stop() {
        use std::os::unix::fs::PermissionsExt;
        let t = Tree::new();
        t.write("a/.redo/x.dep", "");
        t.write("z/.redo/y.dep", "");
        std::fs::set_permissions(t.p("a/.redo"), std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read_dir(t.p("a/.redo")).is_ok() {
            // running as root: permissions do not apply
            std::fs::set_permissions(t.p("a/.redo"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            return;
        }
        let mut pr = Problems::default();
        let found = targets(&Here::absolute(t.root()), &mut pr);
        std::fs::set_permissions(t.p("a/.redo"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(found.targets, [t.t("z/y")]);
        assert_eq!(pr.0.len(), 1);
        assert!(
            pr.0[0].starts_with("cannot read directory a/.redo: "),
            "{:?}",
            pr.0
        );
    }
}
