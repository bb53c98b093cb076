//! On-disk state, as goredo keeps it: a `.redo/` directory beside each target
//! holding `T.dep` (binary dependency record), `T.lock` (fcntl lock file),
//! and with `-k` `T.log` / `T.log-rec`.

pub mod dep;
pub mod depcache;
pub mod depview;
pub mod dirlist;
pub mod dirnames;
pub mod inode;
pub mod lock;
pub mod log;
pub mod nameindex;
pub mod rec;

use std::path::PathBuf;

use crate::target::Target;

pub use crate::target::REDO_DIR;
pub const TMP_PREFIX: &str = ".redo.";

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
}

impl TempNames {
    pub fn of(target: &Target) -> TempNames {
        let (dir, base) = (target.dir(), target.base());
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
        }
    }
}
