//! A per-directory cache of `.dep` files, so that checking a big tree that
//! has not changed reads one file per directory instead of one per target.
//!
//! goredo's state is one `.dep` file per target, and ferredo keeps it that
//! way (a tree moves between the two without a rebuild). But an up-to-date
//! check of 10000 targets then costs 10000 `open`/`read`/`close` triples on
//! top of the `stat`s a check needs anyway — ninja reads one log instead.
//! This cache is a derived copy, never the source of truth:
//! `D/.redo/.ferredo/deps` holds the bytes of `.dep` files of `D/.redo/`,
//! each with the *key* of the file it was read from (inode number, size,
//! mtime, ctime, taken with `fstat` on the open file), and optionally a
//! *snapshot* of `D/.redo/` itself (device, inode, size, mtime, ctime).
//!
//! Why this is sound: goredo and ferredo never rewrite a `.dep` in place;
//! they write a temp file and rename it over the old one, and a removal
//! unlinks it. So the bytes read through an open file belong to that inode
//! for good (but for one append, below), and any replacement or removal
//! changes the directory's mtime and ctime, and the name's key (a new inode,
//! with the current time as its ctime). The one append: ferredo's commit
//! renames a `.dep` into place as an *intent* and then appends its
//! self-record (see `engine::commit`), which changes the file's key but not
//! the directory. A cache that read the intent can therefore hold it after
//! the append only in the fast mode below, only if it read the file at
//! least [`QUIET`] after its rename and before the append (a commit that
//! slow), and then it calls the target out of date: one needless rebuild,
//! whose rename changes the directory. Never the other way round: the
//! final bytes never turn back into an intent.
//! Two ways to use an entry:
//! - *fast*: the cache carries a snapshot and `D/.redo/` still has exactly
//!   that snapshot: every entry is current, and the cache is complete (it
//!   holds every `*.dep` of the directory: a name it lacks is a source).
//!   Written only when the snapshot was taken before anything was read, the
//!   directory still has it at write time, and its times were at least
//!   [`QUIET`] in the past when taken ([`QUIET_COARSE`] when the timestamps
//!   look like whole seconds), so a later change in the same clock tick
//!   cannot go unseen.
//! - *per entry*: otherwise (the tree was built since), a name's entry is
//!   used if `stat` of its `.dep` still gives the entry's key: one system
//!   call instead of open, read and close. An entry is only written if its
//!   file's times were [`QUIET`] in the past when it was read, for the same
//!   reason (an inode number reused within one tick).
//!
//! Anything else (no cache, a short or corrupt file, a checksum mismatch, a
//! key that differs) means "read the `.dep` file". Assumptions, stated:
//! `.dep` files are replaced by rename, never edited in place but for the
//! commit's append (true of goredo, ferredo and redo-depfix; a hand edit in
//! place is not seen until the file is replaced), and the clock does not
//! step backwards.
//!
//! The cache also keeps the names of the target directory `D` (not of
//! `D/.redo/`) from a listing of it, with `D`'s stamp, and which of them are
//! subdirectories: see [`crate::state::dirnames`]. They are checked apart
//! from the entries, by a `stat` of `D`.
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

use crate::fasthash::{hash_bytes, FastMap};
use crate::state::dirnames::DirNames;
use crate::state::nameindex::NameIndex;

pub const CACHE_DIR: &str = ".ferredo";
pub const CACHE_FILE: &str = "deps";
const MAGIC: &[u8] = b"ferredo depcache 5\n";
/// A directory changed less than this long before the snapshot may change
/// again within the same timestamp tick (kernel tick: 1-10 ms).
const QUIET: std::time::Duration = std::time::Duration::from_millis(100);
/// Filesystems with whole-second (or two-second) timestamps.
const QUIET_COARSE: std::time::Duration = std::time::Duration::from_secs(3);

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

/// Seconds and nanoseconds since the epoch, now.
fn now() -> (i64, i64) {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() as i64, d.subsec_nanos() as i64))
        .unwrap_or((0, 0))
}

/// Were times `mtime` and `ctime` far enough before `at` that a later change
/// must carry a later timestamp?
fn quiet(mtime: (i64, i64), ctime: (i64, i64), at: (i64, i64)) -> bool {
    let coarse = mtime.1 == 0 && ctime.1 == 0;
    let margin = if coarse { QUIET_COARSE } else { QUIET };
    let ns = |t: (i64, i64)| t.0 as i128 * 1_000_000_000 + t.1 as i128;
    ns(at) - ns(mtime).max(ns(ctime)) > margin.as_nanos() as i128
}

impl Snapshot {
    /// `None` when `redo_dir` does not exist or is not a directory.
    pub fn take(redo_dir: &Path) -> Option<Snapshot> {
        let path = crate::sys::cwd::walk_from_cwd(redo_dir);
        // The empty path of a walk relative to the working directory.
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let m = std::fs::metadata(path).ok()?;
        if !m.is_dir() {
            return None;
        }
        Some(Snapshot {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            taken: now(),
        })
    }

    /// The snapshot of a directory from its `fstat`, taken now.
    pub fn of_stat(st: &libc::stat) -> Snapshot {
        Snapshot {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
            taken: now(),
        }
    }

    /// What is compared: identity, size, mtime and ctime.
    pub fn state(&self) -> [i64; 7] {
        [
            self.dev as i64,
            self.ino as i64,
            self.size as i64,
            self.mtime.0,
            self.mtime.1,
            self.ctime.0,
            self.ctime.1,
        ]
    }

    /// Is `st` (an `fstat` of an open directory) the directory snapshotted?
    pub fn same_dir(&self, st: &libc::stat) -> bool {
        st.st_dev == self.dev && st.st_ino == self.ino
    }

    /// The directory's size in bytes (a hint of how many entries it has).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Does `redo_dir` still have this snapshot's state?
    pub fn still(&self, redo_dir: &Path) -> bool {
        Snapshot::take(redo_dir).is_some_and(|s| s.state() == self.state())
    }

    /// Was the directory quiet when the snapshot was taken (see the essay)?
    pub fn quiet(&self) -> bool {
        quiet(self.mtime, self.ctime, self.taken)
    }
}

/// What identifies the content of a `.dep` file, replaced only by rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKey {
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    pub fn of(m: &std::fs::Metadata) -> FileKey {
        FileKey {
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The key of a raw `stat` (as [`FileKey::of`] of the same file).
    pub fn of_stat(st: &libc::stat) -> FileKey {
        FileKey {
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// Is the file old enough, now, for its key to be cached? Call it right
    /// after taking the key.
    pub fn quiet_now(&self) -> bool {
        quiet(self.mtime, self.ctime, now())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for v in [
            self.ino as i64,
            self.size as i64,
            self.mtime.0,
            self.mtime.1,
            self.ctime.0,
            self.ctime.1,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn decode(b: &[u8]) -> Option<FileKey> {
        let w = |i: usize| -> Option<i64> {
            Some(i64::from_le_bytes(
                b.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        Some(FileKey {
            ino: w(0)? as u64,
            size: w(1)? as u64,
            mtime: (w(2)?, w(3)?),
            ctime: (w(4)?, w(5)?),
        })
    }
}
const KEY_LEN: usize = 48;
const SNAP_LEN: usize = 1 + 7 * 8;

fn cache_path(redo_dir: &Path) -> PathBuf {
    redo_dir.join(CACHE_DIR).join(CACHE_FILE)
}

/// The cached `.dep` files of one directory, by target name.
pub struct Cached {
    buf: Vec<u8>,
    /// In file order: the name's and the bytes' ranges in `buf`.
    entries: Vec<CachedEntry>,
    /// Ordinals of `entries` by the name's bytes in `buf`: no copy of
    /// 10000 names per load.
    index: NameIndex,
    /// The directory state for which every entry is current and the cache
    /// complete; None: entries must be checked one by one.
    snap: Option<[i64; 7]>,
    /// The target directory's names, as a listing found them.
    names: Option<Arc<DirNames>>,
}

impl Cached {
    /// The names of the directory beside `.redo/` when it was last listed
    /// (see [`crate::state::dirnames`]).
    pub fn names(&self) -> Option<&Arc<DirNames>> {
        self.names.as_ref()
    }

    /// Does `now` (the directory as it is) let every entry be trusted, and
    /// the missing names be known absent?
    pub fn fast(&self, now: &Snapshot) -> bool {
        self.snap == Some(now.state())
    }

    /// The key and bytes of `name`'s `.dep`.
    /// The ordinal of `name`'s entry.
    pub fn find(&self, name: &OsStr) -> Option<u32> {
        let name = name.as_bytes();
        self.index.find(hash_bytes(name), |i| {
            let e = &self.entries[i as usize];
            &self.buf[e.name.0..e.name.1] == name
        })
    }

    /// Name, key and `.dep` bytes of the entry at `ordinal`.
    pub fn at(&self, ordinal: u32) -> Option<(&OsStr, FileKey, &[u8])> {
        let e = self.entries.get(ordinal as usize)?;
        Some((
            OsStr::from_bytes(&self.buf[e.name.0..e.name.1]),
            e.key,
            &self.buf[e.data.0..e.data.1],
        ))
    }

    /// Where the `.dep` bytes of the entry at `ordinal` are in
    /// [`Cached::bytes`].
    pub fn data_range(&self, ordinal: u32) -> Option<std::ops::Range<usize>> {
        let e = self.entries.get(ordinal as usize)?;
        Some(e.data.0..e.data.1)
    }

    /// The whole loaded cache file.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn entry(&self, name: &OsStr) -> Option<(FileKey, &[u8])> {
        self.find(name)
            .and_then(|i| self.at(i))
            .map(|(_, k, b)| (k, b))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The cache of `redo_dir`, if there is a readable one.
pub fn load(redo_dir: &Path) -> Option<Arc<Cached>> {
    let path = cache_path(redo_dir);
    let (file, meta) = super::dep::open_dep(crate::sys::cwd::walk_from_cwd(&path)).ok()?;
    // Read at its exact size: a first read into a bigger buffer would spare
    // the `fstat`, but touching the memory costs more (tried: deep no-op
    // 74.9 -> 79.6 ms with a 16 KiB first read).
    let (buf, _) = read_sized(file, &meta).ok()?;
    parse(buf)
}

/// One `read` into `buf`, retried if interrupted.
fn read_once(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

fn parse(buf: Vec<u8>) -> Option<Arc<Cached>> {
    if buf.len() < MAGIC.len() + SNAP_LEN + 1 + 4 + 32 || !buf.starts_with(MAGIC) {
        return None;
    }
    let (body, sum) = buf.split_at(buf.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return None;
    }
    let mut at = MAGIC.len();
    let take = |at: &mut usize, n: usize| -> Option<(usize, usize)> {
        let end = at.checked_add(n).filter(|&e| e <= body.len())?;
        let r = (*at, end);
        *at = end;
        Some(r)
    };
    let (a, b) = take(&mut at, SNAP_LEN)?;
    let snap = match body[a] {
        0 => None,
        1 => {
            let mut st = [0i64; 7];
            for (i, v) in st.iter_mut().enumerate() {
                let o = a + 1 + i * 8;
                *v = i64::from_le_bytes(body[o..o + 8].try_into().ok()?);
            }
            Some(st)
        }
        _ => return None,
    };
    debug_assert_eq!(b - a, SNAP_LEN);
    let (a, _) = take(&mut at, 1)?;
    let names = match body[a] {
        0 => None,
        1 => {
            let (names, used) = DirNames::decode(&body[at..])?;
            take(&mut at, used)?;
            names.map(Arc::new)
        }
        _ => return None,
    };
    let (a, b) = take(&mut at, 4)?;
    let count = u32::from_le_bytes(body[a..b].try_into().ok()?) as usize;
    let mut index = NameIndex::with_capacity(count)?;
    let mut entries = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let (a, b) = take(&mut at, 2)?;
        let nlen = u16::from_le_bytes(body[a..b].try_into().ok()?) as usize;
        let (na, nb) = take(&mut at, nlen)?;
        let (ka, kb) = take(&mut at, KEY_LEN)?;
        let key = FileKey::decode(&body[ka..kb])?;
        let (a, b) = take(&mut at, 4)?;
        let dlen = u32::from_le_bytes(body[a..b].try_into().ok()?) as usize;
        let (da, db) = take(&mut at, dlen)?;
        entries.push(CachedEntry {
            name: (na, nb),
            key,
            data: (da, db),
        });
    }
    if at != body.len() {
        return None;
    }
    for (i, e) in entries.iter().enumerate() {
        let name = &body[e.name.0..e.name.1];
        // A name twice (never written so): the last stands, as in a map.
        index.insert(hash_bytes(name), i as u32, |j| {
            let f = &entries[j as usize];
            &body[f.name.0..f.name.1] == name
        });
    }
    Some(Arc::new(Cached {
        buf,
        entries,
        index,
        snap,
        names,
    }))
}

struct CachedEntry {
    name: (usize, usize),
    key: FileKey,
    data: (usize, usize),
}

/// Read a `.dep` and take its key through the open file (the bytes belong to
/// that inode for good). The key is None when the file is too young to be
/// cached.
pub fn read_keyed(path: &Path) -> std::io::Result<(Vec<u8>, Option<FileKey>)> {
    let (f, meta) = super::dep::open_dep(path)?;
    let (b, key) = read_sized(f, &meta)?;
    Ok((b, key.quiet_now().then_some(key)))
}

/// The whole of `f` and its key, in one `read` when its size is as `fstat`
/// says: a read from a regular file returns less than asked only at its
/// end, and these files are replaced by rename, never written in place (so
/// no second read to see the end, as `std::fs::read` makes).
fn read_sized(
    mut f: std::fs::File,
    meta: &std::fs::Metadata,
) -> std::io::Result<(Vec<u8>, FileKey)> {
    use std::io::Read;
    let key = FileKey::of(meta);
    let want = usize::try_from(key.size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut b = vec![0u8; want];
    let n = read_once(&mut f, &mut b)?;
    b.truncate(n);
    if n == want {
        f.read_to_end(&mut b)?;
    }
    Ok((b, key))
}

/// Write the cache of `redo_dir` with `entries` (target name, key, `.dep`
/// bytes; each key taken after `snap`), if there are any. When the
/// directory is still in the state of `snap` and was quiet then, every other
/// `*.dep` of it is added and the cache is written *fast* (complete, valid
/// while the directory keeps that state); otherwise it is written for
/// checking entry by entry. `names`, the target directory's, are kept
/// beside. Returns whether it was written. Failures are not errors: the
/// cache is only an optimisation.
pub fn store(
    redo_dir: &Path,
    snap: &Snapshot,
    entries: Vec<(&OsStr, FileKey, &[u8])>,
    names: Option<&DirNames>,
) -> bool {
    let mut all: FastMap<&OsStr, (FileKey, &[u8])> = FastMap::default();
    all.reserve(entries.len());
    for (n, k, b) in entries {
        all.insert(n, (k, b));
    }
    let dir = redo_dir.join(CACHE_DIR);
    if std::fs::create_dir(&dir).is_err() && !dir.is_dir() {
        return false;
    }
    // Complete the set for a fast cache; creating `.ferredo/` above changed
    // the directory, which the snapshot check then sees.
    let rest = (snap.quiet() && snap.still(redo_dir))
        .then(|| the_rest(redo_dir, &all))
        .flatten()
        // Nothing may have changed while we listed and read.
        .filter(|_| snap.still(redo_dir));
    let fast = rest.is_some();
    for (n, k, b) in rest.iter().flatten() {
        all.insert(n.as_os_str(), (*k, b.as_slice()));
    }
    if all.is_empty() {
        return false;
    }
    // A fast cache must be complete: an entry that cannot be represented
    // leaves the whole directory to the plain path.
    let fits =
        |n: &OsStr, d: &[u8]| u16::try_from(n.len()).is_ok() && u32::try_from(d.len()).is_ok();
    if fast && all.iter().any(|(n, (_, d))| !fits(n, d)) {
        return false;
    }
    let kept: Vec<(&OsStr, FileKey, &[u8])> = all
        .iter()
        .filter(|(n, (_, d))| fits(n, d))
        .map(|(n, (k, d))| (*n, *k, *d))
        .collect();
    let head = head(fast.then_some(snap), names, kept.len());
    head.is_some_and(|head| write(redo_dir, &dir, &head, &kept))
}

/// Every `*.dep` of `redo_dir` not in `have`, read with its key; None when
/// one cannot be (not a readable, quiet regular file: the plain path
/// reports it), so that the cache cannot be complete.
#[allow(clippy::type_complexity)]
fn the_rest(
    redo_dir: &Path,
    have: &FastMap<&OsStr, (FileKey, &[u8])>,
) -> Option<Vec<(OsString, FileKey, Vec<u8>)>> {
    let mut rest = Vec::new();
    for e in std::fs::read_dir(redo_dir).ok()? {
        let e = e.ok()?;
        let file = e.file_name();
        let Some(name) = file.as_bytes().strip_suffix(b".dep") else {
            continue;
        };
        if name.is_empty() || have.contains_key(OsStr::from_bytes(name)) {
            continue;
        }
        if !matches!(e.file_type(), Ok(t) if t.is_file()) {
            return None;
        }
        match read_keyed(&e.path()) {
            Ok((b, Some(k))) => rest.push((OsStr::from_bytes(name).into(), k, b)),
            _ => return None,
        }
    }
    Some(rest)
}

/// The cache's head: magic, the snapshot of a fast cache (zeros for one
/// checked entry by entry), the names, the entry count.
fn head(fast: Option<&Snapshot>, names: Option<&DirNames>, count: usize) -> Option<Vec<u8>> {
    let count = u32::try_from(count).ok()?;
    let mut head = Vec::with_capacity(MAGIC.len() + SNAP_LEN + 1 + 4);
    head.extend_from_slice(MAGIC);
    match fast {
        Some(snap) => {
            head.push(1);
            for v in snap.state() {
                head.extend_from_slice(&v.to_le_bytes());
            }
        }
        None => head.extend_from_slice(&[0u8; SNAP_LEN]),
    }
    match names {
        Some(n) => {
            head.push(1);
            n.encode(&mut head);
        }
        None => head.push(0),
    }
    head.extend_from_slice(&count.to_le_bytes());
    Some(head)
}

/// Write `head` and `entries` (each fits the format), then their checksum,
/// to a temp file in `dir` (`.ferredo/`), renamed over the cache.
fn write(redo_dir: &Path, dir: &Path, head: &[u8], entries: &[(&OsStr, FileKey, &[u8])]) -> bool {
    let Ok(mut tmp) = tempfile::Builder::new().prefix(".deps.").tempfile_in(dir) else {
        return false;
    };
    // Streamed through a small buffer: the cache of a big directory is
    // megabytes, and one buffer of it would be the peak of a no-op's memory.
    // The sum is taken of what the buffer flushes, 64 KiB at a time:
    // blake3 hashes big inputs on all SIMD lanes, small ones one chunk
    // after another.
    let mut out = std::io::BufWriter::with_capacity(
        1 << 16,
        Summed {
            w: tmp.as_file_mut(),
            sum: blake3::Hasher::new(),
        },
    );
    let mut ok = out.write_all(head).is_ok();
    let mut rec = Vec::with_capacity(2 + KEY_LEN + 4 + 256);
    for (name, key, dep) in entries {
        if !ok {
            break;
        }
        rec.clear();
        rec.extend_from_slice(&(name.len() as u16).to_le_bytes());
        rec.extend_from_slice(name.as_bytes());
        key.encode(&mut rec);
        rec.extend_from_slice(&(dep.len() as u32).to_le_bytes());
        ok = out.write_all(&rec).is_ok() && out.write_all(dep).is_ok();
    }
    let Ok(Summed { w: file, sum }) = out.into_inner() else {
        return false;
    };
    if !ok || file.write_all(sum.finalize().as_bytes()).is_err() {
        return false;
    }
    tmp.persist(cache_path(redo_dir)).is_ok()
}

/// A writer that also checksums what it writes.
struct Summed<W: Write> {
    w: W,
    sum: blake3::Hasher,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.w.write(b)?;
        self.sum.update(&b[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet_dir() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join(".redo");
        std::fs::create_dir(&r).unwrap();
        std::fs::create_dir(r.join(CACHE_DIR)).unwrap();
        (d, r)
    }

    fn settle() {
        std::thread::sleep(QUIET + std::time::Duration::from_millis(20));
    }

    /// Write `name.dep` and read it back keyed, as a checker does.
    fn dep(r: &Path, name: &str, content: &[u8]) -> (Vec<u8>, FileKey) {
        let p = r.join(format!("{name}.dep"));
        std::fs::write(r.join("tmp"), content).unwrap();
        std::fs::rename(r.join("tmp"), &p).unwrap();
        settle();
        let (b, k) = read_keyed(&p).unwrap();
        (b, k.expect("quiet"))
    }

    #[test]
    fn the_names_of_the_directory_are_kept_beside_the_entries() {
        let (_d, r) = quiet_dir();
        let (ba, ka) = dep(&r, "a", b"x");
        let snap = Snapshot::take(&r).unwrap();
        let names = DirNames::new([9; 7], [&b"a"[..], b"a.do"].into_iter());
        assert!(store(
            &r,
            &snap,
            vec![(OsStr::new("a"), ka, &ba)],
            Some(&names)
        ));
        let c = load(&r).unwrap();
        assert_eq!(c.names().map(|n| &**n), Some(&names));
        assert_eq!(c.entry(OsStr::new("a")), Some((ka, &ba[..])));
        assert!(store(&r, &snap, vec![(OsStr::new("a"), ka, &ba)], None));
        assert!(load(&r).unwrap().names().is_none());
    }

    #[test]
    fn every_entry_of_a_big_cache_is_found_by_name_and_by_ordinal() {
        let (_d, r) = quiet_dir();
        let key = FileKey::of(&std::fs::metadata(&r).unwrap());
        let names: Vec<String> = (0..3000).map(|i| format!("t{i}.o")).collect();
        let bodies: Vec<Vec<u8>> = (0..3000).map(|i| format!("dep {i}").into_bytes()).collect();
        let snap = Snapshot::take(&r).unwrap();
        let entries = names
            .iter()
            .zip(&bodies)
            .map(|(n, b)| (OsStr::new(n.as_str()), key, b.as_slice()))
            .collect();
        assert!(store(&r, &snap, entries, None));
        let c = load(&r).unwrap();
        assert_eq!(c.len(), 3000);
        for (n, b) in names.iter().zip(&bodies) {
            let i = c
                .find(OsStr::new(n))
                .unwrap_or_else(|| panic!("{n} not found"));
            assert_eq!(c.at(i), Some((OsStr::new(n.as_str()), key, b.as_slice())));
        }
        for absent in ["t3000.o", "t1.o.x", "", "t1"] {
            assert_eq!(c.find(OsStr::new(absent)), None, "{absent}");
        }
    }

    #[test]
    fn a_quiet_directory_gets_a_fast_complete_cache() {
        let (_d, r) = quiet_dir();
        let (ba, ka) = dep(&r, "a.t", b"dep a");
        std::fs::write(r.join("unread.dep"), b"on disk").unwrap();
        std::fs::write(r.join("unread.lock"), b"").unwrap();
        settle();
        let snap = Snapshot::take(&r).unwrap();
        assert!(store(&r, &snap, vec![(OsStr::new("a.t"), ka, &ba)], None));
        let c = load(&r).unwrap();
        assert!(c.fast(&Snapshot::take(&r).unwrap()));
        assert_eq!(c.len(), 2);
        assert_eq!(c.entry(OsStr::new("a.t")).unwrap().1, b"dep a");
        assert_eq!(c.entry(OsStr::new("unread")).unwrap().1, b"on disk");
        assert!(c.entry(OsStr::new("unread.lock")).is_none());
    }

    #[test]
    fn a_change_ends_the_fast_path_and_the_changed_entry_no_longer_matches() {
        let (_d, r) = quiet_dir();
        let (ba, ka) = dep(&r, "a", b"x");
        let (bb, kb) = dep(&r, "b", b"y");
        let snap = Snapshot::take(&r).unwrap();
        assert!(store(
            &r,
            &snap,
            vec![(OsStr::new("a"), ka, &ba), (OsStr::new("b"), kb, &bb)],
            None
        ));
        // a.dep replaced by rename, as goredo and ferredo write them.
        let (_, ka2) = dep(&r, "a", b"z");
        let c = load(&r).unwrap();
        assert!(!c.fast(&Snapshot::take(&r).unwrap()));
        assert_ne!(c.entry(OsStr::new("a")).unwrap().0, ka2);
        let now_b = FileKey::of(&std::fs::metadata(r.join("b.dep")).unwrap());
        assert_eq!(c.entry(OsStr::new("b")).unwrap().0, now_b);
    }

    #[test]
    fn a_changing_directory_gets_a_per_entry_cache() {
        let (_d, r) = quiet_dir();
        let (ba, ka) = dep(&r, "a", b"x");
        let snap = Snapshot::take(&r).unwrap();
        std::fs::write(r.join("new.dep"), b"z").unwrap();
        assert!(store(&r, &snap, vec![(OsStr::new("a"), ka, &ba)], None));
        let c = load(&r).unwrap();
        assert!(!c.fast(&Snapshot::take(&r).unwrap()));
        assert_eq!(
            c.len(),
            1,
            "not completed: the listing would not be current"
        );
        // Just changed: not quiet, not fast either.
        let recent = Snapshot::take(&r).unwrap();
        assert!(store(&r, &recent, vec![(OsStr::new("a"), ka, &ba)], None));
        assert!(!load(&r).unwrap().fast(&recent));
    }

    #[test]
    fn a_young_file_is_not_keyed() {
        let (_d, r) = quiet_dir();
        std::fs::write(r.join("y.dep"), b"young").unwrap();
        let (b, k) = read_keyed(&r.join("y.dep")).unwrap();
        assert_eq!(b, b"young");
        assert!(k.is_none());
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored() {
        let (_d, r) = quiet_dir();
        let (ba, ka) = dep(&r, "a", b"x");
        let snap = Snapshot::take(&r).unwrap();
        assert!(store(&r, &snap, vec![(OsStr::new("a"), ka, &ba)], None));
        let p = cache_path(&r);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 40] ^= 1;
        std::fs::write(&p, &b).unwrap();
        assert!(load(&r).is_none());
        std::fs::write(&p, b"garbage").unwrap();
        assert!(load(&r).is_none());
        std::fs::write(&p, b"").unwrap();
        assert!(load(&r).is_none());
    }
}
