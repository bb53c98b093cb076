//! The run share: what the processes of one build run have established about
//! targets, kept in one anonymous file that every `redo` process of the run
//! can read and append to, so that a nested `redo-ifchange` trusts what an
//! ancestor (or a sibling) already decided instead of re-reading the whole
//! dependency closure. goredo shares only out-of-date verdicts (spec §4.7,
//! `REDO_OOD_TGTS_FD`); ferredo also shares "verified up to date" and "built
//! in this run", with the target's own inode data and hash, so that a nested
//! `redo-ifchange` of thousands of already-verified targets costs about one
//! `stat` per operand (the `stat` that recording the dependency needs).
//!
//! # Lifetime and passing
//!
//! The top-level redo (the process that creates the BuildUUID) creates the
//! file (`memfd_create`, else an unlinked file in `$TMPDIR`), at an fd >= 10,
//! close-on-exec, and hands it to its `.do` children only (through
//! `Shared.child_fds`, cleared in the child), naming it in
//! `REDO_FERREDO_RUNSHARE=FD:PID` (PID = the creator, whose
//! `/proc/PID/fd/FD` is a second way in for a process whose fd was closed by
//! something between two redo levels, e.g. Python's `close_fds`). A nested
//! redo marks the inherited fd close-on-exec and passes it on the same way.
//! A top-level redo never looks at an inherited variable: it creates its own
//! file and overrides the variable for its children. When it cannot create
//! one, its children get the variable removed.
//!
//! # Validation: never trust garbage
//!
//! A process uses the fd only if it is a regular file whose header carries
//! our magic and *this run's* BuildUUID; anything else (closed fd, pipe,
//! another run's file, short or garbage content) makes the process behave as
//! if there were no share: it checks everything itself and passes nothing
//! on. Every offset, length and count read from the file is bounds-checked;
//! an entry that does not parse ends the walk of its bucket (fewer facts,
//! never a wrong one). No path here panics on file content.
//!
//! # Layout and concurrency
//!
//! `header (64) | bucket heads (NBUCKETS x u64) | entries`. The header holds
//! the magic, the BuildUUID, the committed length, and the *epoch* (a count
//! of barriers, below). Entries are chained per bucket (hash of the target
//! path) through a `prev` offset that always points backwards, so every walk
//! ends. Appends take a POSIX write lock (`F_SETLKW`, per process: every
//! process of the run holds its own fd of the one file, so the lock excludes
//! them all; OFD locks would not, as the fd is inherited) and, under it, write
//! the batch in one `pwrite` at the committed length, then the header (new
//! length), then the bucket heads. Readers take a read lock. Nothing below
//! the committed length is ever rewritten, so a writer killed mid-batch
//! leaves at worst uncommitted bytes that the next writer overwrites: no
//! reader ever sees a torn entry. (For the same reason a reader of many
//! operands maps the committed bytes instead of copying them: under its read
//! lock they cannot change, and the file never shrinks.) `EDEADLK` (the kernel's per-process cycle
//! detection is fooled by our target locks held by other threads) is retried
//! after a short sleep; no process ever waits for anything while it holds
//! the share lock, so the retry terminates.
//!
//! # What an entry claims, and why it is still true when read
//!
//! * **Built(T)** — T's `.dep` carried this run's BuildUUID when the entry was
//!   appended (after T's build returned). The checker's rule 2 makes such a
//!   target up to date for the rest of the run whatever happens later, so the
//!   entry never expires. It carries T's self-record (inode data + hash, from
//!   that `.dep`), which a reader records as T's ifchange record without a
//!   `stat` (under any inode trust but `none`). Should T change after all
//!   before that record is made (only from outside redo: T is built once),
//!   the record names the older T and the next run rebuilds the dependant:
//!   the error is on the safe side.
//! * **Ood(T, reason)** — some process found T out of date. A target found out
//!   of date stays so until it is built in this run; trusting an old verdict
//!   can at worst build T once more than a fresh check would (goredo trusts
//!   its OOD set the same way). To avoid even that, a reader trusts it only
//!   for an operand, only after reading T's `.dep` header and seeing that T
//!   was not built in this run (the job's own check under T's lock would also
//!   catch a build that raced us), and never in debug mode (`-d` shows the
//!   exact reason the checker finds).
//! * **Verified(T, epoch)** — some process's final check pass found T up to
//!   date: its whole closure unchanged, no ifcreate path existing, every
//!   always-target in it already built in this run. Such a verdict can only
//!   be spoiled by an event that changes a file of the closure. Files change
//!   during a run through (a) builds of out-of-date targets, (b) forced builds
//!   (`redo`, `redo-ifchange -f`), (c) the first build of an always-target,
//!   (d) a build creating a file that an ifcreate record watches, and (e)
//!   anything outside redo. (a): an out-of-date target cannot be in the
//!   closure of a target verified up to date (its verdict would propagate), so
//!   the first closure change must come from (b)–(e). (c): a verified closure
//!   holds no always-target not yet built in this run (the check collects and
//!   builds them first, and only the final pass is shared), and one built in
//!   this run is not built again without force. (b) and (d) are *barriers*:
//!   a forced build increments the epoch before it starts and again when it
//!   has committed; a non-forced build increments it when it created a target
//!   file that did not exist before (its commit says so), and so does a
//!   process of this run for a target of its list that a build outside the
//!   run committed while it waited (that build tells its own share only). A reader trusts a Verified entry only if
//!   its epoch equals the current one; a writer tags its entries with the
//!   epoch it read *before* it began checking and drops them if the epoch has
//!   moved by the time it appends (the check may have seen a state the barrier
//!   spoiled). So a Verified entry a reader trusts was established by a check
//!   that started after the last barrier: it tells the reader what its own
//!   check would have found at some moment after the last change redo knows
//!   of. A barrier racing a reader is a race the reader's own check would have
//!   had too; a barrier that happened before a process started (the
//!   sequential case: `redo X; redo-ifchange T` in one .do) is always seen.
//!   (e) is the one assumption: a `.do` that changes, as a side effect,
//!   files other targets depend on (or a user editing sources mid-run) may be
//!   noticed only by the next run, where a fresh check per process would
//!   notice it in later processes of the same run.
//!   Verified entries are also not written when the check cut a dependency
//!   cycle recorded on disk (a verdict reached under a cut is not the
//!   verdict a fresh check of another member of the cycle would reach), nor
//!   from the first pass of a check that collected always-targets. A
//!   Verified entry carries T's self-record only if T's file matched it
//!   when checked (not a T modified outside redo); a reader then records it
//!   as for Built.
//!
//! * **Source(S, inode data, epoch)** — some process's final check pass
//!   found S a source (no `.dep`, no `S.do`) with this `stat`. It is tagged
//!   and trusted like Verified: a barrier ends it (a build that creates a
//!   file that did not exist, such as `S.do`, is one), and a Built fact of
//!   S (S built in this run after all) wins over it.
//!   A reader (a `redo-ifchange` of S inside a `.do`) takes the verdict and
//!   records S with that inode data, without a `stat`; should S change after
//!   all before the record is made (only from outside redo), the record
//!   names the older S and the next run rebuilds the dependant, as for
//!   Built: the safe side.
//!
//! What is written: the operands' verdicts and, below each out-of-date
//! target, the verdicts of the dependencies its check examined (a source
//! among them as Source), with the rest of its dependencies checked for
//! the purpose (a rebuilt target's .do asks about them next). Nothing below
//! an up-to-date target: no .do there runs.
//!
//! A process that cannot reach the share simply checks. The one case that
//! loses a guarantee is a *forced* build (or a file-creating build) in a
//! process that has the variable but cannot open the file even through
//! `/proc`: its barrier is lost. That needs both the fd closed and `/proc`
//! unavailable, and is reported under `-d`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

mod entry;
pub(crate) mod harvest;

use crate::ood::Reason;
use crate::state::dep::Hash;
use crate::state::inode::Inode;
use entry::{
    decode_entry, encode_entry, ENTRY_FIXED, K_BUILT, K_OOD, K_SOURCE, K_VERIFIED, MAX_ENTRY,
    SELF_LEN,
};

const MAGIC: &[u8; 16] = b"ferredo-runshr2\0";
const HEADER_LEN: u64 = 64;
const OFF_UUID: usize = 16;
const OFF_LEN: usize = 32;
const OFF_EPOCH: usize = 40;
const OFF_NBUCKETS: usize = 48;
const NBUCKETS: u64 = 4096;
const DATA_START: u64 = HEADER_LEN + NBUCKETS * 8;
/// Entry: prev u64 | len u32 | kind u8 | flags u8 | 2 pad | epoch u64 | path_len u32 | path | ...
/// A target's own record: its inode data and hash when last committed.
pub type SelfRecord = (Inode, Hash);

/// One fact to append.
#[derive(Clone, Debug)]
pub enum Fact {
    Built(PathBuf, Option<SelfRecord>),
    Verified(PathBuf, Option<SelfRecord>),
    Ood(PathBuf, Reason),
    /// A source (no `.dep`, no `.do` beside it), with its `stat`.
    Source(PathBuf, Inode),
}

/// What the share says about one operand, already combined and filtered.
#[derive(Clone, Debug, PartialEq)]
pub enum Known {
    /// Built in this run (permanent).
    Built(Option<SelfRecord>),
    /// Verified up to date since the last barrier.
    Verified(Option<SelfRecord>),
    /// Found out of date by some process (to be confirmed by the caller).
    Ood(Reason),
    /// Found a source since the last barrier, with this `stat`.
    Source(Inode),
}

pub struct RunShare {
    fd: OwnedFd,
    build: [u8; 16],
    /// The variable's value for children.
    value: String,
    /// Epoch seen by the last lookup, before this process checked anything.
    epoch_read: Option<u64>,
}

fn bucket(path: &[u8]) -> u64 {
    crate::fasthash::hash_bytes(path) % NBUCKETS
}

/// Use the share's fd as a `File` without taking it over (never closed here).
fn with_file<R>(fd: RawFd, f: impl FnOnce(&std::fs::File) -> R) -> R {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` is the share's open descriptor, owned by the RunShare
    // that outlives this call; ManuallyDrop keeps the File from closing it.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    f(&file)
}

/// The share's first bytes, mapped read-only. Sound while the read lock is
/// held: committed bytes are never rewritten, and the file never shrinks.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    fn new(fd: RawFd, len: usize) -> Option<Mapped> {
        if len == 0 {
            return None;
        }
        // SAFETY: a new read-only shared mapping of `len` bytes of an open
        // file; no existing memory is touched, failure is MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Mapped { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes (unmapped
        // only on drop), and the committed bytes it covers are never
        // rewritten while the read lock is held (see the type's comment).
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no slice of it
        // outlives `self` (bytes() borrows self).
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn pread_exact(fd: RawFd, buf: &mut [u8], off: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    with_file(fd, |f| f.read_exact_at(buf, off))
}

fn pwrite_all(fd: RawFd, buf: &[u8], off: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    with_file(fd, |f| f.write_all_at(buf, off))
}

pub(super) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
}

/// A POSIX record lock on the whole file, released on drop.
struct Locked<'a>(&'a OwnedFd);

impl<'a> Locked<'a> {
    fn take(fd: &'a OwnedFd, write: bool) -> io::Result<Locked<'a>> {
        // SAFETY: `flock` is plain integers; all zero is a valid value.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = if write { libc::F_WRLCK } else { libc::F_RDLCK } as _;
        fl.l_whence = libc::SEEK_SET as _;
        loop {
            // SAFETY: F_SETLKW reads the flock we own; the fd is borrowed.
            let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLKW, &fl) };
            if r == 0 {
                return Ok(Locked(fd));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EDEADLK) => std::thread::sleep(std::time::Duration::from_millis(1)),
                _ => return Err(e),
            }
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `take`.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_UNLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        // SAFETY: as in `take`.
        unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_SETLK, &fl) };
    }
}

fn anon_file() -> Option<OwnedFd> {
    let name = c"ferredo-runshare";
    // SAFETY: `name` is a NUL-terminated literal; memfd_create returns a
    // new descriptor or -1.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd >= 0 {
        // SAFETY: a new descriptor that nothing else owns.
        return Some(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let f = tempfile::tempfile().ok()?;
    Some(OwnedFd::from(f))
}

/// Is `fd` a share of this run (a regular file with our header)?
fn valid_fd(fd: RawFd, build: &[u8; 16]) -> bool {
    // SAFETY: F_GETFD and fstat on a number only read this process's fd
    // table and the inode (into our zeroed, plain-integer stat); a number
    // that is not open gives EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return false;
    }
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFREG
        || (st.st_size as u64) < DATA_START
    {
        return false;
    }
    let mut h = [0u8; HEADER_LEN as usize];
    if pread_exact(fd, &mut h, 0).is_err() {
        return false;
    }
    h[..16] == MAGIC[..]
        && h[OFF_UUID..OFF_UUID + 16] == build[..]
        && u64_at(&h, OFF_NBUCKETS) == Some(NBUCKETS)
        && u64_at(&h, OFF_LEN).is_some_and(|l| l >= DATA_START)
}

struct Header {
    len: u64,
    epoch: u64,
}

impl RunShare {
    /// Top level: a new, empty share for this run.
    pub fn create(build: &[u8; 16]) -> Option<RunShare> {
        let raw = anon_file()?;
        let fd = crate::sys::fd::dup_high(raw.as_fd()).ok()?;
        drop(raw);
        let mut h = vec![0u8; DATA_START as usize];
        h[..16].copy_from_slice(MAGIC);
        h[OFF_UUID..OFF_UUID + 16].copy_from_slice(build);
        h[OFF_LEN..OFF_LEN + 8].copy_from_slice(&DATA_START.to_le_bytes());
        h[OFF_NBUCKETS..OFF_NBUCKETS + 8].copy_from_slice(&NBUCKETS.to_le_bytes());
        pwrite_all(fd.as_raw_fd(), &h, 0).ok()?;
        let value = format!("{}:{}", fd.as_raw_fd(), std::process::id());
        Some(RunShare {
            fd,
            build: *build,
            value,
            epoch_read: None,
        })
    }

    /// Nested: the share named by the variable's value, if it is usable and
    /// belongs to this run; `None` (check everything) otherwise.
    pub fn open(value: &OsStr, build: &[u8; 16]) -> Option<RunShare> {
        let s = value.to_str()?;
        let (fd_s, pid_s) = s.split_once(':')?;
        let fd: RawFd = fd_s.parse().ok().filter(|&n| n >= 3)?;
        let pid: u32 = pid_s.parse().ok()?;
        let mut share = None;
        // The inherited fd, if it is still ours. Validated before we take
        // ownership: a number reused for something else is never closed.
        if valid_fd(fd, build) {
            // We keep it close-on-exec: it must not leak into every program
            // our .do children start (they get it through child_fds).
            let _ = crate::sys::fd::set_cloexec_raw(fd);
            share = Some(RunShare {
                // SAFETY: valid_fd showed it is open and is this run's
                // share, which this process inherited to own.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                build: *build,
                value: String::new(),
                epoch_read: None,
            });
        }
        if share.is_none() {
            // Closed (or reused) between two redo levels: reopen the
            // creator's copy.
            let p = format!("/proc/{pid}/fd/{fd}");
            if let Ok(f) = std::fs::OpenOptions::new().read(true).write(true).open(&p) {
                if let Ok(own) = crate::sys::fd::dup_high(f.as_fd()) {
                    if valid_fd(own.as_raw_fd(), build) {
                        share = Some(RunShare {
                            fd: own,
                            build: *build,
                            value: String::new(),
                            epoch_read: None,
                        });
                    }
                }
            }
        }
        let mut share = share?;
        // Children get our own fd's number (same pid for /proc).
        share.value = format!("{}:{pid}", share.fd.as_raw_fd());
        Some(share)
    }

    /// The fd to pass to `.do` children.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The variable's value for `.do` children.
    pub fn value(&self) -> &str {
        &self.value
    }

    fn header(&self) -> Option<Header> {
        let mut h = [0u8; HEADER_LEN as usize];
        pread_exact(self.fd.as_raw_fd(), &mut h, 0).ok()?;
        if h[..16] != MAGIC[..] || h[OFF_UUID..OFF_UUID + 16] != self.build[..] {
            return None;
        }
        let len = u64_at(&h, OFF_LEN)?;
        if len < DATA_START {
            return None;
        }
        Some(Header {
            len,
            epoch: u64_at(&h, OFF_EPOCH)?,
        })
    }

    /// What the share says about each of `targets` (absolute, clean), in
    /// order. Also remembers the epoch, which tags what this process appends
    /// later: call it before checking anything.
    pub fn lookup<P: AsRef<Path>>(&mut self, targets: &[P]) -> Vec<Option<Known>> {
        let mut out = vec![None; targets.len()];
        let Ok(_lock) = Locked::take(&self.fd, false) else {
            return out;
        };
        let Some(h) = self.header() else {
            return out;
        };
        self.epoch_read = Some(h.epoch);
        let fd = self.fd.as_raw_fd();
        // Many operands: a map of everything (no copy, no fresh memory to
        // fault in); few: a read per hop.
        let mapped = if targets.len() > 64 {
            Mapped::new(fd, h.len as usize)
        } else {
            None
        };
        let whole: Option<&[u8]> = mapped.as_ref().map(|m| m.bytes());
        let mut heads = vec![0u8; (NBUCKETS * 8) as usize];
        match &whole {
            Some(b) => heads.copy_from_slice(&b[HEADER_LEN as usize..DATA_START as usize]),
            None => {
                if pread_exact(fd, &mut heads, HEADER_LEN).is_err() {
                    return out;
                }
            }
        }
        let mut scratch = vec![0u8; 512];
        for (i, t) in targets.iter().enumerate() {
            let pb = t.as_ref().as_os_str().as_bytes();
            let mut off = u64_at(&heads, (bucket(pb) * 8) as usize).unwrap_or(0);
            let (mut built, mut verified, mut ood, mut source) = (None, None, None, None);
            let mut seen_verified_stale = false;
            let mut hops = 0u32;
            while off >= DATA_START && off < h.len && hops < 1_000_000 {
                hops += 1;
                let avail = (h.len - off) as usize;
                let bytes: &[u8] = match whole {
                    Some(b) => &b[off as usize..],
                    None => {
                        let want = avail.min(scratch.len());
                        if pread_exact(fd, &mut scratch[..want], off).is_err() {
                            break;
                        }
                        let len = u32_at(&scratch[..want], 8).unwrap_or(0) as usize;
                        if len > want && len <= avail.min(MAX_ENTRY) {
                            if scratch.len() < len {
                                scratch.resize(len, 0);
                            }
                            if pread_exact(fd, &mut scratch[..len], off).is_err() {
                                break;
                            }
                            &scratch[..len]
                        } else {
                            &scratch[..want]
                        }
                    }
                };
                let Some(e) = decode_entry(bytes) else { break };
                if e.prev >= off {
                    break;
                }
                if e.path == pb {
                    // Walking backwards: the first entry seen of a kind is
                    // the newest. A malformed tail makes the entry unknown.
                    match e.kind {
                        K_BUILT if built.is_none() => built = e.selfrec(),
                        K_VERIFIED if verified.is_none() && !seen_verified_stale => {
                            if e.epoch == h.epoch {
                                verified = e.selfrec();
                            } else {
                                seen_verified_stale = true;
                            }
                        }
                        K_OOD if ood.is_none() => ood = e.reason(),
                        K_SOURCE if source.is_none() && e.epoch == h.epoch => {
                            source = e.inode();
                        }
                        _ => {}
                    }
                }
                off = e.prev;
            }
            out[i] = match (built, verified, ood, source) {
                (Some(s), ..) => Some(Known::Built(s)),
                (None, Some(s), None, None) => Some(Known::Verified(s)),
                (None, None, Some(r), None) => Some(Known::Ood(r)),
                (None, None, None, Some(st)) => Some(Known::Source(st)),
                // Found two ways (or none): let a fresh check decide.
                _ => None,
            };
        }
        out
    }

    /// Append facts in one batch. Verified facts are dropped unless this
    /// process looked the share up before checking and no barrier has
    /// happened since.
    pub fn append(&self, facts: &[Fact]) -> io::Result<()> {
        if facts.is_empty() {
            return Ok(());
        }
        let _lock = Locked::take(&self.fd, true)?;
        let h = self
            .header()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "run share header"))?;
        let fd = self.fd.as_raw_fd();
        let mut heads = vec![0u8; (NBUCKETS * 8) as usize];
        pread_exact(fd, &mut heads, HEADER_LEN)?;
        let verified_ok = self.epoch_read == Some(h.epoch);
        let mut buf = Vec::new();
        for f in facts {
            if matches!(f, Fact::Verified(..) | Fact::Source(..)) && !verified_ok {
                continue;
            }
            let path = match f {
                Fact::Built(p, _) | Fact::Verified(p, _) | Fact::Ood(p, _) | Fact::Source(p, _) => {
                    p
                }
            };
            let pb = path.as_os_str().as_bytes();
            if pb.len() + ENTRY_FIXED + SELF_LEN + 64 > MAX_ENTRY {
                continue;
            }
            let slot = (bucket(pb) * 8) as usize;
            let prev = u64_at(&heads, slot).unwrap_or(0);
            let off = h.len + buf.len() as u64;
            let at = buf.len();
            encode_entry(&mut buf, prev, h.epoch, f);
            if buf.len() - at > MAX_ENTRY {
                buf.truncate(at);
                continue;
            }
            heads[slot..slot + 8].copy_from_slice(&off.to_le_bytes());
        }
        if buf.is_empty() {
            return Ok(());
        }
        pwrite_all(fd, &buf, h.len)?;
        let new_len = h.len + buf.len() as u64;
        // Commit the length first: heads never point past it.
        pwrite_all(fd, &new_len.to_le_bytes(), OFF_LEN as u64)?;
        pwrite_all(fd, &heads, HEADER_LEN)?;
        Ok(())
    }

    /// A barrier: every Verified entry appended so far, and every one being
    /// prepared by a check that started before now, stops being trusted.
    pub fn barrier(&self) -> io::Result<()> {
        let _lock = Locked::take(&self.fd, true)?;
        let h = self
            .header()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "run share header"))?;
        pwrite_all(
            self.fd.as_raw_fd(),
            &(h.epoch + 1).to_le_bytes(),
            OFF_EPOCH as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64) -> SelfRecord {
        (
            crate::state::inode::sample(n),
            [n as u8; crate::state::dep::HASH_LEN],
        )
    }

    #[test]
    fn append_lookup_barrier() {
        let b = crate::build_id::new();
        let mut s = RunShare::create(&b).expect("share");
        let a = PathBuf::from("/x/a");
        let c = PathBuf::from("/x/c");
        let d = PathBuf::from("/x/d");
        assert_eq!(s.lookup(std::slice::from_ref(&a)), vec![None]);
        s.append(&[
            Fact::Verified(a.clone(), Some(rec(1))),
            Fact::Built(c.clone(), None),
            Fact::Ood(
                d.clone(),
                Reason::DepOod(
                    a.clone(),
                    Box::new(Reason::DepOod(
                        c.clone(),
                        Box::new(Reason::DepHash(PathBuf::from("/s"))),
                    )),
                ),
            ),
        ])
        .expect("append");
        let got = s.lookup(&[a.clone(), c.clone(), d.clone()]);
        assert_eq!(got[0], Some(Known::Verified(Some(rec(1)))));
        assert_eq!(got[1], Some(Known::Built(None)));
        assert_eq!(
            got[2],
            Some(Known::Ood(Reason::DepOod(
                a.clone(),
                Box::new(Reason::DepHash(PathBuf::from("/s")))
            )))
        );
        // A second process with the same run sees it through the value.
        // (Through a duplicate: `open` adopts the fd it is given.)
        // Leaked on purpose (into_raw_fd): `open` takes the number over.
        let dup = std::os::fd::IntoRawFd::into_raw_fd(
            crate::sys::fd::dup_high(s.fd.as_fd()).expect("dup"),
        );
        let v = format!("{dup}:{}", std::process::id());
        let mut s2 = RunShare::open(OsStr::new(&v), &b).expect("reopen");
        assert_eq!(
            s2.lookup(std::slice::from_ref(&a)),
            vec![Some(Known::Verified(Some(rec(1))))]
        );
        s.barrier().expect("barrier");
        // Stale verdicts are gone, built ones stay; s2's check started
        // before the barrier, so its verified facts are dropped.
        assert_eq!(s.lookup(&[a.clone(), c.clone()])[0], None);
        s2.append(&[Fact::Verified(a.clone(), None)])
            .expect("append");
        assert_eq!(s.lookup(std::slice::from_ref(&a))[0], None);
        assert_eq!(
            s.lookup(std::slice::from_ref(&c))[0],
            Some(Known::Built(None))
        );
        // Another run's file is refused.
        assert!(RunShare::open(OsStr::new(s.value()), &crate::build_id::new()).is_none());
        assert!(RunShare::open(OsStr::new("0:1"), &b).is_none());
        assert!(RunShare::open(OsStr::new("junk"), &b).is_none());
    }

    #[test]
    fn a_source_fact_holds_until_a_barrier_and_yields_to_a_build() {
        let b = crate::build_id::new();
        let mut s = RunShare::create(&b).expect("share");
        let (src, gen) = (PathBuf::from("/x/s.c"), PathBuf::from("/x/gen.h"));
        s.lookup::<PathBuf>(&[]);
        let st = crate::state::inode::sample(3);
        s.append(&[Fact::Source(src.clone(), st), Fact::Source(gen.clone(), st)])
            .expect("append");
        let got = s.lookup(&[src.clone(), gen.clone()]);
        assert_eq!(got, vec![Some(Known::Source(st)), Some(Known::Source(st))]);
        // A file built in this run is no source, whatever was found before.
        s.append(&[Fact::Built(gen.clone(), None)]).expect("append");
        assert_eq!(
            s.lookup(std::slice::from_ref(&gen)),
            vec![Some(Known::Built(None))]
        );
        // A source found out of date too (two processes disagree): unknown.
        s.append(&[Fact::Ood(src.clone(), Reason::NeverBuilt)])
            .expect("append");
        assert_eq!(s.lookup(std::slice::from_ref(&src)), vec![None]);
        let other = PathBuf::from("/x/t.c");
        s.append(&[Fact::Source(other.clone(), st)])
            .expect("append");
        s.barrier().expect("barrier");
        assert_eq!(s.lookup(std::slice::from_ref(&other)), vec![None]);
        // Found before the barrier by a check that started before it:
        // dropped, as a Verified fact is.
        let mut late = RunShare::create(&b).expect("share");
        late.lookup::<PathBuf>(&[]);
        late.barrier().expect("barrier");
        late.append(&[Fact::Source(other.clone(), st)])
            .expect("append");
        assert_eq!(late.lookup(std::slice::from_ref(&other)), vec![None]);
    }

    #[test]
    fn many_operands_whole_read() {
        let b = crate::build_id::new();
        let mut s = RunShare::create(&b).expect("share");
        let ts: Vec<PathBuf> = (0..10000)
            .map(|i| PathBuf::from(format!("/t/{i}")))
            .collect();
        s.lookup::<PathBuf>(&[]);
        let facts: Vec<Fact> = ts
            .iter()
            .step_by(2)
            .map(|t| Fact::Verified(t.clone(), Some(rec(7))))
            .collect();
        s.append(&facts).expect("append");
        let got = s.lookup(&ts);
        for (i, g) in got.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(*g, Some(Known::Verified(Some(rec(7)))));
            } else {
                assert_eq!(*g, None);
            }
        }
        let few = s.lookup(&ts[..4]);
        assert_eq!(few, got[..4].to_vec());
    }
}
