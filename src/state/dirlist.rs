//! Directory listings as an existence oracle for big trees.
//!
//! An out-of-date check of a 10000-target tree asks "does this exist?" tens
//! of thousands of times for names that mostly share a few directories (the
//! `.redo/` holding every `.dep`, the `.do` candidates beside the targets,
//! source files). After a few questions about one directory we read its
//! listing once (a handful of `getdents` calls) and answer from memory, which
//! replaces one failed `open`/`stat` per question (on tmpfs a failed lookup
//! is dear: it allocates a dentry and frees it again). How few: a small
//! directory (one or two blocks) is listed at its second question, when the
//! listing costs what two or three more questions would; a big one at its
//! eighth, since a process asking a big directory a handful of questions
//! (a nested redo-ifchange) would spend more listing it than asking.
//!
//! Answers are `lstat`-like (a dangling symlink exists) and reflect the
//! directory at the time it was listed: holders drop the lists whenever they
//! build something. `None` means "not known": the caller asks the kernel.
//!
//! Parallel checkers share one [`SharedDirLists`]. Each directory has its
//! own slot, listed by one thread; listing takes a few milliseconds for
//! 20000 names, and meanwhile the others get `None` and ask the kernel
//! (they have stats to make anyway) or list another directory. The names of a listing are kept in one
//! buffer with an open-addressing index: no allocation per name.
//!
//! Listings outlive the process: a listing takes the directory's `fstat`
//! before reading its names, and the checker keeps what it listed in the
//! directory's `.dep` cache when it writes it ([`SharedDirLists::to_remember`]).
//! An oracle made [`SharedDirLists::with_memory`] looks there first: when a
//! `stat` of the directory gives the stamp remembered, the remembered names
//! answer absence at the first question, with no listing (see
//! [`crate::state::dirnames`] for why that is sound).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::fasthash::{hash_bytes, FastMap};
use crate::state::depcache::Snapshot;
use crate::state::dirnames::DirNames;
use crate::state::nameindex::NameIndex;

/// Questions about one directory answered by `stat` before it is listed.
/// (2 for every directory was tried: in wall time on a quiet machine,
/// N=10000, the mixed and dirs shapes gained 5-20%, but flat and tree lost
/// 5-18%: listing a directory of 20000 names early puts it on the critical
/// path, and a process asking two questions of it never gains it back.)
const LIST_AFTER: u32 = 8;

/// A small directory is listed at its second question instead: its listing
/// costs what two or three failed `stat`s do (open, `fstat`, two
/// `getdents`, close), and a tree of a thousand small directories asks
/// each a dozen questions.
const LIST_SMALL_AFTER: u32 = 2;

/// At most this big (st_size), a directory is small: one or two blocks on
/// ext4 (up to about 200 short names), a hundred names on tmpfs.
const SMALL_DIR_BYTES: i64 = 8192;

/// What a listing found.
enum Listing {
    /// The names, and the directory's snapshot taken before they were read.
    Names(NameSet, Option<Snapshot>),
    /// Names an earlier run listed, the directory's stamp unchanged since
    /// (see [`crate::state::dirnames`]): they answer absence only.
    Recalled(Arc<DirNames>),
    /// The directory does not exist: nothing below it exists.
    Missing,
    /// Unreadable (permissions): always ask the kernel.
    Unknown,
}

impl Listing {
    fn answer(&self, name: &[u8]) -> Option<bool> {
        match self {
            Listing::Names(names, _) => Some(names.contains(name)),
            Listing::Recalled(names) => names.rules_out(name).then_some(false),
            Listing::Missing => Some(false),
            Listing::Unknown => None,
        }
    }

    /// Is `name` certainly absent? Reads no name of the listing (see
    /// [`NameIndex::may_hold`]).
    fn rules_out(&self, name: &[u8]) -> Option<bool> {
        match self {
            Listing::Names(names, _) => Some(!names.may_hold(name)),
            Listing::Recalled(names) => Some(names.rules_out(name)),
            Listing::Missing => Some(true),
            Listing::Unknown => None,
        }
    }
}

/// One directory: the questions counted so far, then its listing.
#[derive(Default)]
struct Slot {
    asked: AtomicU32,
    /// Set by the thread that lists the directory.
    started: AtomicBool,
    /// Set once the names remembered for the directory were looked at.
    recalled: AtomicBool,
    listing: OnceLock<Listing>,
}

/// What a caller knows for certain is absent from the filesystem (say, from
/// a directory walk made just before), so that the checker spares the `stat`
/// or `open` of files that do not exist — most `.do` candidates, and the
/// `.dep` of every source. Only consulted for absence: a path it does not
/// know is examined as usual. Like every memo here, it is a snapshot.
pub trait KnownAbsent: Send + Sync {
    fn absent(&self, path: &Path) -> bool;
    /// Known to exist (a name in a directory listing; a dangling symlink
    /// counts). Only used where mere existence matters.
    fn present(&self, _path: &Path) -> bool {
        false
    }
}

/// A shareable existence oracle for the out-of-date checker (see the
/// module essay).
pub struct SharedDirLists {
    /// Tells this oracle's slots from another's in a thread's [`RECENT`].
    id: u64,
    /// Keyed by the directory's bytes: `Path`'s own hash walks components.
    dirs: RwLock<FastMap<OsString, Arc<Slot>>>,
    /// Where names remembered from earlier runs are found.
    memory: Option<Arc<dyn NameMemory>>,
}

/// Names of directories remembered from earlier runs (the `.dep` caches
/// that are loaded), for [`SharedDirLists::with_memory`].
pub trait NameMemory: Send + Sync {
    /// What was remembered of `dir`, if anything; whether it is still
    /// current is for the caller to see.
    fn remembered(&self, dir: &Path) -> Option<Arc<DirNames>>;
}

/// A directory this oracle listed, whose stamp was quiet: what to remember
/// of it ([`SharedDirLists::to_remember`]).
pub struct ToRemember {
    pub dir: OsString,
    stamp: [i64; 7],
    slot: Arc<Slot>,
}

impl ToRemember {
    /// The directory's stamp when listed.
    pub fn stamp(&self) -> [i64; 7] {
        self.stamp
    }

    /// The names to remember (each hashed now); None only if the slot
    /// held no names, which [`SharedDirLists::to_remember`] rules out.
    pub fn names(&self) -> Option<DirNames> {
        let Some(Listing::Names(set, _)) = self.slot.listing.get() else {
            return None;
        };
        let names = (0..set.ends.len() as u32).map(|i| set.name(i));
        let names = DirNames::new(self.stamp, names);
        if set.kinds_unknown {
            return Some(names);
        }
        Some(names.with_subdirs(set.subdirs.iter().map(|&i| set.name(i))))
    }
}

impl Default for SharedDirLists {
    fn default() -> SharedDirLists {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        SharedDirLists {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            dirs: RwLock::default(),
            memory: None,
        }
    }
}

/// A slot a thread asked about lately: its oracle's id, its directory.
type Recent = Option<(u64, OsString, Arc<Slot>)>;

thread_local! {
    /// The two slots a thread asked about last, by oracle and directory,
    /// the latest first: most questions in a row are about one directory,
    /// or alternate between two (a target's directory and its `.redo/`),
    /// and taking the shared table's lock (and the slot's count) for each
    /// bounces their cache lines between the parallel checkers. (It keeps
    /// those slots' listings alive until the thread asks about other
    /// directories or ends.)
    static RECENT: std::cell::RefCell<[Recent; 2]> =
        const { std::cell::RefCell::new([None, None]) };
}

/// Is `r` the slot of `dir` in the oracle `id`?
fn is_recent(r: &Recent, id: u64, dir: &OsStr) -> bool {
    matches!(r, Some((i, d, _)) if *i == id && d.as_os_str() == dir)
}

impl SharedDirLists {
    /// An oracle that first asks `memory` for a directory's names, and
    /// answers from them while the directory's stamp is unchanged.
    pub fn with_memory(memory: Arc<dyn NameMemory>) -> SharedDirLists {
        SharedDirLists {
            memory: Some(memory),
            ..SharedDirLists::default()
        }
    }

    /// The directories listed with a quiet stamp, for remembering.
    ///
    /// Only small directories ([`SMALL_DIR_BYTES`]) are remembered: a tree
    /// has them by the thousand, each asked a few questions, so that their
    /// listings are most of what listing costs. A big one is listed once
    /// for thousands of questions; remembering its names gained nothing
    /// measurable (the tree shape's settled no-op, 21 alternating rounds:
    /// median 32.8 ms with them, 32.4 without) and made its cache 180 KB
    /// bigger.
    pub fn to_remember(&self) -> Vec<ToRemember> {
        let m = self.dirs.read().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter_map(|(dir, slot)| match slot.listing.get() {
                Some(Listing::Names(_, Some(s)))
                    if s.quiet() && s.size() <= SMALL_DIR_BYTES as u64 =>
                {
                    Some(ToRemember {
                        dir: dir.clone(),
                        stamp: s.state(),
                        slot: slot.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// Does `path` exist (not following a final symlink)? `None` when the
    /// answer must come from the kernel.
    pub fn exists(&self, path: &Path) -> Option<bool> {
        self.question(path, Listing::answer)
    }

    /// Is `path` certainly absent? `Some(false)` may also mean "probably
    /// there": a caller about to `stat` it anyway needs no more.
    pub fn ruled_out(&self, path: &Path) -> Option<bool> {
        self.question(path, Listing::rules_out)
    }

    fn question(&self, path: &Path, ask: fn(&Listing, &[u8]) -> Option<bool>) -> Option<bool> {
        // Split on the last `/` by bytes: `Path::parent` re-parses
        // components, which shows in profiles of big trees.
        let bytes = path.as_os_str().as_bytes();
        let cut = bytes.iter().rposition(|&b| b == b'/')?;
        let (dir, name) = (OsStr::from_bytes(&bytes[..cut.max(1)]), &bytes[cut + 1..]);
        if name.is_empty() {
            return None;
        }
        RECENT.with_borrow_mut(|recent| {
            if !is_recent(&recent[0], self.id, dir) {
                if is_recent(&recent[1], self.id, dir) {
                    recent.swap(0, 1);
                } else {
                    // The older one goes; its name's buffer is reused.
                    let mut d = recent[1].take().map(|(_, d, _)| d).unwrap_or_default();
                    d.clear();
                    d.push(dir);
                    recent.swap(0, 1);
                    recent[0] = Some((self.id, d, self.slot(dir)));
                }
            }
            match &recent[0] {
                Some((_, _, slot)) => self.ask(slot, dir, name, ask),
                None => None,
            }
        })
    }

    /// Ask `slot`, the slot of `dir`, about `name`.
    fn ask(
        &self,
        slot: &Slot,
        dir: &OsStr,
        name: &[u8],
        ask: fn(&Listing, &[u8]) -> Option<bool>,
    ) -> Option<bool> {
        if let Some(l) = slot.listing.get().or_else(|| self.recall(slot, dir)) {
            return ask(l, name);
        }
        let n = slot.asked.fetch_add(1, Ordering::Relaxed) + 1;
        let opened = match n {
            // Only the thread asking the second question looks at the size.
            LIST_SMALL_AFTER => Some(open_if_small(Path::new(dir))?),
            n if n < LIST_AFTER => return None,
            _ => None,
        };
        // One thread lists; the others ask the kernel meanwhile rather than
        // wait (they have stats to make anyway, and may list another
        // directory).
        if slot.started.swap(true, Ordering::Relaxed) {
            return slot.listing.get().and_then(|l| ask(l, name));
        }
        let listing = slot.listing.get_or_init(|| match opened {
            Some(Ok((fd, st))) => list_open(&fd, &st),
            Some(Err(u)) => u.into(),
            None => list(Path::new(dir)),
        });
        ask(listing, name)
    }

    /// The names remembered of `dir`, if its stamp is still theirs: looked
    /// for once, at the first question (the directory's `.dep` cache is
    /// loaded by then if a target of it was checked), and checked with one
    /// `stat` of the directory.
    fn recall<'s>(&self, slot: &'s Slot, dir: &OsStr) -> Option<&'s Listing> {
        let memory = self.memory.as_ref()?;
        if slot.recalled.swap(true, Ordering::Relaxed) {
            return None;
        }
        let names = memory.remembered(Path::new(dir))?;
        let now = Snapshot::take(Path::new(dir))?;
        (now.state() == names.stamp())
            .then(|| slot.listing.get_or_init(|| Listing::Recalled(names)))
    }

    fn slot(&self, dir: &OsStr) -> Arc<Slot> {
        {
            let m = self.dirs.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = m.get(dir) {
                return s.clone();
            }
        }
        let mut m = self.dirs.write().unwrap_or_else(|e| e.into_inner());
        m.entry(dir.to_owned()).or_default().clone()
    }
}

impl KnownAbsent for SharedDirLists {
    fn absent(&self, path: &Path) -> bool {
        self.ruled_out(path) == Some(true)
    }

    fn present(&self, path: &Path) -> bool {
        self.exists(path) == Some(true)
    }
}

/// Why a directory could not be opened for listing.
#[derive(Clone, Copy)]
enum Unopened {
    Missing,
    Unknown,
}

impl From<Unopened> for Listing {
    fn from(u: Unopened) -> Listing {
        match u {
            Unopened::Missing => Listing::Missing,
            Unopened::Unknown => Listing::Unknown,
        }
    }
}

/// Open `dir` for listing.
fn open_dir(dir: &Path) -> Result<std::os::fd::OwnedFd, Unopened> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let dir = crate::sys::cwd::walk_from_cwd(dir);
    nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).map_err(|e| match e {
        nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => Unopened::Missing,
        _ => Unopened::Unknown,
    })
}

fn list(dir: &Path) -> Listing {
    let fd = match open_dir(dir) {
        Ok(fd) => fd,
        Err(u) => return u.into(),
    };
    match nix::sys::stat::fstat(&fd) {
        Ok(st) => list_open(&fd, &st),
        Err(_) => Listing::Unknown,
    }
}

/// `dir` opened, with its `fstat`, if it is small (at most
/// [`SMALL_DIR_BYTES`]) or cannot be opened (its listing is then as cheap);
/// None when it is big.
fn open_if_small(dir: &Path) -> Option<Result<(std::os::fd::OwnedFd, libc::stat), Unopened>> {
    match open_dir(dir) {
        Ok(fd) => match nix::sys::stat::fstat(&fd) {
            Ok(st) if st.st_size <= SMALL_DIR_BYTES => Some(Ok((fd, st))),
            _ => None,
        },
        Err(l) => Some(Err(l)),
    }
}

/// Every name of the open directory `fd`, whose `fstat` (taken before) is
/// `st`.
fn list_open(fd: &std::os::fd::OwnedFd, st: &libc::stat) -> Listing {
    // getdents64 straight into one buffer, a big one: `std::fs::read_dir`
    // makes an `OsString` (an allocation) of each of thousands of names,
    // and readdir(3) asks 32 KiB at a time. The buffer is the thread's, made
    // once: a fresh zeroed 256 KiB per listing cost a third of the no-op of
    // a tree of a thousand small directories (page faults, zeroing).
    match GETDENTS_BUF.with_borrow_mut(|chunk| read_names(fd, chunk)) {
        Listing::Names(names, _) => Listing::Names(names, Some(Snapshot::of_stat(st))),
        other => other,
    }
}

thread_local! {
    static GETDENTS_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 << 10]);
}

/// Read every name of the open directory `fd` through `chunk`.
fn read_names(fd: &std::os::fd::OwnedFd, chunk: &mut [u8]) -> Listing {
    use std::os::fd::AsRawFd;
    let mut names = NameSet::default();
    loop {
        // SAFETY: the kernel writes at most `chunk.len()` bytes into it.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                chunk.as_mut_ptr(),
                chunk.len(),
            )
        };
        if n < 0 {
            return Listing::Unknown;
        }
        if n == 0 {
            break;
        }
        let mut at = 0usize;
        let n = n as usize;
        // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
        while at + 19 < n {
            let reclen = u16::from_ne_bytes([chunk[at + 16], chunk[at + 17]]) as usize;
            if reclen == 0 || at + reclen > n {
                return Listing::Unknown;
            }
            let name = &chunk[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                names.push(name, chunk[at + 18]);
            }
            at += reclen;
        }
    }
    if !names.index() {
        return Listing::Unknown;
    }
    Listing::Names(names, None)
}

/// A set of names in one buffer, indexed by open addressing.
#[derive(Default)]
struct NameSet {
    buf: Vec<u8>,
    /// The end of each name in `buf` (each starts where the last ended).
    ends: Vec<u32>,
    /// Ordinals of the subdirectories' names.
    subdirs: Vec<u32>,
    /// Some entry's kind was not told (`DT_UNKNOWN`): `subdirs` is unknown.
    kinds_unknown: bool,
    /// Ordinals into `ends`, made by [`NameSet::index`].
    index: Option<NameIndex>,
}

impl NameSet {
    /// Add a name, of the `d_type` `kind`.
    fn push(&mut self, name: &[u8], kind: u8) {
        match kind {
            libc::DT_DIR => self.subdirs.push(self.ends.len() as u32),
            libc::DT_UNKNOWN => self.kinds_unknown = true,
            _ => {}
        }
        self.buf.extend_from_slice(name);
        self.ends.push(self.buf.len() as u32);
    }

    fn name(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }

    /// Index the names (false when there are too many).
    fn index(&mut self) -> bool {
        let Some(mut index) = NameIndex::with_capacity(self.ends.len()) else {
            return false;
        };
        for i in 0..self.ends.len() as u32 {
            // Names in a directory are unique.
            index.insert(hash_bytes(self.name(i)), i, |_| false);
        }
        self.index = Some(index);
        true
    }

    fn contains(&self, name: &[u8]) -> bool {
        self.index.as_ref().is_some_and(|ix| {
            ix.find(hash_bytes(name), |i| self.name(i) == name)
                .is_some()
        })
    }

    fn may_hold(&self, name: &[u8]) -> bool {
        self.index
            .as_ref()
            .is_some_and(|ix| ix.may_hold(hash_bytes(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn answers_like_lstat_after_listing() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(d.path().join(format!("f{i}")), "").unwrap();
        }
        std::os::unix::fs::symlink("nowhere", d.path().join("dangling")).unwrap();
        let l = SharedDirLists::default();
        let mut answers = Vec::new();
        for i in 0..40 {
            answers.push(l.exists(&d.path().join(format!("f{i}"))));
        }
        // Early questions go to the kernel, later ones are answered.
        assert_eq!(answers[0], None);
        assert_eq!(answers[10], Some(true));
        assert_eq!(answers[19], Some(true));
        assert_eq!(answers[30], Some(false));
        assert_eq!(l.exists(&d.path().join("dangling")), Some(true));
        assert_eq!(l.exists(&d.path().join(".")), Some(false));
        assert_eq!(l.exists(&d.path().join("f")), Some(false));
        for _ in 0..LIST_AFTER {
            assert_ne!(l.exists(&d.path().join("nodir/x")), Some(true));
        }
        assert_eq!(l.exists(&d.path().join("nodir/x")), Some(false));
    }

    /// Names remembered of one directory, as a `.dep` cache holds them.
    struct Remembers(PathBuf, Arc<DirNames>);

    impl NameMemory for Remembers {
        fn remembered(&self, dir: &Path) -> Option<Arc<DirNames>> {
            (dir == self.0)
                .then(|| self.0.clone())
                .map(|_| self.1.clone())
        }
    }

    #[test]
    fn remembered_names_answer_absence_while_the_directory_keeps_its_stamp() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "").unwrap();
        let stamp = Snapshot::take(d.path()).unwrap().state();
        let names = Arc::new(DirNames::new(stamp, [&b"a"[..]].into_iter()));
        let memory = || Arc::new(Remembers(d.path().to_path_buf(), names.clone()));
        let l = SharedDirLists::with_memory(memory());
        // At the first question, without a listing: absence only.
        assert_eq!(l.exists(&d.path().join("b")), Some(false));
        assert_eq!(l.exists(&d.path().join("a")), None);
        assert!(matches!(
            l.slot(d.path().as_os_str()).listing.get(),
            Some(Listing::Recalled(_))
        ));
        // A name added changes the stamp: the memory is not used, and the
        // listing made instead has the new name.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(d.path().join("b"), "").unwrap();
        let l = SharedDirLists::with_memory(memory());
        assert_eq!(l.exists(&d.path().join("b")), None);
        assert_eq!(l.exists(&d.path().join("b")), Some(true));
        assert!(matches!(
            l.slot(d.path().as_os_str()).listing.get(),
            Some(Listing::Names(_, Some(_)))
        ));
    }

    #[test]
    fn a_small_directory_is_listed_at_its_second_question_a_big_one_later() {
        let small = tempfile::tempdir().unwrap();
        std::fs::write(small.path().join("a"), "").unwrap();
        let big = tempfile::tempdir().unwrap();
        // Long names: past SMALL_DIR_BYTES on ext4 and on tmpfs alike.
        for i in 0..400 {
            std::fs::write(big.path().join(format!("{i:0>60}")), "").unwrap();
        }
        let l = SharedDirLists::default();
        let ask = |d: &Path, i: u32| l.exists(&d.join(format!("x{i}")));
        assert_eq!(ask(small.path(), 0), None);
        assert_eq!(ask(small.path(), 1), Some(false));
        for i in 0..LIST_AFTER - 1 {
            assert_eq!(ask(big.path(), i), None, "question {i}");
        }
        assert_eq!(ask(big.path(), LIST_AFTER), Some(false));
        // A missing directory is as cheap to list: every name below is absent.
        let gone = small.path().join("gone");
        assert_eq!(ask(&gone, 0), None);
        assert_eq!(ask(&gone, 1), Some(false));
    }

    #[test]
    fn a_big_listing_knows_every_name_and_no_other() {
        let d = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..3000).map(|i| format!("n{i}.x")).collect();
        for n in &names {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let Listing::Names(set, _) = list(d.path()) else {
            panic!("listing failed");
        };
        assert_eq!(set.ends.len(), 3000);
        for n in &names {
            assert!(set.contains(n.as_bytes()), "{n}");
            assert!(!set.contains(format!("{n}.do").as_bytes()), "{n}.do");
        }
        assert!(!set.contains(b""));
        assert!(matches!(list(&d.path().join("no")), Listing::Missing));
    }

    #[test]
    fn a_new_oracle_never_answers_from_an_old_ones_listing() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(d.path().join(format!("f{i}")), "").unwrap();
        }
        let old = SharedDirLists::default();
        for i in 0..20 {
            old.exists(&d.path().join(format!("f{i}")));
        }
        assert_eq!(old.exists(&d.path().join("new")), Some(false));
        // Built since: a fresh oracle (same thread, same directory) must
        // not reuse the slot this thread remembers.
        std::fs::write(d.path().join("new"), "").unwrap();
        let fresh = SharedDirLists::default();
        assert_ne!(fresh.exists(&d.path().join("new")), Some(false));
        assert_eq!(old.exists(&d.path().join("new")), Some(false));
    }

    #[test]
    fn threads_share_one_listing_per_directory() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..100 {
            std::fs::write(d.path().join(format!("f{i}")), "").unwrap();
        }
        let l = SharedDirLists::default();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (l, d) = (&l, d.path());
                s.spawn(move || {
                    for i in 0..200 {
                        let a = l.exists(&d.join(format!("f{}", (i * 7 + t) % 150)));
                        assert!(a.is_none() || a == Some((i * 7 + t) % 150 < 100));
                    }
                });
            }
        });
        assert_eq!(l.dirs.read().unwrap().len(), 1);
    }
}
