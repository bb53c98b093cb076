//! The `REDO_*` environment contract: every variable name in one place, a typed
//! read of what the parent gave us, and the typed write into a child's
//! environment. The engine never reads or changes the process environment
//! itself: callers pass a getter (and, to a build, the environment children
//! inherit), and each `.do` gets an envp built explicitly for it
//! (`engine::job::child`).
//!
//! Boolean variables are true when they equal the literal `1` (goredo's rule).

use crate::error::{Error, Result};
use crate::state::inode::InodeTrust;
use std::ffi::{CStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

pub type EnvGet<'a> = &'a dyn Fn(&str) -> Option<OsString>;

pub const JOBS: &str = "REDO_JOBS";
/// goredo's jobserver pipe, `R,W` (read and passed on by `jobserver`).
pub const JS_FD: &str = "REDO_JS_FD";
/// The status line's pipe (`bin/redo/status.rs`): an fd number, or `NO`.
pub const STATUS_FD: &str = "REDO_STATUS_FD";
pub const TOP_DIR: &str = "REDO_TOP_DIR";
pub const INODE_TRUST: &str = "REDO_INODE_TRUST";
pub const STOP_IF_MODIFIED: &str = "REDO_STOP_IF_MODIFIED";
pub const NO_SYNC: &str = "REDO_NO_SYNC";
pub const LOGS: &str = "REDO_LOGS";
pub const SILENT: &str = "REDO_SILENT";
pub const TRACE: &str = "REDO_TRACE";
pub const DEBUG: &str = "REDO_DEBUG";
pub const LOG_PID: &str = "REDO_LOG_PID";
pub const NO_PROGRESS: &str = "REDO_NO_PROGRESS";
pub const NO_STATUS: &str = "REDO_NO_STATUS";
pub const NO_COLOR: &str = "NO_COLOR";
pub const JOBSERVER_STYLE: &str = "REDO_JOBSERVER_STYLE";
/// `--timings=PATH` as a variable, read by the top-level redo only: write
/// the build's timeline to `PATH.html` and `PATH.json` (`bin/redo/timings`).
pub const TIMINGS: &str = "REDO_TIMINGS";

pub const LEVEL: &str = "REDO_LEVEL";
pub const DIRPREFIX: &str = "REDO_DIRPREFIX";
pub const BUILD_UUID: &str = "REDO_BUILD_UUID";
pub const STDERR_PREFIX: &str = "REDO_STDERR_PREFIX";
/// [`DEP_FD`] as a C string, for the allocator's choice made before `main`
/// (`bin/redo/alloc.rs`); [`DEP_FD`] is derived from it so the two never differ.
pub const DEP_FD_C: &CStr = c"REDO_DEP_FD";
pub const DEP_FD: &str = match DEP_FD_C.to_str() {
    Ok(name) => name,
    Err(_) => panic!("REDO_DEP_FD is ASCII"),
};
pub const DEP_CWD: &str = "REDO_DEP_CWD";
/// ferredo's own: the chain of targets being built above this process, for
/// cycle detection (goredo has none and deadlocks). Entries are absolute
/// paths, each terminated by `\n`; `\` and newline inside a path are escaped.
pub const CHAIN: &str = "REDO_FERREDO_CHAIN";
/// ferredo's own: the directory of private applet links prepended to PATH.
pub const APPLET_DIR: &str = "REDO_FERREDO_APPLETS";
/// ferredo's own: the run share (`FD:PID`), what the processes of this build
/// run have established about targets (see `engine::runshare`). Ignored at
/// top level, which creates its own and overrides it for its children.
pub const RUNSHARE: &str = "REDO_FERREDO_RUNSHARE";
/// ferredo's own: when the build run started (`SECONDS.NANOS` of the
/// kernel's coarse real-time clock, the clock file times are taken from),
/// so that a job can tell a `.dep` another build committed during this run
/// from one older than it (see `engine::job`).
pub const STARTED: &str = "REDO_FERREDO_STARTED";
/// ferredo's own: the path of the run's timings record, an append-only
/// file every redo of a `--timings` build adds its jobs' lines to (see
/// `bin/redo/timings`). Set by the top level for its children (removed when
/// it records nothing); a nested redo without it records nothing.
pub const TIMINGS_RECORD: &str = "REDO_FERREDO_TIMINGS_RECORD";
/// ferredo's own, for the crash tests: `STEP:NAME` makes a process die by
/// SIGKILL at `STEP` of the commit of any target whose base name is `NAME`
/// (steps: see `engine::commit::Step`), leaving what a kill there leaves.
pub const FAILPOINT: &str = "REDO_FERREDO_FAILPOINT";

/// Flags that may be given on the command line and are inherited by children.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub logs: bool,
    pub silent: bool,
    pub trace_all: bool,
    pub debug: bool,
    pub log_pid: bool,
    pub no_progress: bool,
    pub no_status: bool,
    pub stop_if_modified: bool,
    pub no_sync: bool,
}

/// Everything the engine needs to know about its place in the build.
#[derive(Clone, Debug)]
pub struct Context {
    /// Current build run; freshly generated at top level.
    pub build_uuid: [u8; 16],
    pub top_level: bool,
    pub level: u32,
    pub trust: InodeTrust,
    pub top_dir: Option<PathBuf>,
    pub flags: Flags,
    /// Where this process records its dependencies (inside a .do).
    pub dep_fd: Option<i32>,
    /// Directory of the dependant target, deps are recorded relative to it.
    pub dep_dir: Option<PathBuf>,
    pub stderr_prefix: Option<String>,
    pub no_color: bool,
    pub chain: Vec<PathBuf>,
    /// The inherited run share's variable (never at top level: a new run
    /// must not trust a previous run's file).
    pub runshare: Option<OsString>,
    /// When the build run started ([`STARTED`]); None if a parent did not say.
    pub started: Option<(i64, i64)>,
    /// [`FAILPOINT`]: (step, target base name).
    pub failpoint: Option<(String, OsString)>,
    /// The logical working directory of this invocation.
    pub cwd: PathBuf,
}

fn is_one(get: EnvGet, name: &str) -> bool {
    get(name).is_some_and(|v| v.as_bytes() == b"1")
}

impl Context {
    /// Read the contract from the environment; `cwd` is the logical cwd.
    pub fn from_env(get: EnvGet, cwd: PathBuf) -> Result<Context> {
        let uuid_text = get(BUILD_UUID).filter(|v| !v.is_empty());
        let (build_uuid, top_level) = match uuid_text {
            Some(t) => (
                crate::build_id::parse(&t.to_string_lossy()).ok_or_else(|| {
                    Error::Config(format!(
                        "{BUILD_UUID}={:?} is not a UUID; unset it to start a new build",
                        t
                    ))
                })?,
                false,
            ),
            None => (crate::build_id::new(), true),
        };
        let trust = match get(INODE_TRUST) {
            None => InodeTrust::Ctime,
            Some(v) => match v.as_bytes() {
                b"ctime" | b"" => InodeTrust::Ctime,
                b"mtime" => InodeTrust::Mtime,
                b"none" => InodeTrust::None,
                _ => {
                    return Err(Error::Config(format!(
                        "{INODE_TRUST}={:?} is unknown: use none, ctime or mtime",
                        v
                    )))
                }
            },
        };
        let level = get(LEVEL)
            .and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        let top_dir = get(TOP_DIR)
            .filter(|v| !v.is_empty())
            .map(|v| crate::paths::abs_join(&cwd, &PathBuf::from(v)));
        let dep_fd = if top_level {
            None
        } else {
            get(DEP_FD).and_then(|v| v.to_str().and_then(|s| s.parse().ok()))
        };
        let dep_dir = get(DEP_CWD).filter(|_| dep_fd.is_some()).map(|cwd_v| {
            let base = crate::paths::clean(&PathBuf::from(cwd_v));
            match get(DIRPREFIX).filter(|p| !p.is_empty()) {
                Some(prefix) => crate::paths::abs_join(&base, &PathBuf::from(prefix)),
                None => base,
            }
        });
        let flags = Flags {
            logs: is_one(get, LOGS),
            silent: is_one(get, SILENT),
            trace_all: is_one(get, TRACE),
            debug: is_one(get, DEBUG),
            log_pid: is_one(get, LOG_PID),
            no_progress: is_one(get, NO_PROGRESS),
            no_status: is_one(get, NO_STATUS),
            stop_if_modified: is_one(get, STOP_IF_MODIFIED),
            no_sync: is_one(get, NO_SYNC),
        };
        Ok(Context {
            build_uuid,
            top_level,
            level,
            trust,
            top_dir,
            flags,
            dep_fd,
            dep_dir,
            stderr_prefix: get(STDERR_PREFIX)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned()),
            no_color: get(NO_COLOR).is_some_and(|v| !v.is_empty()),
            chain: get(CHAIN)
                .map(|v| decode_chain(v.as_bytes()))
                .unwrap_or_default(),
            runshare: if top_level {
                None
            } else {
                get(RUNSHARE).filter(|v| !v.is_empty())
            },
            failpoint: get(FAILPOINT).and_then(|v| {
                let (step, name) = v.to_str()?.split_once(':')?;
                Some((step.to_string(), OsString::from(name)))
            }),
            started: if top_level {
                Some(coarse_now())
            } else {
                get(STARTED).and_then(|v| parse_time(&v.to_string_lossy()))
            },
            cwd,
        })
    }

    /// Variables every child inherits from this process's flags and build run.
    pub fn child_vars(&self) -> Vec<(&'static str, OsString)> {
        let mut v: Vec<(&'static str, OsString)> = vec![
            (BUILD_UUID, crate::build_id::format(&self.build_uuid).into()),
            (LEVEL, (self.level + 1).to_string().into()),
        ];
        if let Some((sec, nsec)) = self.started {
            v.push((STARTED, format!("{sec}.{nsec:09}").into()));
        }
        let f = &self.flags;
        for (on, name) in [
            (f.logs, LOGS),
            (f.silent, SILENT),
            (f.trace_all, TRACE),
            (f.debug, DEBUG),
            (f.log_pid, LOG_PID),
            (f.no_progress, NO_PROGRESS),
            (f.no_status, NO_STATUS),
            (f.stop_if_modified, STOP_IF_MODIFIED),
            (f.no_sync, NO_SYNC),
        ] {
            if on {
                v.push((name, "1".into()));
            }
        }
        v
    }
}

/// A fresh random (version 4) UUID.
/// The kernel's coarse real-time clock: file times never precede it.
fn coarse_now() -> (i64, i64) {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => (t.tv_sec(), t.tv_nsec()),
        // Not on this kernel: a second earlier than the fine clock is as safe.
        Err(_) => {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (d.as_secs() as i64 - 1, i64::from(d.subsec_nanos()))
        }
    }
}

/// `SECONDS.NANOS` (nine digits) as written for [`STARTED`].
fn parse_time(s: &str) -> Option<(i64, i64)> {
    let (sec, nsec) = s.split_once('.')?;
    Some((sec.parse().ok()?, nsec.parse().ok()?))
}

pub fn encode_chain(chain: &[PathBuf]) -> OsString {
    let mut out = Vec::new();
    for p in chain {
        for &c in p.as_os_str().as_bytes() {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                _ => out.push(c),
            }
        }
        out.push(b'\n');
    }
    OsString::from_vec(out)
}

pub fn decode_chain(b: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut it = b.iter();
    while let Some(&c) = it.next() {
        match c {
            b'\\' => match it.next() {
                Some(b'n') => cur.push(b'\n'),
                Some(&o) => cur.push(o),
                None => {}
            },
            b'\n' => out.push(PathBuf::from(OsString::from_vec(std::mem::take(&mut cur)))),
            _ => cur.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_round_trip() {
        let c = vec![PathBuf::from("/a\nb\\c"), PathBuf::from("/x y")];
        assert_eq!(decode_chain(encode_chain(&c).as_bytes()), c);
    }
}
