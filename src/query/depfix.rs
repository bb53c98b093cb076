//! `redo-depfix`: after a tree was copied or restored (new inode numbers and
//! ctimes), make every `.dep` below a directory describe the files as they
//! are now, so nothing needs rehashing or rebuilding.
//!
//! For each `.redo/X.dep`, every ifchange record (the self-record too) whose
//! file exists gets that file's current inode data and BLAKE3 hash; a
//! record of a missing file is kept as it is. The intent of a commit that
//! was cut short (`engine::commit`) is left alone: its target needs a build. A `.dep` is rewritten only if
//! something changed, atomically: a `.redo/.redo.X.dep.*` temporary, then a
//! rename (see [`depfix`] for durability). Each file is hashed once per run.
//!
//! A legacy goredo 1.x `.redo/X.rec` (recfile, see
//! [`crate::state::rec::parse_dep`]) is converted the same way into
//! `.redo/X.dep`, then removed; when `X.dep` already exists the `.rec` is
//! left alone and reported.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Here, Problems};
use crate::paths;
use crate::state::dep::{self, Dep, Hash, Record};
use crate::state::inode::Inode;
use crate::target::Target;

/// What depfix did to one file, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The `.dep` (or `.rec`) concerned, absolute.
    pub file: PathBuf,
    pub what: String,
}

struct Refresher {
    hashes: HashMap<PathBuf, Option<Hash>>,
}

impl Refresher {
    /// Refresh the ifchange records of target `t`'s `dep` in place; returns
    /// how many changed.
    fn refresh(&mut self, t: &Target, dep: &mut Dep) -> usize {
        let dir = t.dir();
        let mut n = 0;
        for r in dep.records.iter_mut() {
            let Record::Ifchange { inode, hash, path } = r else {
                continue;
            };
            let abs = paths::abs_join(dir, path);
            let Ok(m) = std::fs::metadata(&abs) else {
                continue;
            };
            if !m.is_file() {
                continue;
            }
            let h = *self
                .hashes
                .entry(abs.clone())
                .or_insert_with(|| dep::hash_file(&abs).ok());
            let Some(h) = h else { continue };
            let now = Inode::from_meta(&m);
            if now != *inode || h != *hash {
                *inode = now;
                *hash = h;
                n += 1;
            }
        }
        n
    }
}

/// Write `dep` into a temporary beside target `t`'s `.dep`, returning it
/// (closed; removed if dropped) and the `.dep` path.
fn write_temp(t: &Target, dep: &Dep) -> std::io::Result<(tempfile::TempPath, PathBuf)> {
    let bytes = dep.encode().map_err(std::io::Error::other)?;
    let dst = t.dep_path();
    let redo = paths::dir_of(&dst);
    let redo = if redo.as_os_str().is_empty() {
        Path::new(".")
    } else {
        redo
    };
    let mut prefix = std::ffi::OsString::from(crate::state::TMP_PREFIX);
    prefix.push(t.base());
    prefix.push(".dep.");
    // 0666 less the umask, as a build's own `.dep` (tempfile's default is
    // 0600: others sharing the tree could no longer read it).
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(redo)?;
    tmp.write_all(&bytes)?;
    Ok((tmp.into_temp_path(), dst))
}

/// Flush the filesystem holding `dir` (one `syncfs` instead of an `fsync`
/// per file: depfix may rewrite thousands of `.dep`s).
fn sync_fs(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(f) = std::fs::File::open(dir) {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs on an fd we own; failure only means less durability.
        unsafe { libc::syncfs(f.as_raw_fd()) };
    }
}

/// A rewrite waiting for its rename.
struct Pending {
    tmp: tempfile::TempPath,
    dst: PathBuf,
    /// The legacy `.rec` to remove once the `.dep` is in place.
    rec: Option<PathBuf>,
    change: Change,
}

/// Fix every `.dep` (and convert every legacy `.rec`) below the cwd.
/// Returns the changes made, sorted by file; failures are problems.
///
/// Durability: all temporaries are written, the filesystem synced once,
/// then every temporary renamed over its `.dep`, and synced again — unless
/// `sync` is false (`REDO_NO_SYNC=1`). Atomicity (a reader sees the old or
/// the new `.dep`, never a mix) holds either way.
pub fn depfix(here: &Here, sync: bool, problems: &mut Problems) -> Vec<Change> {
    let found = super::walk::targets(here, problems);
    let mut fx = Fixer {
        here,
        problems,
        rf: Refresher {
            hashes: HashMap::new(),
        },
        pending: Vec::new(),
        changes: Vec::new(),
    };
    for t in &found.targets {
        fx.fix_dep(t);
    }
    for rec in &found.legacy {
        fx.convert_rec(rec);
    }
    fx.finish(sync)
}

/// One depfix run's work in progress.
struct Fixer<'a> {
    here: &'a Here,
    problems: &'a mut Problems,
    rf: Refresher,
    pending: Vec<Pending>,
    changes: Vec<Change>,
}

impl Fixer<'_> {
    fn show(&self, p: &Path) -> String {
        self.here.show(p).display().to_string()
    }

    /// Refresh target `t`'s `.dep` into a pending temporary, if it changes.
    fn fix_dep(&mut self, t: &Target) {
        let dp = t.dep_path();
        let mut dep = match std::fs::read(&dp) {
            Ok(b) => match Dep::decode(&b) {
                Ok(d) => d,
                Err(e) => {
                    self.problems.push(format!(
                        "{}: {e}; not fixed (delete it to treat the target as never built)",
                        self.show(&dp)
                    ));
                    return;
                }
            },
            Err(e) => {
                self.problems.push(format!("{}: {e}", self.show(&dp)));
                return;
            }
        };
        if dep.is_intent(t.base_path()) {
            // A commit cut short: its target must be rebuilt, and refreshing
            // (or adding) its self-record would make it pass for up to date.
            self.changes.push(Change {
                file: dp,
                what: "left alone: its last build was cut short; the next build rebuilds it".into(),
            });
            return;
        }
        let n = self.rf.refresh(t, &mut dep);
        if n == 0 {
            return;
        }
        match write_temp(t, &dep) {
            Ok((tmp, dst)) => self.pending.push(Pending {
                tmp,
                dst,
                rec: None,
                change: Change {
                    file: dp,
                    what: format!("{n} record{} refreshed", if n == 1 { "" } else { "s" }),
                },
            }),
            Err(e) => {
                let msg = format!("cannot rewrite {}: {e}", self.show(&dp));
                self.problems.push(msg);
            }
        }
    }

    /// Convert a legacy `.rec` into a pending `.dep` temporary.
    fn convert_rec(&mut self, rec: &Path) {
        let name = rec.file_name().map(|n| n.as_bytes()).unwrap_or_default();
        let stem = std::ffi::OsStr::from_bytes(&name[..name.len() - 4]);
        let t = Target::new(paths::dir_of(paths::dir_of(rec)).join(stem));
        let dp = t.dep_path();
        if dp.exists() {
            let what = format!("left alone: {} exists", self.show(&dp));
            self.changes.push(Change {
                file: rec.to_path_buf(),
                what,
            });
            return;
        }
        let text = match std::fs::read(rec) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                let msg = format!("{}: {e}", self.show(rec));
                self.problems.push(msg);
                return;
            }
        };
        let mut dep = match crate::state::rec::parse_dep(&text) {
            Ok(d) => d,
            Err(e) => {
                let msg = format!("{}: {e}; not converted", self.show(rec));
                self.problems.push(msg);
                return;
            }
        };
        self.rf.refresh(&t, &mut dep);
        match write_temp(&t, &dep) {
            Ok((tmp, dst)) => {
                let what = format!("converted to {}", self.show(&dp));
                self.pending.push(Pending {
                    tmp,
                    dst,
                    rec: Some(rec.to_path_buf()),
                    change: Change {
                        file: rec.to_path_buf(),
                        what,
                    },
                })
            }
            Err(e) => {
                let msg = format!("cannot write {}: {e}", self.show(&dp));
                self.problems.push(msg);
            }
        }
    }

    /// Sync, rename every temporary into place, sync again; the changes
    /// made, sorted by file.
    fn finish(mut self, sync: bool) -> Vec<Change> {
        if sync && !self.pending.is_empty() {
            sync_fs(self.here.root());
        }
        for p in std::mem::take(&mut self.pending) {
            if let Err(e) = p.tmp.persist(&p.dst) {
                let msg = format!(
                    "cannot rename a temporary to {}: {}",
                    self.show(&p.dst),
                    e.error
                );
                self.problems.push(msg);
                continue;
            }
            if let Some(rec) = &p.rec {
                if let Err(e) = std::fs::remove_file(rec) {
                    let msg = format!("cannot remove {}: {e}", self.show(rec));
                    self.problems.push(msg);
                }
            }
            self.changes.push(p.change);
        }
        if sync {
            sync_fs(self.here.root());
        }
        self.changes.sort_by(|a, b| {
            a.file
                .as_os_str()
                .as_bytes()
                .cmp(b.file.as_os_str().as_bytes())
        });
        self.changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ood::{Checker, Verdict};
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;

    #[test]
    fn refreshes_inodes_and_converts_rec() {
        let t = Tree::new();
        t.write("a.c", "a");
        t.write("a.do", "x");
        t.target(
            "a",
            "A",
            &[
                ("ifchange", "a.do"),
                ("ifchange", "a.c"),
                ("ifchange", "gone"),
            ],
        );
        // simulate a copy: new inode numbers for every file
        for f in ["a", "a.c", "a.do"] {
            let c = std::fs::read(t.p(f)).unwrap();
            std::fs::write(t.p("copy"), c).unwrap();
            std::fs::rename(t.p("copy"), t.p(f)).unwrap();
        }
        let before = std::fs::read(t.p(".redo/a.dep")).unwrap();
        // legacy rec for target b
        t.write("b", "B");
        t.write(".redo/b.rec", "Build: 80143f04-bfff-4673-950c-081d712f573d\n\nType: ifchange\nTarget: a.c\nSize: 1\n\nType: ifchange\nTarget: b\n");
        let mut pr = Problems::default();
        let here = Here::absolute(t.root());
        let ch = depfix(&here, true, &mut pr);
        assert!(pr.is_empty(), "{pr:?}");
        let what: Vec<(String, String)> = ch
            .iter()
            .map(|c| {
                (
                    paths::rel(&t.root(), &c.file).display().to_string(),
                    c.what.clone(),
                )
            })
            .collect();
        assert_eq!(
            what,
            [
                (".redo/a.dep".to_string(), "3 records refreshed".to_string()),
                (
                    ".redo/b.rec".to_string(),
                    "converted to .redo/b.dep".to_string()
                )
            ]
        );
        assert!(!t.p(".redo/b.rec").exists());
        let after = Dep::decode(&std::fs::read(t.p(".redo/a.dep")).unwrap()).unwrap();
        let old = Dep::decode(&before).unwrap();
        assert_eq!(after.records.len(), old.records.len());
        // the record of the missing file is untouched
        let gone = |d: &Dep| {
            d.records
                .iter()
                .find(|r| r.path() == Some(Path::new("gone")))
                .cloned()
        };
        assert_eq!(gone(&after), gone(&old));
        // with trust ctime, no hashing would be needed now: inode data equal
        let mut c = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(c.check(&t.t("b")), Verdict::UpToDate);
        // second run: nothing to do
        assert!(depfix(&here, false, &mut pr).is_empty());
        // leftover temporaries: none
        let left: Vec<_> = std::fs::read_dir(t.p(".redo"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.iter()
                .all(|n| !n.to_string_lossy().starts_with(".redo.")),
            "{left:?}"
        );
    }

    #[test]
    fn corrupt_dep_is_a_problem() {
        let t = Tree::new();
        t.write(".redo/x.dep", "GOREDO\x01short");
        t.write("y.do", "");
        t.target("y", "Y", &[("ifchange", "y.do")]);
        let mut pr = Problems::default();
        depfix(&Here::absolute(t.root()), false, &mut pr);
        assert_eq!(pr.0.len(), 1);
        assert!(
            pr.0[0].starts_with(".redo/x.dep: shorter than"),
            "{:?}",
            pr.0
        );
    }
}
