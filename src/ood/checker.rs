//! The [`Checker`]: its memos, its settings, and the decision itself
//! ([`Checker::check`], `decide`, `changed`). The memoised lookups it makes
//! are in `memo.rs`, the parallel check of big fan-ins in `parallel.rs`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use super::dirview::{DepCaches, DepFresh, DirView, Fresh};
use super::parallel::{Decided, Parked};
use super::{key, Key, Reason, Verdict};
use crate::fasthash::{hash_bytes, FastMap};
use crate::paths;
use crate::state::dep::Hash;
use crate::state::depview::{DepView, RecordRef};
use crate::state::dirlist::{KnownAbsent, SharedDirLists, ToRemember};
use crate::state::inode::{Inode, InodeTrust};
use crate::target::Target;

/// What a checker learned of one path: each part memoised until
/// [`Checker::reset`].
#[derive(Default)]
pub(super) struct Known {
    pub(super) verdict: Option<Verdict>,
    pub(super) dep: Option<DepState>,
    /// `stat` (following symlinks): a shared dependency such as a
    /// `default.do` is compared against every dependant's record.
    pub(super) stat: Option<Option<Inode>>,
}

/// The targets whose check is under way, innermost last: a stack as deep
/// as the check, searched by hash. (A set cost an insert and a removal of
/// a hashed key per target checked, a sixth of a wide fan-in's check.)
#[derive(Clone, Default)]
pub(super) struct Visiting(Vec<(u64, Key)>);

impl Visiting {
    /// How many checks are under way.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Is the check of `p` under way?
    fn holds(&self, p: &Path) -> bool {
        let b = p.as_os_str().as_bytes();
        let h = hash_bytes(b);
        self.0.iter().any(|(hk, k)| *hk == h && k.as_bytes() == b)
    }

    /// The check of `p` starts.
    fn enter(&mut self, p: &Path) {
        let k = key(p);
        self.0.push((hash_bytes(k.as_bytes()), k));
    }

    /// The innermost check ends: its key.
    fn leave(&mut self) -> Option<Key> {
        self.0.pop().map(|(_, k)| k)
    }
}

/// Result of reading a target's `.dep`.
#[derive(Clone, Debug)]
pub enum DepState {
    /// There is no `.dep`: a source, or a target never built.
    Absent,
    /// The `.dep` cannot be used (the message names the file and says why).
    Corrupt(String),
    /// The checked `.dep`.
    Present(Arc<DepView>),
}

/// What a checker can tell other processes of the run about an up-to-date
/// target ([`Checker::vouch`]).
#[derive(Clone, Copy, Debug)]
pub struct Vouch {
    /// The target's self-record (inode data and hash), if its file is as
    /// recorded.
    pub own: Option<(Inode, Hash)>,
    /// Its `.dep` carries this run's BuildUUID.
    pub built: bool,
}

/// The out-of-date checker of one build run (see the module essay): every
/// answer it gives is memoised until [`Checker::reset`].
pub struct Checker {
    /// The run's BuildUUID: a `.dep` carrying it was built in this run.
    pub(super) build: [u8; 16],
    pub(super) trust: InodeTrust,
    /// What this checker learned of each path (verdict, `.dep`, `stat`):
    /// one table, so a path asked about in three ways is keyed and hashed
    /// into one entry.
    pub(super) known: FastMap<Key, Known>,
    pub(super) hashes: FastMap<Key, Option<Hash>>,
    /// Memoised `lstat` existence of ifcreate paths, by the recording
    /// target's directory and the path as recorded: the `.do` candidates
    /// recorded as ifcreate (`../default.o.do`, ...) are the same bytes in
    /// every `.dep` of a directory, so a target's ifcreates are answered
    /// without joining, cleaning or hashing its absolute paths.
    pub(super) ifcreates: FastMap<Key, FastMap<Box<[u8]>, bool>>,
    /// The targets whose check is under way (a recorded cycle meets one).
    pub(super) visiting: Visiting,
    /// While set ([`Checker::check_collecting_always`]), always-targets met
    /// below the operands are collected here and treated as up to date for
    /// this pass (goredo builds them first).
    pub(super) collect_always: Option<Vec<Target>>,
    /// Knowledge of absent files from directory listings, while the tree
    /// does not change ([`Checker::assume_listings`]).
    pub(super) known_absent: Option<Arc<dyn KnownAbsent>>,
    /// The listings this checker made ([`Checker::list_directories`]),
    /// kept after [`Checker::forget_listings`] for their names to be
    /// remembered in the `.dep` caches.
    pub(super) own_lists: Option<Arc<SharedDirLists>>,
    /// A worker of the parallel check (or of a query, which splits its
    /// work itself): does not split its work again.
    pub(super) one_thread: bool,
    /// The process ends soon after this checker is dropped: its memos are
    /// left to the exit ([`Checker::leave_memos_to_exit`]).
    pub(super) memos_to_exit: bool,
    /// The workers of the parallel check, kept alive with their memos for
    /// [`Checker::on_parked`].
    pub(super) parked: Vec<Parked>,
    /// What each parked worker decided of its share, consulted after our
    /// own memos: moving a worker's table here costs nothing, while merging
    /// its entries into ours took milliseconds of a 10000-target check, on
    /// one core, after the workers were done. Later workers consult them
    /// too (a later parallel pass often meets subtrees decided already).
    pub(super) worker_decisions: Vec<Arc<FastMap<Key, Decided>>>,
    /// A check met a target already being checked above it (a recorded
    /// dependency cycle) and cut it there: verdicts above the cut are not
    /// those of a plain walk.
    pub(super) met_cycle: bool,
    /// The `.redo/` snapshots and `.dep` caches ([`crate::state::depcache`])
    /// of the directories met, shareable between the checkers of one query.
    pub(super) dep_caches: Arc<DepCaches>,
    /// This checker's handles on `dep_caches`' views.
    pub(super) views: FastMap<Key, Arc<DirView>>,
    /// `.dep` files this checker read from disk or confirmed, by target
    /// directory, for writing the caches when it is done.
    pub(super) fresh: FastMap<Key, Vec<Fresh>>,
}

impl Drop for Checker {
    /// Write the `.dep` caches of directories whose files were read from
    /// disk: the next check of an unchanged tree reads one file per
    /// directory. Each write re-validates its snapshot, so after a build
    /// changed a directory nothing is written for it. Then, if the process
    /// is about to end, leave the memos to the exit.
    fn drop(&mut self) {
        self.persist_dep_caches();
        if self.memos_to_exit {
            // What is left here, empty, is dropped field by field; the
            // memos are never freed.
            let memos = std::mem::replace(self, Checker::new(self.build, self.trust));
            std::mem::forget(memos);
        }
    }
}

/// Settings, the caller's protocol around checks, and what a check leaves
/// for the caller.
impl Checker {
    /// A checker for the build run `build`, comparing files under `trust`.
    pub fn new(build: [u8; 16], trust: InodeTrust) -> Checker {
        Checker {
            build,
            trust,
            known: FastMap::default(),
            hashes: FastMap::default(),
            ifcreates: FastMap::default(),
            visiting: Visiting::default(),
            collect_always: None,
            known_absent: None,
            own_lists: None,
            one_thread: false,
            memos_to_exit: false,
            parked: Vec::new(),
            worker_decisions: Vec::new(),
            met_cycle: false,
            dep_caches: Arc::default(),
            views: FastMap::default(),
            fresh: FastMap::default(),
        }
    }

    /// The build run's BuildUUID this checker was made with.
    pub fn build_id(&self) -> [u8; 16] {
        self.build
    }

    /// Answer existence questions from `lists` (directory listings) as well
    /// as the memos, until [`Checker::forget_listings`]: only while the tree
    /// does not change.
    pub fn assume_listings(&mut self, lists: Arc<dyn KnownAbsent>) {
        self.known_absent = Some(lists);
    }

    /// Answer existence questions from listings of the directories asked
    /// about, made as needed and shared with this checker's parallel
    /// workers, and from the names the `.dep` caches remember of them
    /// ([`crate::state::dirnames`]); until [`Checker::forget_listings`].
    /// The names listed are remembered when the caches are written.
    pub fn list_directories(&mut self) {
        let lists = Arc::new(SharedDirLists::with_memory(self.dep_caches.clone()));
        self.known_absent = Some(lists.clone());
        self.own_lists = Some(lists);
    }

    /// Ask the kernel again about files not memoised (after a build changed
    /// the tree).
    pub fn forget_listings(&mut self) {
        self.known_absent = None;
    }

    /// Find the `.redo/` snapshots and `.dep` caches in `caches`, shared
    /// with other checkers of a tree that does not change (a query).
    pub fn share_dep_caches(&mut self, caches: Arc<DepCaches>) {
        self.dep_caches = caches;
    }

    /// Never split a check among threads (the caller splits its work).
    pub fn keep_to_this_thread(&mut self) {
        self.one_thread = true;
    }

    /// The process ends soon after this checker is dropped (the CLI's one
    /// build): its memos, and its parallel workers', hold a few allocations
    /// per path of the tree, and freeing them one by one costs more than a
    /// no-op check's real work. On drop, the `.dep` caches are written and
    /// the memory is left for the exit to free at once.
    pub fn leave_memos_to_exit(&mut self) {
        self.memos_to_exit = true;
    }

    /// Check `operands`, collecting the always-targets met below them
    /// (goredo builds those first, then checks again): these count as up
    /// to date in this pass, so their dependants are decided by the rest.
    /// Returns them in the order met, repeats included.
    pub fn check_collecting_always(&mut self, operands: &[Target]) -> Vec<Target> {
        self.collect_always = Some(Vec::new());
        for t in operands {
            self.check(t);
        }
        self.collect_always.take().unwrap_or_default()
    }

    /// Room for what `paths` more paths will teach: a caller that knows how
    /// many spares the memo its growth (each doubling touches fresh memory).
    pub fn expect_paths(&mut self, paths: usize) {
        self.known.reserve(paths);
    }

    /// Forget verdicts (after building something), keep nothing stale.
    pub fn reset(&mut self) {
        self.known.clear();
        self.hashes.clear();
        self.ifcreates.clear();
        self.parked.clear();
        self.worker_decisions.clear();
        self.met_cycle = false;
        // Built files changed these directories: their snapshots are stale.
        self.dep_caches = Arc::default();
        self.own_lists = None;
        self.views.clear();
        self.fresh.clear();
    }

    /// Write the `.dep` caches of the directories whose files this checker
    /// read from disk (also done on drop).
    pub fn persist_dep_caches(&mut self) {
        let mut listed: FastMap<OsString, ToRemember> = match self.own_lists.take() {
            Some(l) => l
                .to_remember()
                .into_iter()
                .map(|r| (r.dir.clone(), r))
                .collect(),
            None => FastMap::default(),
        };
        for (dir, fresh) in std::mem::take(&mut self.fresh) {
            let l = listed.remove(&dir);
            self.dep_caches
                .view(Path::new(&dir))
                .persist(&fresh, l.as_ref());
        }
        // Directories listed where nothing was read.
        for (dir, l) in listed {
            if let Some(view) = self.dep_caches.opened(Path::new(&dir)) {
                view.persist(&[], Some(&l));
            }
        }
    }

    /// The `.dep` files this checker read or validated, for another checker
    /// sharing its `.dep` caches to persist ([`Checker::absorb_fresh`]).
    pub fn take_fresh(&mut self) -> DepFresh {
        DepFresh(std::mem::take(&mut self.fresh))
    }

    /// Take over another checker's [`Checker::take_fresh`], to persist.
    pub fn absorb_fresh(&mut self, f: DepFresh) {
        self.absorb_fresh_map(f.0);
    }

    pub(super) fn absorb_fresh_map(&mut self, f: FastMap<Key, Vec<Fresh>>) {
        for (dir, mut v) in f {
            match self.fresh.get_mut(&dir) {
                Some(mine) => mine.append(&mut v),
                None => {
                    self.fresh.insert(dir, v);
                }
            }
        }
    }

    /// Has a check of this checker (or of its workers) cut a dependency
    /// cycle since it was made or reset?
    pub fn met_cycle(&self) -> bool {
        self.met_cycle
    }

    /// The targets whose check is under way above this checker's: a worker
    /// starts with its parent's.
    pub fn ancestors(&self) -> impl Iterator<Item = &Path> {
        self.visiting.0.iter().map(|(_, k)| Path::new(k))
    }

    /// What can be told of `target`, found up to date, to other processes
    /// of the run: its self-record if the file is as recorded (never under
    /// inode trust `none`), and whether it was built in this run. None if
    /// it has no `.dep`.
    pub fn vouch(&mut self, target: &Target) -> Option<Vouch> {
        let DepState::Present(dep) = self.dep(target) else {
            return None;
        };
        let own = dep.self_ifchange(target.base_path()).filter(|(i, _)| {
            self.trust != InodeTrust::None
                && self
                    .stat(target)
                    .is_some_and(|now| now.equals(i, self.trust))
        });
        Some(Vouch {
            own,
            built: dep.build == self.build,
        })
    }
}

/// The decision.
impl Checker {
    /// Is the absolute clean `target` out of date?
    pub fn check(&mut self, target: &Target) -> Verdict {
        self.check_at(target, true)
    }

    /// The memoised verdict of `target`, reached now if need be; `operand`:
    /// asked by the caller, not met below another target.
    pub(super) fn check_at(&mut self, target: &Target, operand: bool) -> Verdict {
        if let Some(v) = self.verdict(target) {
            return v.clone();
        }
        if self.visiting.holds(target) {
            self.met_cycle = true;
            return Verdict::UpToDate;
        }
        self.visiting.enter(target);
        let v = self.decide(target, operand);
        // The key made for `visiting` serves the verdict.
        let k = self.visiting.leave();
        self.known_mut(target, k).verdict = Some(v.clone());
        v
    }

    /// Steps 1 to 4 of the module essay, from the `.dep` and the target
    /// file; then the records decide.
    fn decide(&mut self, target: &Target, operand: bool) -> Verdict {
        let dep = match self.dep(target) {
            DepState::Absent => {
                let do_beside = paths::with_suffix(target, ".do");
                return if self.stat(target).is_some() && self.stat(&do_beside).is_none() {
                    Verdict::Source
                } else {
                    Verdict::Ood(Reason::NeverBuilt)
                };
            }
            DepState::Corrupt(m) => return Verdict::Ood(Reason::CorruptDep(m)),
            DepState::Present(d) => d,
        };
        if dep.is_intent(target.base_path()) {
            return Verdict::Ood(Reason::CommitCutShort);
        }
        if dep.build == self.build {
            return Verdict::UpToDate;
        }
        if dep.has_always() {
            if !operand {
                if let Some(c) = self.collect_always.as_mut() {
                    c.push(target.clone());
                    return Verdict::UpToDate;
                }
            }
            return Verdict::Ood(Reason::Always);
        }
        // A parallel check's worker has stat'ed its share already; a listed
        // name exists (a dangling symlink too, which `stat` says is not).
        let exists = self.stat_known(target).is_some_and(|st| st.is_some())
            || self
                .known_absent
                .as_ref()
                .is_some_and(|k| k.present(target))
            || self.stat(target).is_some();
        if !exists {
            return Verdict::Ood(Reason::Missing);
        }
        self.decide_by_records(target, &dep)
    }

    /// Steps 5 to 7 of the module essay: the ifcreate records, then the
    /// ifchange ones in recorded order (checked on all the cores first when
    /// they are many, see `parallel.rs`).
    fn decide_by_records(&mut self, target: &Target, dep: &DepView) -> Verdict {
        let (tdir, base) = (target.dir(), target.base());
        if let Some(p) = self.ifcreate_appeared(tdir, base, dep) {
            return Verdict::Ood(Reason::IfcreateAppeared(paths::abs_join(tdir, p)));
        }
        let unchanged = self.check_fan_in(target, dep);
        for (i, r) in dep.records().enumerate() {
            if unchanged.get(i) == Some(&true) {
                // as recorded and not out of date: `changed` and `check_at`
                // below would pass over it
                continue;
            }
            match r {
                RecordRef::Ifchange { inode, hash, path } => {
                    let own = path.as_os_str() == base;
                    let dep = if own {
                        target.clone()
                    } else {
                        Target::join(tdir, path)
                    };
                    if let Some(reason) = self.changed(&dep, &inode, hash) {
                        return Verdict::Ood(if own { Reason::Edited } else { reason });
                    }
                    if own {
                        continue;
                    }
                    match self.check_at(&dep, false) {
                        // A build leaves an edited dependency as it is, and
                        // its content was just compared with our record.
                        Verdict::Ood(Reason::Edited) => {}
                        Verdict::Ood(inner) => {
                            return Verdict::Ood(Reason::DepOod(dep.into(), Box::new(inner)));
                        }
                        _ => {}
                    }
                }
                RecordRef::IfchangeNonexistent(path) => {
                    let dep = Target::join(tdir, path);
                    if std::fs::symlink_metadata(&*dep).is_ok() {
                        return Verdict::Ood(Reason::DepAppeared(dep.into()));
                    }
                    if let Verdict::Ood(inner) = self.check_at(&dep, false) {
                        return Verdict::Ood(Reason::DepOod(dep.into(), Box::new(inner)));
                    }
                }
                _ => {}
            }
        }
        Verdict::UpToDate
    }

    /// Has the file at `abs` changed against its recorded inode data and hash?
    fn changed(&mut self, abs: &Path, inode: &Inode, hash: &Hash) -> Option<Reason> {
        let Some(now) = self.stat_recorded(abs) else {
            return Some(Reason::DepMissing(abs.to_path_buf()));
        };
        if now.size != inode.size {
            return Some(Reason::DepSize(abs.to_path_buf()));
        }
        if self.trust != InodeTrust::None && now.equals(inode, self.trust) {
            return None;
        }
        match self.hash(abs) {
            Some(h) if h == *hash => None,
            _ => Some(Reason::DepHash(abs.to_path_buf())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::dep::{Dep, Record};
    use crate::testutil::Tree;

    #[test]
    fn always_targets_below_the_operands_are_collected_as_up_to_date() {
        let t = Tree::new();
        t.write("a.c", "a");
        t.target("gen", "g", &[("always", "")]);
        t.target("all", "x", &[("ifchange", "gen"), ("ifchange", "a.c")]);
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(ch.check_collecting_always(&[t.t("all")]), [t.t("gen")]);
        assert_eq!(ch.verdict(&t.p("all")), Some(&Verdict::UpToDate));
        // Collecting ends with the call; an operand is never collected.
        let mut fresh = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(
            fresh.check(&t.t("all")),
            Verdict::Ood(Reason::DepOod(t.p("gen"), Box::new(Reason::Always)))
        );
        assert!(fresh.check_collecting_always(&[t.t("gen")]).is_empty());
    }

    #[test]
    fn an_edited_target_is_out_of_date_but_its_dependants_are_not_for_it() {
        let t = Tree::new();
        t.write("a.c", "a");
        t.target("gen", "g", &[("ifchange", "a.c")]);
        t.target("all", "x", &[("ifchange", "gen")]);
        let fresh = || Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(fresh().check(&t.t("gen")), Verdict::UpToDate);
        // Touched: new inode data, same content.
        let f = std::fs::File::options()
            .append(true)
            .open(t.p("gen"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        assert_eq!(fresh().check(&t.t("gen")), Verdict::UpToDate);
        assert_eq!(fresh().check(&t.t("all")), Verdict::UpToDate);
        // Edited: out of date itself; `all` recorded the old content, so it is
        // out of date for that, not for gen's verdict.
        t.write("gen", "edited");
        assert_eq!(fresh().check(&t.t("gen")), Verdict::Ood(Reason::Edited));
        assert_eq!(
            fresh().check(&t.t("all")),
            Verdict::Ood(Reason::DepSize(t.p("gen")))
        );
        // `all` rebuilt with the edited gen: up to date, gen still edited.
        t.target("all", "x", &[("ifchange", "gen")]);
        let mut ch = fresh();
        assert_eq!(ch.check(&t.t("all")), Verdict::UpToDate);
        assert_eq!(ch.check(&t.t("gen")), Verdict::Ood(Reason::Edited));
    }

    #[test]
    fn a_recorded_cycle_is_cut_and_said() {
        let t = Tree::new();
        t.target("a", "a", &[]);
        t.target("b", "b", &[("ifchange", "a")]);
        // a now depends on b, which depends on a.
        t.target("a", "a", &[("ifchange", "b")]);
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        assert!(!ch.met_cycle());
        assert_eq!(ch.check(&t.t("a")), Verdict::UpToDate);
        assert!(ch.met_cycle());
        ch.reset();
        assert!(!ch.met_cycle());
    }

    #[test]
    fn a_commit_intent_is_out_of_date_even_if_built_in_this_run() {
        let run = [1; 16]; // the build id Tree::target records
                           // The intent as ferredo writes it (no self-record yet, the last record
                           // another's), and as earlier versions wrote it (an all-zero self-record).
        let cut: [fn(&mut Dep); 2] = [
            |d| {
                d.records.pop();
            },
            |d| {
                if let Some(Record::Ifchange { inode, .. }) = d.records.last_mut() {
                    *inode = Inode::INTENT;
                }
            },
        ];
        for cut in cut {
            let t = Tree::new();
            t.write("src", "s");
            t.target("t", "new", &[("ifchange", "src")]);
            assert_eq!(
                Checker::new(run, InodeTrust::Ctime).check(&t.t("t")),
                Verdict::UpToDate
            );
            let path = t.t("t").dep_path();
            let mut d = Dep::decode(&std::fs::read(&path).unwrap()).unwrap();
            cut(&mut d);
            std::fs::write(&path, d.encode().unwrap()).unwrap();
            assert_eq!(
                Checker::new(run, InodeTrust::Ctime).check(&t.t("t")),
                Verdict::Ood(Reason::CommitCutShort)
            );
        }
    }

    #[test]
    fn a_target_that_produced_nothing_is_no_intent() {
        let t = Tree::new();
        t.write("src", "s");
        t.target("t", "", &[("ifchange", "src")]);
        let path = t.t("t").dep_path();
        let mut d = Dep::decode(&std::fs::read(&path).unwrap()).unwrap();
        d.records.pop();
        d.records.push(Record::Ifcreate("t".into()));
        std::fs::write(&path, d.encode().unwrap()).unwrap();
        std::fs::remove_file(t.p("t")).unwrap();
        assert!(!d.is_intent(Path::new("t")));
        assert_eq!(
            Checker::new([2; 16], InodeTrust::Ctime).check(&t.t("t")),
            Verdict::Ood(Reason::Missing)
        );
    }

    #[test]
    fn memos_left_to_exit_still_write_the_dep_caches() {
        let t = Tree::new();
        let names = t.quiet_targets(40, &[]);
        let cache = t
            .p(".redo")
            .join(crate::state::depcache::CACHE_DIR)
            .join(crate::state::depcache::CACHE_FILE);
        let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
        ch.leave_memos_to_exit();
        for n in &names {
            assert_eq!(ch.check(&t.t(n)), Verdict::UpToDate);
        }
        assert!(!cache.exists());
        drop(ch);
        assert!(cache.exists());
    }
}
