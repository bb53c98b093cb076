//! A per-directory cache of `.dep` files, so that checking a big tree that
//! has not changed reads one file per directory instead of one per target.
//!
//! goredo's state is one `.dep` file per target, and ferredo keeps it that
//! way (a tree moves between the two without a rebuild). But an up-to-date
//! check of 10000 targets then costs 10000 `open`/`read`/`close` triples on
//! top of the `stat`s a check needs anyway — ninja reads one log instead.
//! This cache is a derived copy, never the source of truth:
//! `D/.redo/.ferredo/deps` holds the bytes of the `.dep` files of `D/.redo/`
//! together with a *snapshot* of `D/.redo/` itself (device, inode, size,
//! mtime, ctime) taken before those files were read.
//!
//! Why a matching snapshot proves the copies current: goredo and ferredo
//! never write a `.dep` in place; they write a temp file in `D/.redo/` and
//! rename it over the old one, and a target's removal unlinks it. Each of
//! those changes the directory's mtime and ctime to the current time. The
//! cache is only written when
//! 1. the snapshot was taken before any of the cached files was read, and the
//!    directory still has the same snapshot when the cache is written (no
//!    entry changed while we read), and
//! 2. the snapshot's times were at least [`QUIET`] in the past when it was
//!    taken (or [`QUIET_COARSE`] on a filesystem whose timestamps look like
//!    whole seconds), so any later change gets a strictly later timestamp:
//!    a change in the same clock tick as the snapshot cannot go unseen.
//!
//! A reader takes the snapshot of `D/.redo/` again and uses the cache only if
//! it is identical; anything else (no cache, another snapshot, a short or
//! corrupt file, a checksum mismatch) means "read the `.dep` files".
//! Assumptions, stated: `.dep` files are replaced by rename, never edited in
//! place (true of goredo, ferredo and redo-depfix; a hand edit in place is
//! not seen until the directory changes), and the system clock does not step
//! backwards past a snapshot.
//!
//! The cache is *complete*: it holds every `*.dep` of `D/.redo/` at the
//! snapshot (the writer lists the directory and reads what it had not read
//! yet), so a name missing from it has no `.dep` — a source — and costs no
//! system call either.
//!
//! The cache lives in a subdirectory so that writing it does not change the
//! snapshot of `D/.redo/` (only creating `.ferredo/` the first time does).
//! goredo ignores names in `.redo/` that do not end in `.dep`, `.lock`, ...

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ood::FastMap;

pub const CACHE_DIR: &str = ".ferredo";
pub const CACHE_FILE: &str = "deps";
const MAGIC: &[u8] = b"ferredo depcache 2\n";
/// A directory changed less than this long before the snapshot may change
/// again within the same timestamp tick (kernel tick: 1-10 ms).
const QUIET: std::time::Duration = std::time::Duration::from_millis(100);
/// Filesystems with whole-second (or two-second) timestamps.
const QUIET_COARSE: std::time::Duration = std::time::Duration::from_secs(3);
/// Fewer fresh reads than this in a directory are not worth a cache write.
pub const MIN_ENTRIES: usize = 4;

/// The identity and change times of a `.redo/` directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// When the snapshot was taken (not compared; decides [`Snapshot::quiet`]).
    taken: (i64, i64),
}

impl Snapshot {
    /// `None` when `redo_dir` does not exist or is not a directory.
    pub fn take(redo_dir: &Path) -> Option<Snapshot> {
        let m = std::fs::metadata(redo_dir).ok()?;
        if !m.is_dir() {
            return None;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d.as_secs() as i64, d.subsec_nanos() as i64))
            .unwrap_or((0, 0));
        Some(Snapshot {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            taken: now,
        })
    }

    fn same_dir_state(&self, o: &Snapshot) -> bool {
        (self.dev, self.ino, self.size, self.mtime, self.ctime)
            == (o.dev, o.ino, o.size, o.mtime, o.ctime)
    }

    /// Was the directory's last change far enough before the snapshot that
    /// a later change must carry a later timestamp?
    fn quiet(&self) -> bool {
        let coarse = self.mtime.1 == 0 && self.ctime.1 == 0;
        let margin = if coarse { QUIET_COARSE } else { QUIET };
        let ns = |t: (i64, i64)| t.0 as i128 * 1_000_000_000 + t.1 as i128;
        let last = ns(self.mtime).max(ns(self.ctime));
        ns(self.taken) - last > margin.as_nanos() as i128
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (s, n) in [self.mtime, self.ctime] {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn cache_path(redo_dir: &Path) -> PathBuf {
    redo_dir.join(CACHE_DIR).join(CACHE_FILE)
}

/// The cached `.dep` bytes of one directory, by target name.
pub struct Cached {
    buf: Vec<u8>,
    index: FastMap<OsString, (usize, usize)>,
}

impl Cached {
    /// The bytes of `name`'s `.dep`; None: the directory had no such file.
    pub fn get(&self, name: &OsStr) -> Option<&[u8]> {
        self.index.get(name).map(|&(a, b)| &self.buf[a..b])
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &[u8])> {
        self.index
            .iter()
            .map(|(k, &(a, b))| (k.as_os_str(), &self.buf[a..b]))
    }
}

/// The cache of `redo_dir` if it was written for exactly `snap`.
pub fn load(redo_dir: &Path, snap: &Snapshot) -> Option<Arc<Cached>> {
    let buf = std::fs::read(cache_path(redo_dir)).ok()?;
    parse(buf, snap)
}

fn parse(buf: Vec<u8>, snap: &Snapshot) -> Option<Arc<Cached>> {
    let mut expect = Vec::with_capacity(64);
    expect.extend_from_slice(MAGIC);
    snap.encode(&mut expect);
    if buf.len() < expect.len() + 4 + 32 || !buf.starts_with(&expect) {
        return None;
    }
    let (body, sum) = buf.split_at(buf.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut at = expect.len();
    let take = |at: &mut usize, n: usize| -> Option<(usize, usize)> {
        let end = at.checked_add(n).filter(|&e| e <= body.len())?;
        let r = (*at, end);
        *at = end;
        Some(r)
    };
    let (a, b) = take(&mut at, 4)?;
    let count = u32::from_le_bytes(body[a..b].try_into().ok()?) as usize;
    let mut index = FastMap::default();
    index.reserve(count.min(1 << 20));
    for _ in 0..count {
        let (a, b) = take(&mut at, 2)?;
        let nlen = u16::from_le_bytes(body[a..b].try_into().ok()?) as usize;
        let (na, nb) = take(&mut at, nlen)?;
        let (a, b) = take(&mut at, 4)?;
        let dlen = u32::from_le_bytes(body[a..b].try_into().ok()?) as usize;
        let range = take(&mut at, dlen)?;
        index.insert(OsStr::from_bytes(&body[na..nb]).to_os_string(), range);
    }
    if at != body.len() {
        return None;
    }
    Some(Arc::new(Cached { buf, index }))
}

/// Write the cache of `redo_dir` for `snap` with `known` (target name,
/// `.dep` bytes read after `snap` was taken) and every other `*.dep` of the
/// directory, if the directory is still in the state of `snap` and was quiet
/// then. Returns whether it was written. Failures are not errors: the cache
/// is only an optimisation.
pub fn store<'a>(
    redo_dir: &Path,
    snap: &Snapshot,
    known: impl Iterator<Item = (&'a OsStr, &'a [u8])>,
) -> bool {
    if !snap.quiet() {
        return false;
    }
    let mut entries: FastMap<&OsStr, std::borrow::Cow<[u8]>> = FastMap::default();
    for (n, b) in known {
        entries.insert(n, std::borrow::Cow::Borrowed(b));
    }
    let Ok(list) = std::fs::read_dir(redo_dir) else {
        return false;
    };
    let mut rest: Vec<(OsString, Vec<u8>)> = Vec::new();
    for e in list {
        let Ok(e) = e else { return false };
        let file = e.file_name();
        let Some(name) = file.as_bytes().strip_suffix(b".dep") else {
            continue;
        };
        if name.is_empty() || entries.contains_key(OsStr::from_bytes(name)) {
            continue;
        }
        // Anything but a readable regular file is left to the plain path,
        // which reports it: then the cache could not be complete.
        match e.file_type() {
            Ok(t) if t.is_file() => {}
            _ => return false,
        }
        let Ok(b) = std::fs::read(e.path()) else {
            return false;
        };
        rest.push((OsStr::from_bytes(name).to_os_string(), b));
    }
    for (n, b) in &rest {
        entries.insert(n.as_os_str(), std::borrow::Cow::Borrowed(b.as_slice()));
    }
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    snap.encode(&mut out);
    let count_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut count: u32 = 0;
    for (name, dep) in entries {
        let (Ok(nlen), Ok(dlen)) = (u16::try_from(name.len()), u32::try_from(dep.len())) else {
            // Cannot be represented: the cache would not be complete.
            return false;
        };
        out.extend_from_slice(&nlen.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&dlen.to_le_bytes());
        out.extend_from_slice(&dep);
        count += 1;
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    let sum = *blake3::hash(&out).as_bytes();
    out.extend_from_slice(&sum);

    let dir = redo_dir.join(CACHE_DIR);
    if std::fs::create_dir(&dir).is_err() && !dir.is_dir() {
        return false;
    }
    // Creating `.ferredo/` changed the directory: the snapshot must still
    // hold, else entries may have changed while we read them.
    match Snapshot::take(redo_dir) {
        Some(now) if now.same_dir_state(snap) => {}
        _ => return false,
    }
    let Ok(mut tmp) = tempfile::Builder::new().prefix(".deps.").tempfile_in(&dir) else {
        return false;
    };
    if tmp.write_all(&out).is_err() {
        return false;
    }
    tmp.persist(cache_path(redo_dir)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_dir() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join(".redo");
        std::fs::create_dir(&r).unwrap();
        std::fs::create_dir(r.join(CACHE_DIR)).unwrap();
        std::thread::sleep(QUIET + std::time::Duration::from_millis(20));
        (d, r)
    }

    #[test]
    fn round_trip_for_the_same_snapshot() {
        let (_d, r) = quiet_dir();
        let snap = Snapshot::take(&r).unwrap();
        let items = [(OsStr::new("a.t"), &b"dep a"[..]), (OsStr::new("b"), b"")];
        assert!(store(&r, &snap, items.iter().copied()));
        let c = load(&r, &Snapshot::take(&r).unwrap()).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(OsStr::new("a.t")), Some(&b"dep a"[..]));
        assert_eq!(c.get(OsStr::new("b")), Some(&b""[..]));
        assert_eq!(c.get(OsStr::new("c")), None);
    }

    #[test]
    fn the_cache_holds_every_dep_of_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join(".redo");
        std::fs::create_dir_all(r.join(CACHE_DIR)).unwrap();
        std::fs::write(r.join("unread.dep"), b"on disk").unwrap();
        std::fs::write(r.join("unread.lock"), b"").unwrap();
        std::thread::sleep(QUIET + std::time::Duration::from_millis(20));
        let snap = Snapshot::take(&r).unwrap();
        assert!(store(
            &r,
            &snap,
            [(OsStr::new("read"), &b"x"[..])].into_iter()
        ));
        let c = load(&r, &snap).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(OsStr::new("unread")), Some(&b"on disk"[..]));
        assert_eq!(c.get(OsStr::new("unread.lock")), None);
    }

    #[test]
    fn any_entry_change_invalidates() {
        let (_d, r) = quiet_dir();
        let snap = Snapshot::take(&r).unwrap();
        assert!(store(&r, &snap, [(OsStr::new("a"), &b"x"[..])].into_iter()));
        // A .dep replaced by rename, as goredo and ferredo write them.
        std::fs::write(r.join("tmp"), b"y").unwrap();
        std::fs::rename(r.join("tmp"), r.join("a.dep")).unwrap();
        assert!(load(&r, &Snapshot::take(&r).unwrap()).is_none());
    }

    #[test]
    fn not_written_when_the_directory_changed_meanwhile_or_recently() {
        let (_d, r) = quiet_dir();
        let snap = Snapshot::take(&r).unwrap();
        std::fs::write(r.join("new.dep"), b"z").unwrap();
        assert!(!store(&r, &snap, std::iter::empty()));
        // Just changed: not quiet.
        let recent = Snapshot::take(&r).unwrap();
        assert!(!store(&r, &recent, std::iter::empty()));
        assert!(!cache_path(&r).exists());
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored() {
        let (_d, r) = quiet_dir();
        let snap = Snapshot::take(&r).unwrap();
        assert!(store(&r, &snap, [(OsStr::new("a"), &b"x"[..])].into_iter()));
        let p = cache_path(&r);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 40] ^= 1;
        // Writing in place keeps the .redo snapshot (the file is one level down).
        std::fs::write(&p, &b).unwrap();
        assert!(load(&r, &snap).is_none());
        std::fs::write(&p, b"garbage").unwrap();
        assert!(load(&r, &snap).is_none());
        std::fs::write(&p, b"").unwrap();
        assert!(load(&r, &snap).is_none());
    }
}
