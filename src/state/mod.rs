//! On-disk state, as goredo keeps it: a `.redo/` directory beside each target
//! holding `T.dep` (binary dependency record), `T.lock` (fcntl lock file),
//! and with `-k` `T.log` / `T.log-rec`.

pub mod dep;
pub mod depcache;
pub mod dirlist;
pub mod inode;
pub mod lock;
pub mod log;
pub mod nameindex;
pub mod rec;

use std::path::{Path, PathBuf};

pub const REDO_DIR: &str = ".redo";
pub const TMP_PREFIX: &str = ".redo.";

/// `D/.redo/<base><suffix>` for the target `D/<base>`.
pub fn state_path(target: &Path, suffix: &str) -> PathBuf {
    let dir = crate::paths::dir_of(target);
    let mut name = crate::paths::base_of(target).to_os_string();
    name.push(suffix);
    dir.join(REDO_DIR).join(name)
}

pub fn dep_path(target: &Path) -> PathBuf {
    state_path(target, ".dep")
}

pub fn lock_path(target: &Path) -> PathBuf {
    state_path(target, ".lock")
}

pub fn log_path(target: &Path) -> PathBuf {
    state_path(target, ".log")
}

pub fn log_rec_path(target: &Path) -> PathBuf {
    state_path(target, ".log-rec")
}

/// The temporary files of one build of a target. Their names are fixed per
/// target, not random: only the holder of the target's lock creates them, so
/// a name that already exists can only be a leftover of a build that died
/// (or of its orphaned `.do`, which the dep temp's `flock` reveals), and the
/// next build finds it with the `O_EXCL` create it makes anyway.
/// Distinct suffixes keep the names of different targets apart.
#[derive(Clone, Debug)]
pub struct TempNames {
    /// `D/.redo.T.out`: the .do's stdout.
    pub stdout: PathBuf,
    /// `D/.redo.T.3`: `$3`.
    pub three: PathBuf,
    /// `D/.redo/.redo.T.dep.tmp`: the new `.dep`, appended to by the .do's
    /// nested redo-ifchange through `REDO_DEP_FD`; locked with `flock`.
    pub dep: PathBuf,
    /// `D/.redo/.redo.T.intent.tmp`: the commit's intent, renamed to `T.dep`
    /// (see `engine::commit`).
    pub intent: PathBuf,
}

impl TempNames {
    pub fn of(target: &Path) -> TempNames {
        let dir = crate::paths::dir_of(target);
        let base = crate::paths::base_of(target);
        let name = |suffix: &str| {
            let mut n = std::ffi::OsString::from(TMP_PREFIX);
            n.push(base);
            n.push(suffix);
            n
        };
        let redo = dir.join(REDO_DIR);
        TempNames {
            stdout: dir.join(name(".out")),
            three: dir.join(name(".3")),
            dep: redo.join(name(".dep.tmp")),
            intent: redo.join(name(".intent.tmp")),
        }
    }
}
