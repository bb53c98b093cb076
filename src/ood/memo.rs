//! The memoised questions a check asks of the filesystem: a target's `.dep`
//! (found through its directory's view, see `dirview.rs`), a `stat`, an
//! `lstat` existence, a content hash, and the verdicts reached. Each is
//! answered from this checker's memos, then from what parked workers
//! decided (see `parallel.rs`), then from directory listings when the
//! caller gave some ([`Checker::assume_listings`]), and only then by the
//! kernel. Callers may seed the memos with what another checker found.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::checker::Known;
use super::dirview::{DepSource, DirView, Fresh};
use super::{key, Checker, DepState, Key, Verdict};
use crate::fasthash::FastMap;
use crate::paths;
use crate::state::dep::{self, Hash};
use crate::state::depcache::{self, Cached};
use crate::state::depview::{DepView, RecordRef};
use crate::state::dirlist::KnownAbsent;
use crate::state::inode::Inode;
use crate::sys::cwd::walk_from_cwd;
use crate::target::Target;

/// The `.dep` files.
impl Checker {
    /// Read (memoised) the `.dep` of an absolute target path.
    pub fn dep(&mut self, target: &Target) -> DepState {
        if let Some(d) = self
            .known
            .get(target.as_os_str())
            .and_then(|k| k.dep.as_ref())
        {
            return d.clone();
        }
        let (st, memo) = self.load_dep(target);
        if memo {
            self.known_mut(target, None).dep = Some(st.clone());
        }
        st
    }

    /// The `.dep` state of `target`, and whether it is worth memoising: an
    /// absence the cache or a listing answered is as cheap to ask again (a
    /// big check asks once about each of thousands of sources).
    fn load_dep(&mut self, target: &Target) -> (DepState, bool) {
        let name = target.base();
        let view = self.view(target.dir());
        let source = view.source(name);
        match source {
            DepSource::NoRedoDir | DepSource::NoDep => return (DepState::Absent, false),
            DepSource::Cached(c, i) => return (self.decode_cached(target, c, i), true),
            DepSource::CachedIfKey(c, i, k) => match view.dep_key(name) {
                Ok(Some(now)) if now == k => {
                    self.add_fresh(target.dir(), Fresh::Kept(i));
                    return (self.decode_cached(target, c, i), true);
                }
                Ok(None) => return (DepState::Absent, true),
                _ => {}
            },
            DepSource::Disk => {}
            DepSource::BeforeCache => {}
        }
        // The file's path is only needed to read it or name it in a warning.
        let path = target.dep_path();
        if !matches!(source, DepSource::BeforeCache) && self.is_known_absent(&path) {
            return (DepState::Absent, false);
        }
        let (bytes, fkey) = match depcache::read_keyed(walk_from_cwd(&path)) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (DepState::Absent, true),
            Err(e) => return (DepState::Corrupt(format!("{}: {e}", path.display())), true),
        };
        let st = self.decode_dep(target, &bytes);
        if let (DepState::Present(_), Some(k)) = (&st, fkey) {
            self.add_fresh(target.dir(), Fresh::Read(name.to_os_string(), k, bytes));
        }
        (st, true)
    }

    /// Check `target`'s `.dep` bytes, kept in the directory's loaded cache
    /// `c` (its entry `i`).
    fn decode_cached(&mut self, target: &Target, c: &Arc<Cached>, i: u32) -> DepState {
        let r = match c.data_range(i) {
            Some(range) => DepView::decode_in(c, range),
            None => Err(dep::DecodeError::TooShort),
        };
        self.checked_dep(target, r)
    }

    /// Check `target`'s `.dep` bytes `b`, read from its file.
    fn decode_dep(&mut self, target: &Target, b: &[u8]) -> DepState {
        self.checked_dep(target, DepView::decode(b))
    }

    /// The state of a `.dep` checked. An unusable one makes its target out
    /// of date; the job that rebuilds it says why (a query lists it from
    /// [`Checker::dep_errors`]), so nothing is reported here.
    fn checked_dep(&mut self, target: &Target, r: Result<DepView, dep::DecodeError>) -> DepState {
        match r {
            Ok(d) => DepState::Present(Arc::new(d)),
            Err(e) => DepState::Corrupt(format!("{}: {e}", target.dep_path().display())),
        }
    }

    /// The shared view of `dir`, remembered here: the shared table is behind
    /// a lock that parallel workers would otherwise take for every lookup.
    fn view(&mut self, dir: &Path) -> Arc<DirView> {
        if let Some(v) = self.views.get(dir.as_os_str()) {
            return v.clone();
        }
        let v = self.dep_caches.view(dir);
        self.views.insert(key(dir), v.clone());
        v
    }

    /// Note a `.dep` of the directory `dir` read or confirmed, for the
    /// directory's cache.
    fn add_fresh(&mut self, dir: &Path, f: Fresh) {
        match self.fresh.get_mut(dir.as_os_str()) {
            Some(v) => v.push(f),
            None => {
                self.fresh.insert(key(dir), vec![f]);
            }
        }
    }

    /// Seed the memo with a target's `.dep` state read elsewhere (the query
    /// applets read every `.dep` once, in parallel, before checking).
    pub fn preset_dep(&mut self, target: &Path, st: DepState) {
        self.known_mut(target, None).dep = Some(st);
    }

    /// Every `.dep` read so far that could not be used, as (target, message
    /// naming the file), sorted by target path bytes. For the query applets,
    /// which report them all once at the end.
    pub fn dep_errors(&self) -> Vec<(PathBuf, String)> {
        use std::os::unix::ffi::OsStrExt;
        let mut v: Vec<(PathBuf, String)> = self
            .known
            .iter()
            .filter_map(|(t, k)| match &k.dep {
                Some(DepState::Corrupt(m)) => Some((PathBuf::from(t), m.clone())),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
        v
    }
}

/// The verdicts.
impl Checker {
    /// The verdict reached on `target`, if any yet (here or by a parked
    /// worker).
    pub fn verdict(&self, target: &Path) -> Option<&Verdict> {
        self.known
            .get(target.as_os_str())
            .and_then(|k| k.verdict.as_ref())
            .or_else(|| self.worker_decision(target).map(|d| &d.verdict))
    }

    /// Room for `n` more verdicts (before presetting many).
    pub fn reserve_verdicts(&mut self, n: usize) {
        self.known.reserve(n);
    }

    /// Seed the memo with a verdict reached elsewhere on the same tree (the
    /// run share; the query applets check a tree level by level in
    /// parallel): a check reaching `target` stops there.
    pub fn preset_verdict(&mut self, target: &Path, v: Verdict) {
        self.known_mut(target, None).verdict = Some(v);
    }
}

/// The files.
impl Checker {
    /// The entry of `path` in the memo, made if there is none yet. `made`:
    /// a key of `path` at hand. (A key made for a path already there is
    /// dropped at once: cheaper than a second lookup.)
    pub(super) fn known_mut(&mut self, path: &Path, made: Option<Key>) -> &mut Known {
        self.known
            .entry(made.unwrap_or_else(|| key(path)))
            .or_default()
    }

    /// Do the directory listings the caller gave say `path` is absent?
    fn is_known_absent(&self, path: &Path) -> bool {
        self.known_absent.as_ref().is_some_and(|k| k.absent(path))
    }

    /// `stat` of `path` (following symlinks) as inode data; None when it
    /// does not exist (or cannot be examined). Memoised until [`Checker::reset`].
    pub fn stat(&mut self, path: &Path) -> Option<Inode> {
        self.stat_with(path, true)
    }

    /// [`Checker::stat`] of a path a `.dep` records as existing: most still
    /// do, and asking a listing first would be a wasted lookup.
    pub(super) fn stat_recorded(&mut self, path: &Path) -> Option<Inode> {
        self.stat_with(path, false)
    }

    /// The memoised `stat` of `path`, ours or a parked worker's.
    pub(super) fn stat_known(&self, path: &Path) -> Option<Option<Inode>> {
        self.known
            .get(path.as_os_str())
            .and_then(|k| k.stat)
            .or_else(|| self.worker_decision(path).map(|d| d.st))
    }

    fn stat_with(&mut self, path: &Path, ask_listing: bool) -> Option<Inode> {
        if let Some(m) = self.stat_known(path) {
            return m;
        }
        // A listing's answer is as cheap as the memo, and as stable.
        if ask_listing && self.is_known_absent(path) {
            return None;
        }
        let m = std::fs::metadata(walk_from_cwd(path))
            .ok()
            .map(|m| Inode::from_meta(&m));
        self.known_mut(path, None).stat = Some(m);
        m
    }

    /// The inode data of `path` as this checker (or a parked worker) read
    /// it, if it did and the file existed: nothing is asked of the kernel.
    pub fn seen_stat(&self, path: &Path) -> Option<Inode> {
        self.stat_known(path).flatten()
    }

    /// Seed the stat memo with inode data another checker just read.
    pub fn preset_stat(&mut self, path: &Path, st: Option<Inode>) {
        self.known_mut(path, None).stat = Some(st);
    }

    /// The first ifcreate path of `dep` (a `.dep` of directory `dir`, whose
    /// target is `base`) that exists now (not following a final symlink),
    /// as recorded. A target's own `.do` name (`base.do`) is asked afresh;
    /// the other candidates (`default.o.do`, `../default.do`, ...) are the
    /// same bytes in every `.dep` of the directory, and are memoised by
    /// directory and recorded path until [`Checker::reset`]: one lookup of
    /// the directory and one of each short recorded path, no path joined,
    /// cleaned or hashed whole.
    pub(super) fn ifcreate_appeared<'d>(
        &mut self,
        dir: &Path,
        base: &OsStr,
        dep: &'d DepView,
    ) -> Option<&'d Path> {
        let own_do = |p: &Path| {
            let (p, b) = (p.as_os_str().as_bytes(), base.as_bytes());
            p.len() == b.len() + 3 && p.starts_with(b) && p.ends_with(b".do")
        };
        let mut shared = false;
        for r in dep.records() {
            let RecordRef::Ifcreate(p) = r else { continue };
            if p.as_os_str() == base {
                continue;
            }
            if !own_do(p) {
                shared = true;
            } else if lexists_now(self.known_absent.as_deref(), &paths::abs_join(dir, p)) {
                return Some(p);
            }
        }
        if !shared {
            return None;
        }
        let shared = || {
            dep.records().filter_map(|r| match r {
                RecordRef::Ifcreate(p) if p.as_os_str() != base && !own_do(p) => Some(p),
                _ => None,
            })
        };
        if !self.ifcreates.contains_key(dir.as_os_str()) {
            self.ifcreates.insert(key(dir), FastMap::default());
        }
        let Checker {
            ifcreates,
            known_absent,
            ..
        } = self;
        let memo = ifcreates.get_mut(dir.as_os_str())?;
        for p in shared() {
            let name = p.as_os_str().as_bytes();
            let exists = match memo.get(name) {
                Some(&e) => e,
                None => {
                    let e = lexists_now(known_absent.as_deref(), &paths::abs_join(dir, p));
                    memo.insert(name.into(), e);
                    e
                }
            };
            if exists {
                return Some(p);
            }
        }
        None
    }

    /// The BLAKE3 hash of the file at `path` (None if it cannot be read),
    /// memoised until [`Checker::reset`].
    pub(super) fn hash(&mut self, path: &Path) -> Option<Hash> {
        if let Some(h) = self.hashes.get(path.as_os_str()) {
            return *h;
        }
        let h = dep::hash_file(path).ok();
        self.hashes.insert(key(path), h);
        h
    }
}

/// Does `path` exist now (not following a final symlink)? Asks the listings
/// first.
fn lexists_now(known_absent: Option<&dyn KnownAbsent>, path: &Path) -> bool {
    !known_absent.is_some_and(|k| k.absent(path))
        && std::fs::symlink_metadata(walk_from_cwd(path)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ood::{DepCaches, Reason};
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;

    /// Two targets of `sub/` recording their own `.do` name and the shared
    /// upward candidates, as a `.do` search does.
    fn two_targets(t: &Tree) {
        for n in ["a", "b"] {
            let own = format!("{n}.do");
            let deps = [
                ("ifcreate", own.as_str()),
                ("ifcreate", "default.do"),
                ("ifcreate", "../default.do"),
            ];
            t.target(&format!("sub/{n}"), n, &deps);
        }
    }

    #[test]
    fn a_shared_candidate_appearing_outdates_every_target_after_a_reset() {
        let t = Tree::new();
        two_targets(&t);
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(ch.check(&t.t("sub/a")), Verdict::UpToDate);
        assert_eq!(ch.check(&t.t("sub/b")), Verdict::UpToDate);
        t.write("default.do", "");
        // Memoised until the reset: the checker answers as the tree was.
        assert_eq!(ch.check(&t.t("sub/b")), Verdict::UpToDate);
        ch.reset();
        for n in ["sub/a", "sub/b"] {
            assert_eq!(
                ch.check(&t.t(n)),
                Verdict::Ood(Reason::IfcreateAppeared(t.p("default.do")))
            );
        }
    }

    #[test]
    fn a_listing_is_remembered_and_a_do_file_made_since_is_still_seen() {
        let t = Tree::new();
        two_targets(&t);
        let check = |n: &str| {
            let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
            ch.list_directories();
            ch.check(&t.t(n))
        };
        let remembered = || {
            let caches = DepCaches::default();
            let view = caches.view(&t.p("sub"));
            view.source(OsStr::new("a"));
            view.loaded().and_then(|(c, _)| c.names().cloned())
        };
        // Quiet, so that the listing's stamp can be remembered; the first
        // check writes the cache, with the names of sub/.
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert_eq!(check("sub/a"), Verdict::UpToDate);
        assert_eq!(check("sub/b"), Verdict::UpToDate);
        let names = remembered().expect("names of sub/ in its cache");
        assert!(names.rules_out(b"b.do") && !names.rules_out(b"a"));
        assert_eq!(check("sub/a"), Verdict::UpToDate);
        // At once, in the same clock tick if it can: the directory's
        // stamp changes, so the remembered names no longer answer.
        t.write("sub/b.do", "");
        assert_eq!(
            check("sub/b"),
            Verdict::Ood(Reason::IfcreateAppeared(t.p("sub/b.do")))
        );
        assert_eq!(check("sub/a"), Verdict::UpToDate);
    }

    #[test]
    fn a_targets_own_do_name_is_not_shared_with_its_neighbours() {
        let t = Tree::new();
        two_targets(&t);
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(ch.check(&t.t("sub/a")), Verdict::UpToDate);
        t.write("sub/b.do", "");
        assert_eq!(
            ch.check(&t.t("sub/b")),
            Verdict::Ood(Reason::IfcreateAppeared(t.p("sub/b.do")))
        );
        ch.reset();
        assert_eq!(ch.check(&t.t("sub/a")), Verdict::UpToDate);
        t.write("sub/default.do", "");
        ch.reset();
        assert_eq!(
            ch.check(&t.t("sub/a")),
            Verdict::Ood(Reason::IfcreateAppeared(t.p("sub/default.do")))
        );
    }
}
