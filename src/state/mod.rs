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
