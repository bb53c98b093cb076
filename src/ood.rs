//! The out-of-date decision (goredo's `isOOD`), returning its reason as data
//! so that `redo -d`, `redo-ood` and `redo-ood --why` all explain themselves
//! with the same code path a build uses.
//!
//! For a target `T`:
//! 1. no `.dep`: a *source* if the file exists and there is no `T.do` beside
//!    it, else out of date (never built);
//! 2. built in this build run (`.dep` BuildUUID = ours): up to date;
//! 3. an `always` record: out of date;
//! 4. the file is missing: out of date;
//! 5. an ifcreate dependency now exists: out of date;
//! 6. each ifchange dependency in recorded order: missing, a different size,
//!    or (unless the inode data is trusted equal) a different BLAKE3 hash makes
//!    `T` out of date; a dependency that is itself a target is checked
//!    recursively; `T`'s own record is skipped;
//! 7. an ifchange-nonexistent dependency follows that dependency's verdict, and
//!    makes `T` out of date if the file appeared.
//!
//! Verdicts, parsed `.dep` files and file hashes are memoised for the life of
//! a [`Checker`]. A dependency cycle recorded on disk is cut (the repeated
//! target counts as up to date) so a check always terminates.

use std::ffi::OsString;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fasthash::{FastMap, FastSet};
use crate::paths;
use crate::state::dep::{self, Dep, Hash, Record};
use crate::state::depcache::{self, Cached, FileKey, Snapshot};
use crate::state::dirlist::KnownAbsent;
use crate::state::inode::{Inode, InodeTrust};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No `.dep` and not a source: never built by redo.
    NeverBuilt,
    /// The `.dep` is the intent of a commit that a kill cut short.
    CommitCutShort,
    /// The `.dep` cannot be parsed (message says why).
    CorruptDep(String),
    Always,
    /// The target file does not exist.
    Missing,
    /// A file recorded with redo-ifcreate (or a more specific .do) appeared.
    IfcreateAppeared(PathBuf),
    /// An ifchange dependency is gone.
    DepMissing(PathBuf),
    /// An ifchange dependency's size differs.
    DepSize(PathBuf),
    /// An ifchange dependency's content hash differs.
    DepHash(PathBuf),
    /// A dependency that produced nothing earlier now exists.
    DepAppeared(PathBuf),
    /// A dependency is itself out of date.
    DepOod(PathBuf, Box<Reason>),
}

impl Reason {
    /// One line, paths shown through `show` (relative to the user's cwd).
    pub fn describe(&self, show: &dyn Fn(&Path) -> String) -> String {
        match self {
            Reason::NeverBuilt => "never built".into(),
            Reason::CorruptDep(m) => format!("unreadable .dep: {m}"),
            Reason::Always => "always rebuilt (redo-always)".into(),
            Reason::CommitCutShort => "its last build was cut short during its commit".into(),
            Reason::Missing => "target does not exist".into(),
            Reason::IfcreateAppeared(p) => format!("{} appeared (ifcreate)", show(p)),
            Reason::DepMissing(p) => format!("{} is missing", show(p)),
            Reason::DepSize(p) if is_do(p) => format!("{} (.do) changed: size differs", show(p)),
            Reason::DepHash(p) if is_do(p) => format!("{} (.do) changed: content differs", show(p)),
            Reason::DepSize(p) => format!("{} changed: size differs", show(p)),
            Reason::DepHash(p) => format!("{} changed: content differs", show(p)),
            Reason::DepAppeared(p) => format!("{} appeared", show(p)),
            Reason::DepOod(p, r) => format!("{} is out of date: {}", show(p), r.describe(show)),
        }
    }
}

fn is_do(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "do")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A source file (or a missing non-target): nothing to build.
    Source,
    UpToDate,
    Ood(Reason),
}

impl Verdict {
    pub fn is_ood(&self) -> bool {
        matches!(self, Verdict::Ood(_))
    }
}

/// Result of reading a target's `.dep`.
#[derive(Clone, Debug)]
pub enum DepState {
    Absent,
    Corrupt(String),
    Present(Arc<Dep>),
}

/// Memo key: the path's bytes. Every path here is lexically clean, so
/// bytewise equality is path equality, and hashing the bytes avoids
/// `Path`'s component-wise `Hash`.
type Key = OsString;

fn key(p: &Path) -> Key {
    p.as_os_str().to_os_string()
}

pub struct Checker {
    pub build: [u8; 16],
    pub trust: InodeTrust,
    verdicts: FastMap<Key, Verdict>,
    deps: FastMap<Key, DepState>,
    hashes: FastMap<Key, Option<Hash>>,
    /// Memoised `lstat` existence of ifcreate paths: the `.do` candidates
    /// recorded as ifcreate are shared by every target of a directory.
    lexists: FastMap<Key, bool>,
    /// Memoised `stat` (following symlinks): a shared dependency such as a
    /// `default.do` is compared against every dependant's record.
    stats: FastMap<Key, Option<Inode>>,
    visiting: FastSet<Key>,
    /// When set, always-targets met below the operands are collected here and
    /// treated as up to date for this pass (goredo builds them first).
    pub collect_always: Option<Vec<PathBuf>>,
    /// Warnings (corrupt .dep files) for the caller to report.
    pub warnings: Vec<String>,
    /// Every warning queued so far (kept across [`Checker::reset`]).
    warned: FastSet<String>,
    /// Optional knowledge of absent files (the query applets' tree walk).
    pub known_absent: Option<std::sync::Arc<dyn KnownAbsent>>,
    /// A worker of [`Checker::check_fan_in`] (or of a query, which splits
    /// its work itself): does not split its work again.
    pub(crate) no_parallel: bool,
    /// The workers of [`Checker::check_fan_in`], kept alive with their
    /// memos for [`Checker::on_parked`].
    parked: Vec<Parked>,
    /// What each parked worker decided of its share, consulted after our
    /// own memos: moving a worker's table here costs nothing, while merging
    /// its entries into ours took milliseconds of a 10000-target check, on
    /// one core, after the workers were done. Later workers consult them
    /// too (a later parallel pass often meets subtrees decided already).
    delegated: Vec<Arc<FastMap<Key, Decided>>>,
    /// What the parked workers vouch for among the up-to-date paths they
    /// checked (see [`Checker::vouch`]), noted while their memos were hot,
    /// so that a harvest need not wake them for these.
    delegated_up: Vec<(PathBuf, Vouch)>,
    /// A check met a target already being checked above it (a recorded
    /// dependency cycle) and cut it there: verdicts above the cut are not
    /// those of a plain walk.
    met_cycle: bool,
    /// The `.redo/` snapshots and `.dep` caches ([`crate::state::depcache`])
    /// of the directories met, shareable between the checkers of one query.
    pub dep_caches: Arc<DepCaches>,
    /// This checker's handles on [`Checker::dep_caches`]' views.
    views: FastMap<Key, Arc<DirView>>,
    /// `.dep` files this checker read from disk (cache misses), by target
    /// directory, for writing the caches when it is done.
    fresh: FastMap<Key, Vec<Fresh>>,
}

/// A target with this many dependencies is checked on all the cores
/// ([`Checker::check_fan_in`]).
pub const PARALLEL_FAN_IN: usize = 256;

/// [`Checker::check_many`] splits this many paths among workers: each may
/// be a subtree (the rest of an out-of-date fan-in in a deep tree).
const CHECK_MANY_PARALLEL: usize = 8;

/// A `.redo/` this large (about a thousand entries) marks a big tree: see
/// [`Checker::check_fan_in`].
const BIG_DIR_BYTES: u64 = 32 << 10;

/// Work for a parked worker: its checker and the paths it was given.
type ParkedJob = Box<dyn FnOnce(&mut Checker, &[PathBuf]) + Send>;

/// A worker of [`Checker::check_fan_in`] after its check: its thread waits
/// with its checker for one job ([`Checker::on_parked`]), or for the sender
/// to go, and ends. (Its memos stay in the caches of the CPU that made
/// them: moving the job to another thread was measured slower.)
struct Parked(std::sync::mpsc::Sender<ParkedJob>);

/// What a checker can tell other processes of the run about an up-to-date
/// target ([`Checker::vouch`]).
#[derive(Clone, Copy, Debug)]
pub struct Vouch {
    /// The target's self-record (inode data and hash), if its file is as
    /// recorded.
    pub own: Option<(Inode, Hash)>,
    /// Its `.dep` carries this run's BuildUUID.
    pub built: bool,
}

/// A path a parked worker checked: its `stat` and its verdict.
struct Decided {
    st: Option<Inode>,
    verdict: Verdict,
}

/// What [`Checker::take_fresh`] hands over.
pub struct DepFresh(FastMap<Key, Vec<Fresh>>);

/// A `.dep` this checker can vouch for, for the cache write.
enum Fresh {
    /// Read from disk, with its key (taken through the open file).
    Read(OsString, FileKey, Vec<u8>),
    /// The cache's entry (by ordinal), whose key `stat` confirmed.
    Kept(u32),
}

/// One directory's `.redo/` as first seen: snapshot, then cache.
pub struct DirView {
    redo_dir: PathBuf,
    /// None: there is no `.redo/` here, so no target of this directory has
    /// a `.dep`.
    snap: Option<Snapshot>,
    /// Loaded on the [`LAZY_LOAD`]th lookup (or the first after
    /// [`DirView::expect_many`]): a process asking for a few `.dep`s of a
    /// big directory (a nested redo-ifchange) reads those few files rather
    /// than the whole cache.
    cache: std::sync::OnceLock<Option<(Arc<Cached>, bool)>>,
    /// Set by the thread that loads `cache`.
    loading: std::sync::atomic::AtomicBool,
    lookups: std::sync::atomic::AtomicUsize,
    /// The snapshotted `.redo/` itself, opened when entries are validated
    /// one by one: `fstatat` on it walks one path component, not all.
    fd: std::sync::OnceLock<Option<std::os::fd::OwnedFd>>,
}

/// `.dep` lookups in one directory before its cache is worth loading.
const LAZY_LOAD: usize = 32;

impl DirView {
    fn open(dir: &Path) -> DirView {
        let redo_dir = dir.join(crate::state::REDO_DIR);
        // The snapshot comes first: every .dep read afterwards is at least
        // as new as it, which is what makes a later cache write sound.
        let snap = Snapshot::take(&redo_dir);
        DirView {
            redo_dir,
            snap,
            cache: std::sync::OnceLock::new(),
            loading: std::sync::atomic::AtomicBool::new(false),
            lookups: std::sync::atomic::AtomicUsize::new(0),
            fd: std::sync::OnceLock::new(),
        }
    }

    /// The key of `.redo/<name>.dep` now; `Ok(None)` when it does not exist.
    fn dep_key(&self, name: &std::ffi::OsStr) -> std::io::Result<Option<FileKey>> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::ffi::OsStrExt;
        let fd = self.fd.get_or_init(|| {
            let snap = self.snap.as_ref()?;
            let c = std::ffi::CString::new(self.redo_dir.as_os_str().as_bytes()).ok()?;
            let raw = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if raw < 0 {
                return None;
            }
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // Only the directory the snapshot describes will do.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let ok = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0 && snap.same_dir(&st);
            ok.then_some(fd)
        });
        let mut file = name.as_bytes().to_vec();
        file.extend_from_slice(b".dep");
        let file = std::ffi::CString::new(file).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in a target name")
        })?;
        let r = match fd {
            Some(fd) => {
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::fstatat(fd.as_raw_fd(), file.as_ptr(), &mut st, 0) } == 0 {
                    Ok(FileKey::of_stat(&st))
                } else {
                    Err(std::io::Error::last_os_error())
                }
            }
            None => std::fs::metadata(
                self.redo_dir
                    .join(std::ffi::OsStr::from_bytes(file.as_bytes())),
            )
            .map(|m| FileKey::of(&m)),
        };
        match r {
            Ok(k) => Ok(Some(k)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The cache and whether it is current as a whole (fast and complete);
    /// `Err(())` while another thread is loading it (the caller reads the
    /// file itself rather than wait: parallel checkers start together, and
    /// one of them can list a directory meanwhile).
    fn cached(&self) -> Result<Option<&(Arc<Cached>, bool)>, ()> {
        if let Some(c) = self.cache.get() {
            return Ok(c.as_ref());
        }
        if self.loading.load(std::sync::atomic::Ordering::Relaxed) {
            return self.cache.get().map(Option::as_ref).ok_or(());
        }
        Ok(self.cached_wait())
    }

    /// The cache, loaded now if no thread has yet.
    fn cached_wait(&self) -> Option<&(Arc<Cached>, bool)> {
        self.cache
            .get_or_init(|| {
                self.loading
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                let snap = self.snap.as_ref()?;
                let c = depcache::load(&self.redo_dir)?;
                let fast = c.fast(snap);
                Some((c, fast))
            })
            .as_ref()
    }

    /// Many lookups are coming (a parallel check of a big fan-in here): the
    /// next one loads the cache, without a few dozen file reads first.
    fn expect_many(&self) {
        self.lookups
            .fetch_max(LAZY_LOAD, std::sync::atomic::Ordering::Relaxed);
    }

    /// Does this `.redo/` hold thousands of entries (a big tree)? From the
    /// directory's size (about 20 to 40 bytes an entry on tmpfs and ext4),
    /// without loading anything.
    fn big(&self) -> bool {
        self.snap
            .as_ref()
            .is_some_and(|s| s.size() >= BIG_DIR_BYTES)
    }

    fn source(&self, name: &std::ffi::OsStr) -> DepSource<'_> {
        if self.snap.is_none() {
            return DepSource::NoRedoDir;
        }
        // Counted only until the cache is loaded: parallel checkers would
        // otherwise contend for the counter on every lookup.
        if self.cache.get().is_none()
            && self
                .lookups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                < LAZY_LOAD
        {
            return DepSource::Early;
        }
        let Ok(cached) = self.cached() else {
            return DepSource::Early;
        };
        match cached {
            Some((c, true)) => match c.entry(name) {
                Some((_, b)) => DepSource::Cached(b),
                // A fast cache holds every .dep of the directory.
                None => DepSource::NoDep,
            },
            Some((c, false)) => match c.find(name).and_then(|i| Some((i, c.at(i)?))) {
                Some((i, (_, k, b))) => DepSource::Check(i, k, b),
                None => DepSource::Disk,
            },
            None => DepSource::Disk,
        }
    }

    fn persist(&self, fresh: &[Fresh]) {
        let Some(snap) = &self.snap else { return };
        // Only where the cache was looked at (so a few reads never replace
        // a big cache), and not when it was current anyway.
        let Some(loaded) = self.cache.get() else {
            return;
        };
        if matches!(loaded, Some((_, true))) || fresh.len() < depcache::MIN_ENTRIES {
            return;
        }
        // Rewrite a per-entry cache only with news enough, or a chance to
        // make it fast (the directory was quiet and has not changed since:
        // after a build it has): writing megabytes so that the next run
        // reads two `.dep` files fewer (a build's usual news) costs more
        // than it saves. The stale entries left add up, run after run,
        // until they are news enough.
        let read = fresh
            .iter()
            .filter(|f| matches!(f, Fresh::Read(..)))
            .count();
        let news = read >= (fresh.len() / 16).max(1);
        let fast_now = snap.quiet() && snap.still(&self.redo_dir);
        if !news && !fast_now {
            return;
        }
        let entries: Vec<(&std::ffi::OsStr, FileKey, &[u8])> = fresh
            .iter()
            .filter_map(|f| match f {
                Fresh::Read(n, k, b) => Some((n.as_os_str(), *k, b.as_slice())),
                Fresh::Kept(i) => loaded.as_ref()?.0.at(*i),
            })
            .collect();
        depcache::store(&self.redo_dir, snap, entries);
    }
}

/// The [`DirView`]s of one snapshot of the tree, each directory opened
/// (and its cache loaded) once however many checkers ask.
#[derive(Default)]
pub struct DepCaches(std::sync::Mutex<FastMap<Key, Arc<DirView>>>);

impl DepCaches {
    pub fn view(&self, dir: &Path) -> Arc<DirView> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = m.get(dir.as_os_str()) {
            return v.clone();
        }
        let v = Arc::new(DirView::open(dir));
        m.insert(key(dir), v.clone());
        v
    }
}

/// Where a `.dep` comes from: the directory has none, the cache has it, or
/// the file must be read.
enum DepSource<'a> {
    NoRedoDir,
    /// The directory's complete cache has no such `.dep`.
    NoDep,
    Cached(&'a [u8]),
    /// The cache's copy, if `stat` still gives this key.
    Check(u32, FileKey, &'a [u8]),
    Disk,
    /// Asked before the cache is loaded: read the file, and do not count
    /// the question toward listing `.redo/` (a few lookups are not worth a
    /// listing, and once the cache is loaded it answers).
    Early,
}

impl Drop for Checker {
    /// Write the `.dep` caches of directories whose files were read from
    /// disk: the next check of an unchanged tree reads one file per
    /// directory. Each write re-validates its snapshot, so after a build
    /// changed a directory nothing is written for it.
    fn drop(&mut self) {
        self.persist_dep_caches();
    }
}

impl Checker {
    pub fn new(build: [u8; 16], trust: InodeTrust) -> Checker {
        Checker {
            build,
            trust,
            verdicts: FastMap::default(),
            deps: FastMap::default(),
            hashes: FastMap::default(),
            lexists: FastMap::default(),
            stats: FastMap::default(),
            visiting: FastSet::default(),
            collect_always: None,
            warnings: Vec::new(),
            warned: FastSet::default(),
            known_absent: None,
            no_parallel: false,
            parked: Vec::new(),
            delegated: Vec::new(),
            delegated_up: Vec::new(),
            met_cycle: false,
            dep_caches: Arc::default(),
            views: FastMap::default(),
            fresh: FastMap::default(),
        }
    }

    /// Write the `.dep` caches of the directories whose files this checker
    /// read from disk (also done on drop).
    pub fn persist_dep_caches(&mut self) {
        for (dir, fresh) in std::mem::take(&mut self.fresh) {
            self.dep_caches.view(Path::new(&dir)).persist(&fresh);
        }
    }

    /// The `.dep` files this checker read or validated, for another checker
    /// sharing its [`Checker::dep_caches`] to persist ([`Checker::absorb_fresh`]).
    pub fn take_fresh(&mut self) -> DepFresh {
        DepFresh(std::mem::take(&mut self.fresh))
    }

    pub fn absorb_fresh(&mut self, f: DepFresh) {
        for (dir, mut v) in f.0 {
            match self.fresh.get_mut(&dir) {
                Some(mine) => mine.append(&mut v),
                None => {
                    self.fresh.insert(dir, v);
                }
            }
        }
    }

    /// Run `job` on the checker of each worker parked by
    /// [`Checker::check_fan_in`], with the paths it checked, all at once;
    /// the results in no particular order. The workers end after it. For a
    /// caller about to walk what the check examined (the run share's
    /// harvest): the workers' memos already hold every `.dep` and `stat`
    /// below those paths, and each walks its own part on its own core.
    pub fn on_parked<R, F>(&mut self, job: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut Checker, &[PathBuf]) -> R + Send + Sync + 'static,
    {
        let job = Arc::new(job);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut sent = 0;
        for Parked(worker) in std::mem::take(&mut self.parked) {
            let (job, tx) = (job.clone(), tx.clone());
            let run: ParkedJob = Box::new(move |ch, part| {
                let _ = tx.send(job(ch, part));
            });
            if worker.send(run).is_ok() {
                sent += 1;
            }
        }
        drop(tx);
        rx.iter().take(sent).collect()
    }

    /// Are workers of an earlier parallel check parked with their memos?
    pub fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Was `path`'s verdict reached by a parked worker (whose memos, not
    /// ours, hold what lies below it)?
    pub fn delegated(&self, path: &Path) -> bool {
        self.decided(path).is_some()
    }

    /// What a parked worker decided of `path`.
    fn decided(&self, path: &Path) -> Option<&Decided> {
        self.delegated.iter().find_map(|m| m.get(path.as_os_str()))
    }

    /// What can be told of `target`, found up to date, to other processes
    /// of the run: its self-record if the file is as recorded (never under
    /// inode trust `none`), and whether it was built in this run. None if
    /// it has no `.dep`.
    pub fn vouch(&mut self, target: &Path) -> Option<Vouch> {
        let DepState::Present(dep) = self.dep(target) else {
            return None;
        };
        let own = dep
            .self_ifchange(Path::new(paths::base_of(target)))
            .map(|(i, h)| (*i, *h))
            .filter(|(i, _)| {
                self.trust != InodeTrust::None
                    && self
                        .stat(target)
                        .is_some_and(|now| now.equals(i, self.trust))
            });
        Some(Vouch {
            own,
            built: dep.build == self.build,
        })
    }

    /// The up-to-date paths parked workers checked, with what they vouch
    /// for (taken once).
    pub fn take_delegated_up(&mut self) -> Vec<(PathBuf, Vouch)> {
        std::mem::take(&mut self.delegated_up)
    }

    /// Has a check of this checker (or of its workers) cut a dependency
    /// cycle since it was made or reset?
    pub fn met_cycle(&self) -> bool {
        self.met_cycle
    }

    /// The targets whose check is under way above this checker's: a worker
    /// starts with its parent's.
    pub fn ancestors(&self) -> impl Iterator<Item = &Path> {
        self.visiting.iter().map(Path::new)
    }

    /// The shared view of `dir`, remembered here: the shared table is behind
    /// a lock that parallel workers would otherwise take for every lookup.
    fn view(&mut self, dir: &Path) -> Arc<DirView> {
        if let Some(v) = self.views.get(dir.as_os_str()) {
            return v.clone();
        }
        let v = self.dep_caches.view(dir);
        self.views.insert(key(dir), v.clone());
        v
    }

    fn add_fresh(&mut self, target: &Path, f: Fresh) {
        let dir = paths::dir_of(target);
        match self.fresh.get_mut(dir.as_os_str()) {
            Some(v) => v.push(f),
            None => {
                self.fresh.insert(key(dir), vec![f]);
            }
        }
    }

    /// Forget verdicts (after building something), keep nothing stale.
    pub fn reset(&mut self) {
        self.verdicts.clear();
        self.deps.clear();
        self.hashes.clear();
        self.lexists.clear();
        self.stats.clear();
        self.parked.clear();
        self.delegated.clear();
        self.delegated_up.clear();
        self.met_cycle = false;
        // Built files changed these directories: their snapshots are stale.
        self.dep_caches = Arc::default();
        self.views.clear();
        self.fresh.clear();
    }

    /// Read (memoised) the `.dep` of an absolute target path.
    pub fn dep(&mut self, target: &Path) -> DepState {
        if let Some(d) = self.deps.get(target.as_os_str()) {
            return d.clone();
        }
        let (st, memo) = self.load_dep(target);
        if memo {
            self.deps.insert(key(target), st.clone());
        }
        st
    }

    /// The `.dep` state of `target`, and whether it is worth memoising: an
    /// absence the cache or a listing answered is as cheap to ask again (a
    /// big check asks once about each of thousands of sources).
    fn load_dep(&mut self, target: &Path) -> (DepState, bool) {
        // The file's path is only needed to read it or name it in a warning.
        let path = || crate::state::dep_path(target);
        let name = paths::base_of(target);
        let view = self.view(paths::dir_of(target));
        let source = view.source(name);
        match source {
            DepSource::NoRedoDir | DepSource::NoDep => return (DepState::Absent, false),
            DepSource::Cached(b) => return (self.decode_dep(target, b), true),
            DepSource::Check(i, k, b) => match view.dep_key(name) {
                Ok(Some(now)) if now == k => {
                    self.add_fresh(target, Fresh::Kept(i));
                    return (self.decode_dep(target, b), true);
                }
                Ok(None) => return (DepState::Absent, true),
                _ => {}
            },
            DepSource::Disk => {}
            DepSource::Early => {}
        }
        let path = path();
        if !matches!(source, DepSource::Early) && self.is_known_absent(&path) {
            return (DepState::Absent, false);
        }
        let (bytes, fkey) = match depcache::read_keyed(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (DepState::Absent, true),
            Err(e) => return (DepState::Corrupt(format!("{}: {e}", path.display())), true),
        };
        let st = self.decode_dep(target, &bytes);
        if let (DepState::Present(_), Some(k)) = (&st, fkey) {
            self.add_fresh(target, Fresh::Read(name.to_os_string(), k, bytes));
        }
        (st, true)
    }

    /// Queue a warning for the caller, once per checker however many passes
    /// (or parallel workers) meet its cause.
    fn warn(&mut self, w: String) {
        if self.warned.insert(w.clone()) {
            self.warnings.push(w);
        }
    }

    /// Decode `target`'s `.dep` bytes.
    fn decode_dep(&mut self, target: &Path, b: &[u8]) -> DepState {
        match Dep::decode(b) {
            Ok(d) => DepState::Present(Arc::new(d)),
            Err(e) => {
                let m = format!("{}: {e}", crate::state::dep_path(target).display());
                self.warn(format!(
                    "{m}; the target will be rebuilt (delete the file to treat the target as a source)"
                ));
                DepState::Corrupt(m)
            }
        }
    }

    /// Seed the memo with a target's `.dep` state read elsewhere (the query
    /// applets read every `.dep` once, in parallel, before checking).
    pub fn preset_dep(&mut self, target: &Path, st: DepState) {
        self.deps.insert(key(target), st);
    }

    /// Seed the memo with a verdict reached by another checker on the same
    /// tree (the query applets check a tree level by level in parallel).
    /// The verdict reached on `target`, if any yet.
    pub fn verdict(&self, target: &Path) -> Option<&Verdict> {
        self.verdicts
            .get(target.as_os_str())
            .or_else(|| self.decided(target).map(|d| &d.verdict))
    }

    /// Room for `n` more verdicts (before presetting many).
    pub fn reserve_verdicts(&mut self, n: usize) {
        self.verdicts.reserve(n);
    }

    pub fn preset_verdict(&mut self, target: &Path, v: Verdict) {
        self.verdicts.insert(key(target), v);
    }

    /// Seed the stat memo with inode data another checker just read.
    pub fn preset_stat(&mut self, path: &Path, st: Option<Inode>) {
        self.stats.insert(key(path), st);
    }

    /// Every `.dep` read so far that could not be used, as (target, message
    /// naming the file), sorted by target path bytes. For the query applets,
    /// which report them all once at the end.
    pub fn dep_errors(&self) -> Vec<(PathBuf, String)> {
        use std::os::unix::ffi::OsStrExt;
        let mut v: Vec<(PathBuf, String)> = self
            .deps
            .iter()
            .filter_map(|(t, d)| match d {
                DepState::Corrupt(m) => Some((PathBuf::from(t), m.clone())),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
        v
    }

    fn is_known_absent(&self, path: &Path) -> bool {
        self.known_absent.as_ref().is_some_and(|k| k.absent(path))
    }

    /// `stat` of `path` (following symlinks) as inode data; None when it
    /// does not exist (or cannot be examined). Memoised until [`Checker::reset`].
    pub fn stat(&mut self, path: &Path) -> Option<Inode> {
        self.stat_with(path, true)
    }

    /// [`Checker::stat`] of a path a `.dep` records as existing: most still
    /// do, and asking a listing first would be a wasted lookup.
    fn stat_recorded(&mut self, path: &Path) -> Option<Inode> {
        self.stat_with(path, false)
    }

    /// The memoised `stat` of `path`, ours or a parked worker's.
    fn stat_known(&self, path: &Path) -> Option<Option<Inode>> {
        self.stats
            .get(path.as_os_str())
            .copied()
            .or_else(|| self.decided(path).map(|d| d.st))
    }

    fn stat_with(&mut self, path: &Path, ask_listing: bool) -> Option<Inode> {
        if let Some(m) = self.stat_known(path) {
            return m;
        }
        // A listing's answer is as cheap as the memo, and as stable.
        if ask_listing && self.is_known_absent(path) {
            return None;
        }
        let m = std::fs::metadata(path).ok().map(|m| Inode::from_meta(&m));
        self.stats.insert(key(path), m);
        m
    }

    /// Does `path` exist (not following a final symlink)? Memoised until
    /// [`Checker::reset`].
    pub fn lexists(&mut self, path: &Path) -> bool {
        if let Some(&e) = self.lexists.get(path.as_os_str()) {
            return e;
        }
        if self.is_known_absent(path) {
            return false;
        }
        let e = std::fs::symlink_metadata(path).is_ok();
        self.lexists.insert(key(path), e);
        e
    }

    pub fn hash(&mut self, path: &Path) -> Option<Hash> {
        if let Some(h) = self.hashes.get(path.as_os_str()) {
            return *h;
        }
        let h = dep::hash_file(path).ok();
        self.hashes.insert(key(path), h);
        h
    }

    /// Is the absolute clean `target` out of date?
    pub fn check(&mut self, target: &Path) -> Verdict {
        self.check_at(target, true)
    }

    fn check_at(&mut self, target: &Path, operand: bool) -> Verdict {
        if let Some(v) = self.verdict(target) {
            return v.clone();
        }
        if !self.visiting.insert(key(target)) {
            self.met_cycle = true;
            return Verdict::UpToDate;
        }
        let v = self.decide(target, operand);
        // The key made for `visiting` serves the verdict.
        let k = self
            .visiting
            .take(target.as_os_str())
            .unwrap_or_else(|| key(target));
        self.verdicts.insert(k, v.clone());
        v
    }

    fn decide(&mut self, target: &Path, operand: bool) -> Verdict {
        let dep = match self.dep(target) {
            DepState::Absent => {
                let do_beside = paths::with_suffix(target, ".do");
                return if self.stat(target).is_some() && self.stat(&do_beside).is_none() {
                    Verdict::Source
                } else {
                    Verdict::Ood(Reason::NeverBuilt)
                };
            }
            DepState::Corrupt(m) => return Verdict::Ood(Reason::CorruptDep(m)),
            DepState::Present(d) => d,
        };
        if dep.is_intent() {
            return Verdict::Ood(Reason::CommitCutShort);
        }
        if dep.build == self.build {
            return Verdict::UpToDate;
        }
        if dep.has_always() {
            if !operand {
                if let Some(c) = self.collect_always.as_mut() {
                    c.push(target.to_path_buf());
                    return Verdict::UpToDate;
                }
            }
            return Verdict::Ood(Reason::Always);
        }
        // A parallel check's worker has stat'ed its share already; a listed
        // name exists (a dangling symlink too, which `stat` says is not).
        let exists = self.stat_known(target).is_some_and(|st| st.is_some())
            || self
                .known_absent
                .as_ref()
                .is_some_and(|k| k.present(target))
            || self.stat(target).is_some();
        if !exists {
            return Verdict::Ood(Reason::Missing);
        }
        let tdir = paths::dir_of(target).to_path_buf();
        let base = paths::base_of(target).to_os_string();
        for r in dep.records.iter() {
            if let Record::Ifcreate(p) = r {
                if p.as_os_str() == base {
                    continue;
                }
                let abs = paths::abs_join(&tdir, p);
                if self.lexists(&abs) {
                    return Verdict::Ood(Reason::IfcreateAppeared(abs));
                }
            }
        }
        self.check_fan_in(&tdir, &base, &dep);
        for r in dep.records.iter() {
            match r {
                Record::Ifchange { inode, hash, path } => {
                    if path.as_os_str() == base {
                        continue;
                    }
                    let abs = paths::abs_join(&tdir, path);
                    if let Some(reason) = self.changed(&abs, inode, hash) {
                        return Verdict::Ood(reason);
                    }
                    if let Verdict::Ood(inner) = self.check_at(&abs, false) {
                        return Verdict::Ood(Reason::DepOod(abs, Box::new(inner)));
                    }
                }
                Record::IfchangeNonexistent(path) => {
                    let abs = paths::abs_join(&tdir, path);
                    if std::fs::symlink_metadata(&abs).is_ok() {
                        return Verdict::Ood(Reason::DepAppeared(abs));
                    }
                    if let Verdict::Ood(inner) = self.check_at(&abs, false) {
                        return Verdict::Ood(Reason::DepOod(abs, Box::new(inner)));
                    }
                }
                _ => {}
            }
        }
        Verdict::UpToDate
    }

    /// A target with a large fan-in (an `all` over thousands of targets) is
    /// checked faster when its dependencies are checked on all the cores
    /// first: each worker runs a checker of its own on the batches of them
    /// it takes, seeded with our `visiting` set (so a recorded cycle back to
    /// an ancestor is cut as it would be here), and sharing our `.redo/`
    /// views, knowledge of absent files and earlier workers' verdicts. What they decided of their shares
    /// (verdicts and stats) is then consulted after our own memos, their
    /// always-targets and warnings are merged into ours, and the decision
    /// itself runs as before, in recorded order, now answered from those:
    /// verdicts and reasons are those of a plain
    /// check. (Only where the tree on disk records a dependency cycle among
    /// siblings may the cut fall elsewhere, as with the query applets.)
    /// Workers do not split their own work again.
    fn check_fan_in(&mut self, tdir: &Path, base: &std::ffi::OsStr, dep: &Dep) {
        if self.no_parallel || dep.records.len() < 2 {
            return;
        }
        // Near the top of a check whose directory holds thousands of
        // targets (a deep tree, whose fan-ins are each small), split too.
        let top_of_big_tree = || self.visiting.len() <= 3 && self.dep_caches.view(tdir).big();
        let big_tree = dep.records.len() < PARALLEL_FAN_IN;
        if big_tree && !top_of_big_tree() {
            return;
        }
        let todo: Vec<PathBuf> = dep
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Ifchange { path, .. } if path.as_os_str() != base => Some(path),
                _ => None,
            })
            .map(|p| paths::abs_join(tdir, p))
            .filter(|p| self.verdict(p).is_none())
            .collect();
        // In a tree, split only among subtrees: the dependencies that are
        // targets themselves (their .dep is in the cache), not the .do file
        // or sources beside a single child.
        let is_target = |caches: &DepCaches, p: &Path| {
            // A big directory: its cache is worth loading now.
            let v = caches.view(paths::dir_of(p));
            v.cached_wait()
                .is_some_and(|(c, _)| c.entry(paths::base_of(p)).is_some())
        };
        let todo: Vec<PathBuf> = if big_tree {
            let todo: Vec<PathBuf> = todo
                .into_iter()
                .filter(|p| is_target(&self.dep_caches, p))
                .collect();
            self.deepen(todo, &is_target)
        } else {
            todo
        };
        if let Some(p) = todo.get(todo.len() / 2) {
            self.dep_caches.view(paths::dir_of(p)).expect_many();
        }
        self.check_parallel(todo);
    }

    /// A few big subtrees share badly between cores: the last one runs
    /// alone while the others idle. Replace each subtree of `todo` by its
    /// subtrees (the dependencies that are targets, see `is_target`), a
    /// level or two down, until there are pieces enough; the targets left
    /// out above them are then decided here, from the workers' verdicts.
    /// A subtree whose subtrees are all decided already (by an earlier
    /// split above it) is left out at once: deciding it here is cheap.
    fn deepen(
        &mut self,
        mut todo: Vec<PathBuf>,
        is_target: &dyn Fn(&DepCaches, &Path) -> bool,
    ) -> Vec<PathBuf> {
        const PIECES: usize = 64;
        for round in 0..3 {
            if todo.len() >= PIECES && round > 0 {
                break;
            }
            let split = todo.len() < PIECES;
            let mut seen: FastSet<Key> = FastSet::default();
            let mut deeper = Vec::new();
            let mut grew = false;
            for p in todo {
                let kids: Vec<PathBuf> = match self.dep(&p) {
                    // Not one up to date by the build id alone, nor an
                    // always-target: their subtrees are not asked about.
                    DepState::Present(d) if d.build != self.build && !d.has_always() => {
                        let (dir, base) = (paths::dir_of(&p), paths::base_of(&p));
                        d.records
                            .iter()
                            .filter_map(|r| match r {
                                Record::Ifchange { path, .. } if path.as_os_str() != base => {
                                    Some(paths::abs_join(dir, path))
                                }
                                _ => None,
                            })
                            .filter(|k| is_target(&self.dep_caches, k))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                let open: Vec<PathBuf> = kids
                    .iter()
                    .filter(|k| self.verdict(k).is_none())
                    .cloned()
                    .collect();
                if !kids.is_empty() && open.is_empty() {
                    continue;
                }
                if split && open.len() >= 2 {
                    grew = true;
                    for k in open {
                        if seen.insert(key(&k)) {
                            deeper.push(k);
                        }
                    }
                } else if seen.insert(key(&p)) {
                    deeper.push(p);
                }
            }
            todo = deeper;
            if !grew {
                break;
            }
        }
        todo
    }

    /// Check `paths` (absolute, clean), on all the cores when they are many
    /// (see [`Checker::check_fan_in`]; the verdicts of these paths are then
    /// delegated, see [`Checker::on_parked`]).
    pub fn check_many(&mut self, paths: &[PathBuf]) {
        let todo: Vec<PathBuf> = paths
            .iter()
            .filter(|p| self.verdict(p).is_none())
            .cloned()
            .collect();
        if !self.no_parallel && todo.len() >= CHECK_MANY_PARALLEL {
            self.check_parallel(todo);
        }
        for p in paths {
            self.check(p);
        }
    }

    /// Check `todo` (none decided yet) on one worker per core, each with a
    /// checker of its own, parked afterwards with its memos.
    fn check_parallel(&mut self, todo: Vec<PathBuf>) {
        if todo.len() < 2 {
            return;
        }
        // available_parallelism reads cgroup files on every call.
        static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let workers = *WORKERS.get_or_init(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8)
        });
        if workers < 2 {
            return;
        }
        let workers = workers.min(todo.len());
        // Workers take the paths a batch at a time rather than a fixed
        // share each: the parts of a tree differ widely in size, and a fixed
        // split left one core idle for up to a sixth of a check.
        let batch = (todo.len() / (workers * 16)).max(1);
        let each = todo.len().div_ceil(workers);
        let todo = Arc::new(todo);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (build, trust) = (self.build, self.trust);
        let collect = self.collect_always.is_some();
        /// What the parent needs of a worker: the verdicts and stats of its
        /// share (the parent's decision reads nothing deeper), and what it
        /// reports or persists. The rest of its memos stay with it, parked.
        struct Share {
            decided: FastMap<Key, Decided>,
            vouched: Vec<(PathBuf, Vouch)>,
            fresh: FastMap<Key, Vec<Fresh>>,
            warnings: Vec<String>,
            always: Option<Vec<PathBuf>>,
            met_cycle: bool,
        }
        let (tx, rx) = std::sync::mpsc::channel::<(Share, Parked)>();
        let mut started = 0;
        for _ in 0..workers {
            let (todo, next) = (todo.clone(), next.clone());
            let mut ch = Checker::new(build, trust);
            ch.no_parallel = true;
            ch.dep_caches = self.dep_caches.clone();
            ch.known_absent = self.known_absent.clone();
            ch.visiting = self.visiting.clone();
            ch.delegated = self.delegated.clone();
            ch.collect_always = collect.then(Vec::new);
            ch.warned = self.warned.clone();
            let tx = tx.clone();
            // Not scoped: the worker outlives this call, parked with its
            // memos (see `Parked`).
            let spawned = std::thread::Builder::new().spawn(move || {
                // A flat fan-in's part: a verdict and a stat of each path
                // and of its source, a .dep of each (sources' absence is not
                // memoised). Deeper parts grow the tables as they go.
                ch.verdicts.reserve(each * 2);
                ch.deps.reserve(each);
                ch.stats.reserve(each * 2);
                let mut decided = FastMap::default();
                decided.reserve(each);
                let mut out = Share {
                    decided,
                    vouched: Vec::with_capacity(each),
                    fresh: FastMap::default(),
                    warnings: Vec::new(),
                    always: None,
                    met_cycle: false,
                };
                // The paths this worker checked, for its parked job.
                let mut part = Vec::with_capacity(each);
                loop {
                    let start = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                    let Some(taken) = todo.get(start..(start + batch).min(todo.len())) else {
                        break;
                    };
                    if taken.is_empty() {
                        break;
                    }
                    for p in taken {
                        // The parent compares the stat with its record.
                        let st = ch.stat_recorded(p);
                        let v = ch.check_at(p, false);
                        if let (Verdict::UpToDate, Some(vouch)) = (&v, ch.vouch(p)) {
                            out.vouched.push((p.clone(), vouch));
                        }
                        out.decided.insert(key(p), Decided { st, verdict: v });
                        part.push(p.clone());
                    }
                }
                out.fresh = std::mem::take(&mut ch.fresh);
                out.warnings = std::mem::take(&mut ch.warnings);
                out.always = ch.collect_always.take();
                out.met_cycle = ch.met_cycle;
                let (jobs, wait) = std::sync::mpsc::channel::<ParkedJob>();
                if tx.send((out, Parked(jobs))).is_ok() {
                    if let Ok(job) = wait.recv() {
                        job(&mut ch, &part);
                    }
                }
                // Freeing the memos one by one costs more than the process
                // exit that follows the one build of a process.
                std::mem::forget(ch);
            });
            if spawned.is_ok() {
                started += 1;
            }
        }
        drop(tx);
        // Workers that could not start leave the paths to the others, and
        // if none started, to the decision below.
        let parts: Vec<(Share, Parked)> = rx.iter().take(started).collect();
        for (mut w, parked) in parts {
            self.met_cycle |= w.met_cycle;
            self.delegated.push(Arc::new(w.decided));
            self.delegated_up.append(&mut w.vouched);
            for (dir, mut fresh) in w.fresh {
                match self.fresh.get_mut(&dir) {
                    Some(v) => v.append(&mut fresh),
                    None => {
                        self.fresh.insert(dir, fresh);
                    }
                }
            }
            for m in w.warnings {
                self.warn(m);
            }
            if let (Some(mine), Some(mut theirs)) = (self.collect_always.as_mut(), w.always) {
                mine.append(&mut theirs);
            }
            self.parked.push(parked);
        }
    }

    /// Has the file at `abs` changed against its recorded inode data and hash?
    pub fn changed(&mut self, abs: &Path, inode: &Inode, hash: &Hash) -> Option<Reason> {
        let Some(now) = self.stat_recorded(abs) else {
            return Some(Reason::DepMissing(abs.to_path_buf()));
        };
        if now.size != inode.size {
            return Some(Reason::DepSize(abs.to_path_buf()));
        }
        if self.trust != InodeTrust::None && now.equals(inode, self.trust) {
            return None;
        }
        match self.hash(abs) {
            Some(h) if h == *hash => None,
            _ => Some(Reason::DepHash(abs.to_path_buf())),
        }
    }
}
