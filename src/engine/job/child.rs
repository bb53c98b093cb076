//! What a job's `.do` is started with: its environment (built once per
//! schedule run, plus the per-job variables), its argv, and the hash of the
//! `.do` file recorded in the new `.dep`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use super::super::Shared;
use crate::state::dep;
use crate::state::inode::Inode;
/// What every .do started by one schedule run shares: its environment
/// (ours with this invocation's changes), built once rather than per job.
pub struct ChildBase {
    /// `K=V` for every variable but the per-job ones.
    pub(super) env: Vec<CString>,
}

/// Variables that differ per job (set in [`super::run`]).
const PER_JOB: [&str; 5] = [
    crate::env::DIRPREFIX,
    crate::env::DEP_FD,
    crate::env::DEP_CWD,
    crate::env::STDERR_PREFIX,
    crate::env::CHAIN,
];

impl ChildBase {
    pub fn new(sh: &Shared) -> ChildBase {
        let mut explicit: BTreeMap<OsString, Option<OsString>> = BTreeMap::new();
        for (k, v) in sh.ctx.child_vars() {
            explicit.insert(k.into(), Some(v));
        }
        for (k, v) in &sh.child_env {
            explicit.insert(k.into(), v.as_ref().map(OsString::from));
        }
        let mut env = Vec::new();
        for (k, v) in sh.inherited_env {
            if explicit.contains_key(k) || PER_JOB.iter().any(|p| k == *p) {
                continue;
            }
            env.extend(env_entry(k.as_bytes(), v.as_bytes()));
        }
        for (k, v) in &explicit {
            if let Some(v) = v {
                env.extend(env_entry(k.as_bytes(), v.as_bytes()));
            }
        }
        ChildBase { env }
    }
}

/// `K=V` as a C string; None if either holds a NUL (cannot be passed on).
pub(super) fn env_entry(k: &[u8], v: &[u8]) -> Option<CString> {
    let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
    kv.extend_from_slice(k);
    kv.push(b'=');
    kv.extend_from_slice(v);
    CString::new(kv).ok()
}

/// 16 hex digits, distinct for every call in this process and unpredictable
/// across processes: the per-job prefix that tells a nested redo's relayed
/// lines from the `.do`'s own (`REDO_STDERR_PREFIX`). Not a file name (temp
/// files have fixed names, `state::TempNames`), so no `tempfile` here: a
/// per-process random seed (one UUID) mixed with a counter by splitmix64, a
/// bijection, costs no system call per job.
pub(super) fn unique_hex() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let u = crate::build_id::new();
        u64::from_ne_bytes([u[0], u[1], u[2], u[3], u[4], u[5], u[7], u[9]])
            ^ u64::from(std::process::id())
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{z:016x}")
}

/// The hash of a .do file, remembered per process: one `default.o.do`
/// serves many targets, and reading and hashing it again for each is wasted
/// while its inode data (size, number, both times) is unchanged.
pub(super) fn do_hash(path: &Path, now: Inode) -> std::io::Result<dep::Hash> {
    type Cache = Mutex<HashMap<PathBuf, (Inode, dep::Hash)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((ino, h)) = lock().get(path) {
        if *ino == now {
            return Ok(*h);
        }
    }
    let h = dep::hash_file(path)?;
    lock().insert(path.to_path_buf(), (now, h));
    Ok(h)
}

impl ChildBase {
    /// The `.do`'s envp: the base variables, then this job's; the pointers
    /// borrow from `self` and `job_env`, NULL-terminated.
    pub(super) fn envp(&self, job_env: &[CString]) -> Vec<*const libc::c_char> {
        let mut envp = Vec::with_capacity(self.env.len() + job_env.len() + 1);
        envp.extend(self.env.iter().map(|e| e.as_ptr()));
        envp.extend(job_env.iter().map(|e| e.as_ptr()));
        envp.push(std::ptr::null());
        envp
    }

    /// The base variables as `K=V` bytes.
    pub(super) fn env_bytes(&self) -> impl Iterator<Item = &[u8]> {
        self.env.iter().map(|e| e.as_bytes())
    }
}

/// The variables that differ per job: where the target is seen from the
/// `.do`, our dep fd, the stderr prefix of nested redos, the chain.
pub(super) fn per_job_env(
    sh: &Shared,
    target: &Path,
    found: &crate::dofile::Found,
    dep_fd: std::os::fd::RawFd,
    prefix: &str,
) -> Vec<CString> {
    let mut chain = sh.ctx.chain.clone();
    chain.push(target.to_path_buf());
    let vars: [(&str, OsString); 5] = [
        (crate::env::DIRPREFIX, found.dirprefix.clone().into()),
        (crate::env::DEP_FD, dep_fd.to_string().into()),
        (crate::env::DEP_CWD, found.do_dir.clone().into()),
        (crate::env::STDERR_PREFIX, prefix.into()),
        (crate::env::CHAIN, crate::env::encode_chain(&chain)),
    ];
    vars.iter()
        .filter_map(|(k, v)| env_entry(k.as_bytes(), v.as_bytes()))
        .collect()
}

/// `sh -e T.do $1 $2 $3` (`-ex` when traced), or the `.do` itself when it
/// is executable; `three` is `$3`'s path, passed as seen from the `.do`'s
/// directory.
pub(super) fn do_argv(
    sh: &Shared,
    spec: &super::JobSpec,
    found: &crate::dofile::Found,
    executable: bool,
    three: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::with_capacity(6);
    if executable {
        args.push(found.do_path.clone().into());
    } else {
        args.push("/bin/sh".into());
        let traced = spec.trace || sh.ctx.flags.trace_all;
        args.push(if traced { "-ex" } else { "-e" }.into());
        // A .do named `-x.do` or `+x.do` must not be read as an option
        // by sh (`+` turns one off).
        let script = crate::paths::base_of(&found.do_path);
        if script.as_encoded_bytes().starts_with(b"-")
            || script.as_encoded_bytes().starts_with(b"+")
        {
            let mut dotted = OsString::from("./");
            dotted.push(script);
            args.push(dotted);
        } else {
            args.push(script.to_os_string());
        }
    }
    args.push(found.arg1.clone().into());
    args.push(found.arg2.clone().into());
    args.push(found.dirprefix.join(crate::paths::base_of(three)).into());
    args
}
