//! How the checker finds a target's `.dep`: through a [`DirView`] of the
//! target's directory's `.redo/`, which answers from the per-directory cache
//! `.redo/.ferredo/deps` ([`crate::state::depcache`]) while a snapshot proves
//! it current as a whole, from a cached entry whose key a `stat` confirms, or
//! sends the caller to the file on disk ([`DepSource`]). [`DepCaches`] shares
//! one view per directory among the checkers of a process; the `.dep` files a
//! checker read or confirmed ([`Fresh`]) go back into the caches when it is
//! done ([`DirView::persist`]), with the names of the target directory its
//! listings found ([`crate::state::dirnames`]); [`DepCaches`] gives those
//! back to the next run's listings ([`NameMemory`]).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::{key, Key};
use crate::fasthash::FastMap;
use crate::state::depcache::{self, Cached, FileKey, Snapshot};
use crate::state::dirlist::{NameMemory, ToRemember};
use crate::state::dirnames::DirNames;

/// The `.dep` files a checker read or confirmed, by target directory, as
/// [`crate::ood::Checker::take_fresh`] hands them to another checker.
pub struct DepFresh(pub(super) FastMap<Key, Vec<Fresh>>);

/// A `.dep` a checker can vouch for, for the cache write.
pub(super) enum Fresh {
    /// Read from disk, with its key (taken through the open file).
    Read(OsString, FileKey, Vec<u8>),
    /// The cache's entry (by ordinal), whose key `stat` confirmed.
    Kept(u32),
}

/// One directory's `.redo/` as first seen: snapshot, then cache.
pub(super) struct DirView {
    redo_dir: PathBuf,
    /// None: there is no `.redo/` here, so no target of this directory has
    /// a `.dep`.
    snap: Option<Snapshot>,
    /// Loaded on the [`LAZY_LOAD`]th lookup (or the first after
    /// [`DirView::expect_many`], or in a small directory): a process asking
    /// for a few `.dep`s of a big directory (a nested redo-ifchange) reads
    /// those few files rather than the whole cache.
    cache: OnceLock<Option<(Arc<Cached>, bool)>>,
    /// Set by the thread that loads `cache`.
    loading: AtomicBool,
    lookups: AtomicUsize,
    /// The snapshotted `.redo/` itself, opened when entries are validated
    /// one by one: `fstatat` on it walks one path component, not all.
    fd: OnceLock<Option<std::os::fd::OwnedFd>>,
}

/// `.redo/` directories this process holds open at once for
/// [`DirView::redo_dir_fd`]: at most this many, and at most a quarter of
/// `ulimit -n`. Each spares the path walk of every `stat` of a `.dep`
/// there, but a tree has thousands of directories, and a process has few
/// descriptors (often 1024), which its jobs need too: past the limit,
/// `.dep` files are `stat`ed by path.
const MAX_REDO_DIR_FDS: usize = 64;

fn max_redo_dir_fds() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft);
        MAX_REDO_DIR_FDS.min(usize::try_from(soft / 4).unwrap_or(MAX_REDO_DIR_FDS))
    })
}

/// How many [`DirView::redo_dir_fd`]s are open now.
static OPEN_REDO_DIR_FDS: AtomicUsize = AtomicUsize::new(0);

/// A cache at most this big (a few pages: a directory of about twenty
/// targets, which a tree has by the thousand) costs little to write: it is
/// written for fewer than [`FEW_ENTRIES`] `.dep` files, and rewritten for
/// new names of its directory alone. A bigger one is written only for news
/// of many entries (see `a_quiet_build_with_little_news_leaves_the_cache_file_alone`):
/// the one big `.dep` of a wide fan-in, replaced by every build, would
/// otherwise be copied into the cache by every build.
const SMALL_CACHE_BYTES: usize = 16 << 10;

/// Fewer `.dep` files than this make a cache worth writing only if it is
/// small ([`SMALL_CACHE_BYTES`]).
const FEW_ENTRIES: usize = 4;

/// `.dep` lookups in one directory before its cache is worth loading.
const LAZY_LOAD: usize = 32;

/// A `.redo/` this small (one block: up to about a hundred targets on ext4
/// or tmpfs) has a cache of a few kilobytes, which costs no more to read
/// than the two or three `.dep` files it may spare: it is loaded on the
/// first lookup. (A deep tree has many such directories, each asked about
/// fewer than [`LAZY_LOAD`] times.)
const SMALL_DIR_BYTES: u64 = 4096;

impl DirView {
    pub(super) fn open(dir: &Path) -> DirView {
        let redo_dir = dir.join(crate::state::REDO_DIR);
        // The snapshot comes first: every .dep read afterwards is at least
        // as new as it, which is what makes a later cache write sound.
        let snap = Snapshot::take(&redo_dir);
        let small = snap.as_ref().is_some_and(|s| s.size() <= SMALL_DIR_BYTES);
        DirView {
            redo_dir,
            snap,
            cache: OnceLock::new(),
            loading: AtomicBool::new(false),
            lookups: AtomicUsize::new(if small { LAZY_LOAD } else { 0 }),
            fd: OnceLock::new(),
        }
    }

    /// The key of `.redo/<name>.dep` now; `Ok(None)` when it does not exist.
    pub(super) fn dep_key(&self, name: &OsStr) -> std::io::Result<Option<FileKey>> {
        let mut file = name.to_os_string();
        file.push(".dep");
        let r = match self.redo_dir_fd() {
            // One component for the kernel to walk, not the whole path.
            Some(fd) => nix::sys::stat::fstatat(fd, file.as_os_str(), nix::fcntl::AtFlags::empty())
                .map(|st| FileKey::of_stat(&st))
                .map_err(std::io::Error::from),
            None => std::fs::metadata(self.redo_dir.join(&file)).map(|m| FileKey::of(&m)),
        };
        match r {
            Ok(k) => Ok(Some(k)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The snapshotted `.redo/`, opened (`O_PATH`) on first use; None when
    /// there is none, the directory there now is not the one snapshotted, or
    /// [`MAX_REDO_DIR_FDS`] are open already.
    fn redo_dir_fd(&self) -> Option<&std::os::fd::OwnedFd> {
        self.fd
            .get_or_init(|| {
                let held = OPEN_REDO_DIR_FDS.fetch_add(1, Ordering::Relaxed);
                let fd = (held < max_redo_dir_fds())
                    .then(|| self.open_redo_dir())
                    .flatten();
                if fd.is_none() {
                    OPEN_REDO_DIR_FDS.fetch_sub(1, Ordering::Relaxed);
                }
                fd
            })
            .as_ref()
    }

    /// Open the snapshotted `.redo/` (`O_PATH`: no access to its contents),
    /// if the directory there is still the one the snapshot describes.
    fn open_redo_dir(&self) -> Option<std::os::fd::OwnedFd> {
        use nix::fcntl::OFlag;
        let snap = self.snap.as_ref()?;
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(&self.redo_dir, flags, nix::sys::stat::Mode::empty()).ok()?;
        let st = nix::sys::stat::fstat(&fd).ok()?;
        snap.same_dir(&st).then_some(fd)
    }

    /// The cache and whether it is current as a whole (fast and complete);
    /// `Err(())` while another thread is loading it (the caller reads the
    /// file itself rather than wait: parallel checkers start together, and
    /// one of them can list a directory meanwhile).
    fn cached(&self) -> Result<Option<&(Arc<Cached>, bool)>, ()> {
        if let Some(c) = self.cache.get() {
            return Ok(c.as_ref());
        }
        if self.loading.load(Ordering::Relaxed) {
            return self.cache.get().map(Option::as_ref).ok_or(());
        }
        Ok(self.cached_wait())
    }

    /// The cache, loaded now if no thread has yet.
    fn cached_wait(&self) -> Option<&(Arc<Cached>, bool)> {
        self.cache
            .get_or_init(|| {
                self.loading.store(true, Ordering::Relaxed);
                let snap = self.snap.as_ref()?;
                let c = depcache::load(&self.redo_dir)?;
                let fast = c.fast(snap);
                Some((c, fast))
            })
            .as_ref()
    }

    /// The cache, if it is loaded (no load is started).
    pub(super) fn loaded(&self) -> Option<&(Arc<Cached>, bool)> {
        self.cache.get().and_then(Option::as_ref)
    }

    /// Many lookups are coming (a parallel check of a big fan-in here): the
    /// next one loads the cache, without a few dozen file reads first.
    pub(super) fn expect_many(&self) {
        self.lookups.fetch_max(LAZY_LOAD, Ordering::Relaxed);
    }

    /// Where to find the `.dep` of the target `name` of this directory.
    pub(super) fn source(&self, name: &OsStr) -> DepSource<'_> {
        if self.snap.is_none() {
            return DepSource::NoRedoDir;
        }
        // Counted only until the cache is loaded: parallel checkers would
        // otherwise contend for the counter on every lookup.
        if self.cache.get().is_none() && self.lookups.fetch_add(1, Ordering::Relaxed) < LAZY_LOAD {
            return DepSource::BeforeCache;
        }
        let Ok(cached) = self.cached() else {
            return DepSource::BeforeCache;
        };
        match cached {
            Some((c, true)) => match c.find(name) {
                Some(i) => DepSource::Cached(c, i),
                // A fast cache holds every .dep of the directory.
                None => DepSource::NoDep,
            },
            Some((c, false)) => match c.find(name).and_then(|i| Some((i, c.at(i)?))) {
                Some((i, (_, k, _))) => DepSource::CachedIfKey(c, i, k),
                None => DepSource::Disk,
            },
            None => DepSource::Disk,
        }
    }

    /// Write this directory's cache from the `.dep` files a checker read or
    /// confirmed here, and the names of the target directory a listing
    /// found (`listed`, when it had a quiet stamp), when that is worth it;
    /// the write re-validates the snapshot, so nothing is written for a
    /// directory changed since.
    pub(super) fn persist(&self, fresh: &[Fresh], listed: Option<&ToRemember>) {
        let Some(snap) = &self.snap else { return };
        // Only where the cache was looked at (so a few reads never replace
        // a big cache). One small `.dep` is enough: a directory of one
        // target then reads one file, as before, and its complete cache
        // answers every other name (a `.do` file's `.dep`) without a
        // listing of `.redo/`.
        let Some(loaded) = self.cache.get() else {
            return;
        };
        let (cache, fast) = match loaded {
            Some((c, fast)) => (Some(c), *fast),
            None => (None, false),
        };
        let remembered = cache.and_then(|c| c.names());
        // Names are news when the cache has none of this stamp; alone, they
        // are worth rewriting a small cache only (a big one is rewritten
        // for its entries, and the names go along).
        let small = cache.is_some_and(|c| c.bytes().len() <= SMALL_CACHE_BYTES);
        let entries_news = !fast && !fresh.is_empty() && self.entries_are_news(fresh, snap, cache);
        let names = listed
            .filter(|_| entries_news || small)
            .filter(|l| Some(l.stamp()) != remembered.map(|n| n.stamp()))
            .and_then(ToRemember::names);
        if names.is_none() && !entries_news {
            return;
        }
        let entries: Vec<(&OsStr, FileKey, &[u8])> = match cache {
            // Current as a whole: every entry is kept.
            Some(c) if fast => (0..c.len() as u32).filter_map(|i| c.at(i)).collect(),
            _ => fresh
                .iter()
                .filter_map(|f| match f {
                    Fresh::Read(n, k, b) => Some((n.as_os_str(), *k, b.as_slice())),
                    Fresh::Kept(i) => cache?.at(*i),
                })
                .collect(),
        };
        let names = names.as_ref().or(remembered.map(|n| &**n));
        depcache::store(&self.redo_dir, snap, entries, names);
    }

    /// Are the `.dep` files a checker read here worth rewriting a per-entry
    /// cache for: news enough, or a chance to make it fast (the directory
    /// was quiet and has not changed since: after a build it has)? Writing
    /// megabytes so that the next run reads two `.dep` files fewer (a
    /// build's usual news) costs more than it saves. The stale entries left
    /// add up, run after run, until they are news enough.
    ///
    /// Fewer than [`FEW_ENTRIES`] are worth a cache only if it stays small
    /// and replaces no cache of more entries (a nested redo-ifchange that
    /// read the two `.dep` files a build changed must not shrink the cache
    /// of a big directory to them).
    fn entries_are_news(
        &self,
        fresh: &[Fresh],
        snap: &Snapshot,
        cache: Option<&Arc<Cached>>,
    ) -> bool {
        if fresh.len() < FEW_ENTRIES {
            let bytes: usize = fresh
                .iter()
                .map(|f| match f {
                    Fresh::Read(_, _, b) => b.len(),
                    Fresh::Kept(_) => 0,
                })
                .sum();
            if bytes > SMALL_CACHE_BYTES || cache.is_some_and(|c| c.len() > fresh.len()) {
                return false;
            }
        }
        let read = fresh
            .iter()
            .filter(|f| matches!(f, Fresh::Read(..)))
            .count();
        read >= (fresh.len() / 16).max(1) || snap.quiet() && snap.still(&self.redo_dir)
    }
}

impl Drop for DirView {
    fn drop(&mut self) {
        if matches!(self.fd.get(), Some(Some(_))) {
            OPEN_REDO_DIR_FDS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The views of `.redo/` (`DirView`) of one snapshot of the tree, each directory opened
/// (and its cache loaded) once however many checkers ask.
#[derive(Default)]
pub struct DepCaches(Mutex<FastMap<Key, Arc<DirView>>>);

impl DepCaches {
    /// The view of `dir`, opened on the first call for it.
    pub(super) fn view(&self, dir: &Path) -> Arc<DirView> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = m.get(dir.as_os_str()) {
            return v.clone();
        }
        let v = Arc::new(DirView::open(dir));
        m.insert(key(dir), v.clone());
        v
    }

    /// Call `each` with every target name of `dir` (the `X` of each
    /// `.redo/X.dep`) when its cache is current as a whole, and say whether
    /// it was: a complete cache lists them without a listing of `.redo/`.
    /// The view stays open and its cache loaded for the checks to come.
    pub fn complete_targets(&self, dir: &Path, each: &mut dyn FnMut(&OsStr)) -> bool {
        let view = self.view(dir);
        let Some((cache, true)) = view.cached_wait() else {
            return false;
        };
        for (name, _, _) in (0..cache.len() as u32).filter_map(|i| cache.at(i)) {
            each(name);
        }
        true
    }

    /// The names of `dir` its `.dep` cache remembers (loading the cache),
    /// if they tell its subdirectories and `dir` still has their stamp (one
    /// `stat`): for a tree walk, which then need not read `dir`.
    pub fn current_names(&self, dir: &Path) -> Option<Arc<DirNames>> {
        let view = self.view(dir);
        let (cache, _) = view.cached_wait()?;
        let names = cache.names().filter(|n| n.has_subdirs())?;
        let now = depcache::Snapshot::take(dir)?;
        (now.state() == names.stamp()).then(|| names.clone())
    }

    /// The view of `dir` if one was opened (none is opened here).
    pub(super) fn opened(&self, dir: &Path) -> Option<Arc<DirView>> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(dir.as_os_str()).cloned()
    }
}

/// The names of a target directory kept in its loaded cache.
impl NameMemory for DepCaches {
    fn remembered(&self, dir: &Path) -> Option<Arc<DirNames>> {
        let view = self.opened(dir)?;
        let (cache, _) = view.loaded()?;
        cache.names().cloned()
    }
}

/// Where a `.dep` comes from: the directory has none, the cache has it, or
/// the file must be read.
pub(super) enum DepSource<'a> {
    /// The directory has no `.redo/`: no target of it has a `.dep`.
    NoRedoDir,
    /// The directory's complete cache has no such `.dep`.
    NoDep,
    /// The directory's complete (current) cache holds it (at this ordinal).
    Cached(&'a Arc<Cached>, u32),
    /// The cache's copy (its ordinal and key), if `stat` still gives this
    /// key.
    CachedIfKey(&'a Arc<Cached>, u32, FileKey),
    /// The cache does not know: read the file.
    Disk,
    /// Asked before the cache is loaded: read the file, and do not count
    /// the question toward listing `.redo/` (a few lookups are not worth a
    /// listing, and once the cache is loaded it answers).
    BeforeCache,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ood::Checker;
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;

    #[test]
    fn a_small_directory_answers_from_its_cache_at_the_first_lookup() {
        let t = Tree::new();
        let names = t.quiet_targets(6, &[]);
        let check_all = || {
            let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
            for n in &names {
                ch.check(&t.t(n));
            }
        };
        // The first cache is for checking entry by entry (making its
        // directory changed `.redo/`); the next, once quiet, is fast.
        check_all();
        let view = DirView::open(&t.root());
        assert!(matches!(
            view.source(OsStr::new("t3")),
            DepSource::CachedIfKey(..)
        ));
        std::thread::sleep(std::time::Duration::from_millis(250));
        check_all();
        let view = DirView::open(&t.root());
        assert!(matches!(
            view.source(OsStr::new("t3")),
            DepSource::Cached(..)
        ));
        assert!(matches!(view.source(OsStr::new("src.c")), DepSource::NoDep));
    }

    #[test]
    fn names_with_subdirectories_hold_until_the_directory_changes() {
        let t = Tree::new();
        std::fs::create_dir(t.p("sub")).unwrap();
        std::fs::create_dir(t.p("sub2")).unwrap();
        std::os::unix::fs::symlink("sub", t.p("link")).unwrap();
        let names = t.quiet_targets(6, &[]);
        // As a build checks: listing the directories it asks about, which
        // the caches then remember.
        let check_all = || {
            let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
            ch.list_directories();
            for n in &names {
                ch.check(&t.t(n));
            }
        };
        check_all();
        std::thread::sleep(std::time::Duration::from_millis(250));
        check_all();
        let now = DepCaches::default()
            .current_names(&t.root())
            .expect("remembered");
        let mut subdirs: Vec<&[u8]> = now.subdirs().expect("subdirectories").collect();
        subdirs.sort();
        assert_eq!(subdirs, [&b".redo"[..], b"sub", b"sub2"], "not the symlink");
        std::fs::remove_dir(t.p("sub2")).unwrap();
        assert!(DepCaches::default().current_names(&t.root()).is_none());
    }
}
