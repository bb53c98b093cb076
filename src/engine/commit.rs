//! The atomic commit of a target and its `.dep`, and what makes it safe to
//! kill at any instant.
//!
//! Protocol, after the .do exited 0 (we hold the target's lock):
//! 1. `$1` check: if a file exists at the target path whose inode data differs
//!    from what was there before the run (or that was not there), the .do
//!    wrote `$1` itself: error `$1 was explicitly touched`.
//! 2. `$3` and a non-empty stdout together: error.
//! 3. The result is `$3` if it exists (even empty), else the stdout capture if
//!    non-empty, else nothing: an existing target is removed (and the
//!    directory synced), the `.dep` temp gets an ifcreate of the target
//!    itself and becomes `.redo/T.dep` (synced, renamed, `.redo/` synced),
//!    and the commit is done.
//! 4. Before the target changes, the *intent* is committed: the `.dep` temp
//!    (header, .do records, whatever children appended), still without a
//!    self-record, is synced and renamed to `.redo/T.dep`, and `.redo/`
//!    synced.
//! 5. Same BLAKE3 as the previous build: the new file is dropped and the old
//!    one kept (mode from `$3`, times set to now), so dependants see no change
//!    in inode number. Otherwise the result is synced and renamed over the
//!    target. Then the target's directory is synced.
//! 6. What is left of stdout and `$3` is removed. The self-record, with the
//!    target's inode data as it is now, is appended to `T.dep` in one write
//!    (through the job's descriptor of the former temp) and synced.
//!
//! Invariant: **the target changes only while its `.dep` is an intent**: a
//! `.dep` whose last record is not the target's own (its self-record, or
//! the ifcreate of itself), which a finished commit never leaves, and which
//! [`crate::state::dep::Dep::is_intent`] recognises. Every other change is
//! a rename or that last append. So whatever instant a kill (of this
//! process, of its .do, of everything) cuts the commit, the next look finds
//! one of: the old target with the old `.dep` (out of date as before:
//! rebuilt); an intent (the checker calls the target out of date, "its last
//! commit was cut short", and the build rebuilds it without the
//! externally-modified check and without the same-content shortcut); no
//! target (rebuilt); or the new pair. The externally-modified rule ("the
//! target's inode data differs from its self-record") is therefore only ever
//! met by changes made outside redo. An intent is valid goredo format;
//! goredo, which knows no intent, would take the target as built.
//!
//! The intent costs no file of its own: creating a file (a new inode and
//! name) is the dearest step of a small job, dearer than a rename or an
//! append, and an earlier design that wrote the intent as a separate
//! `.dep` (a self-record of all-zero inode data, still recognised) created
//! two per commit.
//!
//! fsync ordering (skipped with `REDO_NO_SYNC=1`): result data before the
//! intent's rename; the intent and its directory entry before the target's
//! rename; the target's directory before the self-record; the self-record's
//! data last. With `REDO_NO_SYNC=1` a power loss may lose a build's work
//! (targets go back, or are rebuilt), never consistency, as long as the
//! filesystem keeps renames in the order they were made and an append
//! either lands whole or leaves a `.dep` that does not decode (rebuilt): a
//! journaled ext4, xfs or btrfs does.
//!
//! A process the .do left running in the background with `REDO_DEP_FD`
//! appends after the self-record: the `.dep` then reads as an intent, and
//! the target is rebuilt each run until its .do waits for its children.
//!
//! Temp files have fixed names per target ([`TempNames`]); the dep temp is
//! created first, so a leftover dep temp means a build died before step 4;
//! a leftover stdout or `$3` without one, a build killed between steps 4
//! and 6. The next build of the target finds either with the `O_EXCL`
//! create it makes anyway and clears them under its lock (see
//! `job::open_temps`).

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

use crate::error::JobError;
use crate::state::dep::{self, Record};
use crate::state::inode::{Inode, InodeTrust};
use crate::state::TempNames;
use crate::target::Target;

/// Temp files of one job, removed on drop unless renamed into place or
/// known absent (no unlink calls that can only fail). The dep temp goes
/// last: while it exists, the next build looks for the others.
pub struct Temps {
    pub names: TempNames,
    /// Which of stdout, three, dep may still exist.
    live: [bool; 3],
}

impl Temps {
    /// Names of files just created (stdout, dep) or that the .do may create ($3).
    pub fn new(names: TempNames) -> Temps {
        Temps {
            names,
            live: [true; 3],
        }
    }

    fn path(&self, which: usize) -> &Path {
        [&self.names.stdout, &self.names.three, &self.names.dep][which]
    }

    /// Remove what is left of stdout and `$3` (one was renamed, or neither
    /// held a result), while the dep temp still marks the job as unfinished.
    fn remove_unused(&mut self) {
        for i in [STDOUT, THREE] {
            if self.live[i] {
                remove_temp(self.path(i));
                self.live[i] = false;
            }
        }
    }
}

/// Remove a temporary file of a job, or the directory a `.do` made at
/// `$3` (it is not a result, and left there it would stand in the way of
/// every later build of the target: the names are fixed).
pub(crate) fn remove_temp(p: &Path) {
    if let Err(e) = fs::remove_file(p) {
        if e.raw_os_error() == Some(libc::EISDIR) {
            let _ = fs::remove_dir_all(p);
        }
    }
}

const STDOUT: usize = 0;
const THREE: usize = 1;
const DEP: usize = 2;

impl Drop for Temps {
    fn drop(&mut self) {
        for i in [STDOUT, THREE, DEP] {
            if self.live[i] {
                remove_temp(self.path(i));
            }
        }
    }
}

/// BLAKE3 of a whole file through `f`, from offset 0 whatever its position
/// (the .do shared the stdout file description and left it at the end).
fn hash_fd(f: &File) -> std::io::Result<dep::Hash> {
    let mut h = blake3::Hasher::new();
    let mut off = 0u64;
    with_buf(|buf| loop {
        match f.read_at(buf, off) {
            Ok(0) => return Ok(*h.finalize().as_bytes()),
            Ok(n) => {
                h.update(&buf[..n]);
                off += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    })
}

/// A 64 KiB read buffer per job thread, zeroed once rather than per job
/// (job threads are reused).
pub(super) fn with_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut b) => {
            if b.is_empty() {
                b.resize(65536, 0);
            }
            f(&mut b)
        }
        // Only if nested, which no caller does: a fresh buffer then.
        Err(_) => f(&mut vec![0u8; 65536]),
    })
}

pub struct CommitInput<'a> {
    pub target: &'a Target,
    pub temps: &'a mut Temps,
    pub dep_file: &'a mut File,
    /// The .do's stdout (readable), the file at `temps.names.stdout`.
    pub stdout: &'a File,
    /// Inode data of the target before the .do ran (None if absent).
    pub before: Option<Inode>,
    /// Hash of the previous build's result, from the old `.dep` (None when
    /// that `.dep` is an intent: the target may not hold that content).
    pub old_hash: Option<dep::Hash>,
    pub build: [u8; 16],
    pub trust: InodeTrust,
    pub sync: bool,
    /// Die at this step (the crash tests' `REDO_FERREDO_FAILPOINT`).
    pub fail_at: Option<Step>,
}

/// The points between the commit's steps where a kill leaves a distinct
/// state behind; named for `REDO_FERREDO_FAILPOINT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Result checked, nothing changed yet.
    BeforeIntent,
    /// `T.dep` is the intent; the target is the old one.
    AfterIntent,
    /// The target is the new one (or kept); `T.dep` is still the intent.
    AfterResult,
    /// `T.dep` is final: the job's files are all gone.
    AfterDep,
}

impl Step {
    pub fn parse(s: &str) -> Option<Step> {
        Some(match s {
            "before-intent" => Step::BeforeIntent,
            "after-intent" => Step::AfterIntent,
            "after-result" => Step::AfterResult,
            "after-dep" => Step::AfterDep,
            _ => return None,
        })
    }
}

fn reach(inp: &CommitInput<'_>, step: Step) {
    if inp.fail_at == Some(step) {
        // What a kill at this instant does; no cleanup runs.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// What a commit left: the target's self-record in its `.dep` (None when
/// the `.do` produced nothing: an ifcreate record), and whether the target
/// exists now where it did not before the `.do` ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    pub self_rec: Option<(Inode, dep::Hash)>,
    pub created: bool,
}

pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn now_times(target: &Path) -> std::io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let now = TimeSpec::UTIME_NOW;
    utimensat(
        nix::fcntl::AT_FDCWD,
        target,
        &now,
        &now,
        UtimensatFlags::FollowSymlink,
    )
    .map_err(Into::into)
}

/// What failed, on which file.
fn io(what: &str, path: &Path, e: std::io::Error) -> JobError {
    JobError::io(format!("{what} {}", path.display()), e)
}

/// The `.dep` temp (synced) becomes `.redo/T.dep`, and `.redo/` is synced.
fn place_dep(inp: &mut CommitInput<'_>) -> Result<(), JobError> {
    if inp.sync {
        inp.dep_file
            .sync_all()
            .map_err(|e| io("syncing", &inp.temps.names.dep, e))?;
    }
    let final_dep = inp.target.dep_path();
    fs::rename(&inp.temps.names.dep, &final_dep).map_err(|e| {
        io(
            &format!("renaming {} to", inp.temps.names.dep.display()),
            &final_dep,
            e,
        )
    })?;
    inp.temps.live[DEP] = false;
    if inp.sync {
        if let Some(p) = final_dep.parent() {
            fsync_dir(p).map_err(|e| io("syncing", p, e))?;
        }
    }
    Ok(())
}

/// Append the self-record, in one write, to the `.dep` file (the temp, or
/// `T.dep` once placed) through the job's descriptor.
fn append_self(inp: &mut CommitInput<'_>, self_rec: &Record) -> Result<(), JobError> {
    let mut buf = Vec::new();
    dep::encode_record(&mut buf, self_rec)?;
    let placed = !inp.temps.live[DEP];
    inp.dep_file.write_all(&buf).map_err(|e| {
        let what = if placed {
            inp.target.dep_path()
        } else {
            inp.temps.names.dep.clone()
        };
        io("writing", &what, e)
    })
}

/// Steps 4 to 6 for the result `file` (the temp `which`): the intent, then
/// the result becomes the target (or the old target is kept when its
/// content is the same), then the self-record.
fn commit_result(
    inp: &mut CommitInput<'_>,
    file: &File,
    which: usize,
    from_three: bool,
    base: &Path,
) -> Result<Built, JobError> {
    let target = inp.target;
    let dir = target.dir();
    let hash = hash_fd(file).map_err(|e| io("hashing the result", inp.temps.path(which), e))?;
    let same = inp.old_hash == Some(hash) && inp.before.is_some();
    if inp.sync && !same {
        file.sync_all()
            .map_err(|e| io("syncing the result", inp.temps.path(which), e))?;
    }
    reach(inp, Step::BeforeIntent);
    // Step 4: the `.dep`, still without its self-record, is the intent,
    // in place durably before the target is touched.
    place_dep(inp)?;
    reach(inp, Step::AfterIntent);
    let tmp = inp.temps.path(which).to_path_buf();
    let meta = if same {
        if from_three {
            let mode = file
                .metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(0o644);
            fs::set_permissions(target, fs::Permissions::from_mode(mode))
                .map_err(|e| io("setting the mode of", target, e))?;
        }
        now_times(target).map_err(|e| io("setting the times of", target, e))?;
        let _ = fs::remove_file(&tmp);
        inp.temps.live[which] = false;
        fs::metadata(target).map_err(|e| io("reading", target, e))?
    } else {
        fs::rename(&tmp, target)
            .map_err(|e| io(&format!("renaming {} to", tmp.display()), target, e))?;
        inp.temps.live[which] = false;
        // The renamed inode itself (rename updated its ctime).
        file.metadata().map_err(|e| io("reading", target, e))?
    };
    if inp.sync {
        fsync_dir(dir).map_err(|e| io("syncing", dir, e))?;
    }
    reach(inp, Step::AfterResult);
    inp.temps.remove_unused();
    let inode = Inode::from_meta(&meta);
    commit_self(
        inp,
        &Record::Ifchange {
            inode,
            hash,
            path: base.to_path_buf(),
        },
    )?;
    Ok(Built {
        self_rec: Some((inode, hash)),
        created: inp.before.is_none(),
    })
}

/// Step 6: the self-record, with the target's inode data as it is now, is
/// appended to `T.dep` (the intent no more) and synced.
fn commit_self(inp: &mut CommitInput<'_>, self_rec: &Record) -> Result<(), JobError> {
    append_self(inp, self_rec)?;
    if inp.sync {
        let path = inp.target.dep_path();
        inp.dep_file
            .sync_all()
            .map_err(|e| io("syncing", &path, e))?;
    }
    Ok(())
}

/// Apply the output rules and commit; returns what was produced, or an error
/// message for the user.
pub fn commit(mut inp: CommitInput<'_>) -> Result<Built, JobError> {
    let target = inp.target;
    let after = fs::symlink_metadata(target)
        .ok()
        .map(|m| Inode::from_meta(&m));
    if let Some(after) = after {
        let same = inp
            .before
            .is_some_and(|b| b.equals(&after, inp.trust) && b == after);
        if !same {
            return Err(JobError::OutputRule("$1 was explicitly touched"));
        }
    }
    // Results are read through fds: ours for stdout, one open for $3 (in
    // place of a stat), so hashing, syncing and the final stat need no
    // further path lookups.
    let three = File::open(&inp.temps.names.three).ok();
    if three.is_none() {
        inp.temps.live[THREE] = false;
    }
    let stdout_len = inp.stdout.metadata().map(|m| m.len()).unwrap_or(0);
    if three.is_some() && stdout_len > 0 {
        return Err(JobError::OutputRule(
            "created both $3 and stdout: write the result to one of them",
        ));
    }
    let base = target.base_path().to_path_buf();
    let stdout = inp.stdout;
    let built = match (&three, stdout_len > 0) {
        (Some(f), _) => commit_result(&mut inp, f, THREE, true, &base)?,
        (None, true) => commit_result(&mut inp, stdout, STDOUT, false, &base)?,
        (None, false) => {
            if after.is_some() {
                fs::remove_file(target).map_err(|e| io("removing the old target", target, e))?;
                let dir = target.dir();
                if inp.sync {
                    fsync_dir(dir).map_err(|e| io("syncing", dir, e))?;
                }
            }
            // No file changes from here: the `.dep` is placed whole.
            inp.temps.remove_unused();
            append_self(&mut inp, &Record::Ifcreate(base))?;
            place_dep(&mut inp)?;
            Built {
                self_rec: None,
                created: false,
            }
        }
    };
    reach(&inp, Step::AfterDep);
    Ok(built)
}
