//! The parallel check of big fan-ins. A target with a large fan-in (an
//! `all` over thousands of targets) is checked faster when its dependencies
//! are checked on all the cores first ([`Checker::check_fan_in`]): each
//! worker runs a checker of its own on the batches of them it takes, seeded
//! with our `visiting` set (so a recorded cycle back to an ancestor is cut
//! as it would be here), and sharing our `.redo/` views, knowledge of absent
//! files and earlier workers' verdicts. What they decided of their shares
//! (verdicts and stats) is then consulted after our own memos, their
//! always-targets are merged into ours, and the decision itself
//! runs as before, in recorded order, now answered from those: verdicts and
//! reasons are those of a plain check. (Only where the tree on disk records
//! a dependency cycle among siblings may the cut fall elsewhere, as with the
//! query applets.) Workers do not split their own work again.
//!
//! For a big fan-in, the workers also compare each path with its record by
//! inode data, as the decision would, and mark those equal and not out of
//! date; the decision passes over the marked records without looking each
//! one up again (an unmarked record is decided as before: by its hash, or
//! as missing or out of date).
//!
//! Near the top of a check (the first three levels), a small fan-in is
//! split too when, two or three levels down, it leads to [`SPLIT_PIECES`]
//! subtrees or more ([`Checker::deepen`]): a tree of directories whose
//! every fan-in is small (an `all` over a few subprojects, each over a few
//! subdirectories) would otherwise be checked on one core.
//!
//! After its share, a worker *parks*: its thread waits with its checker for
//! one job ([`Checker::on_parked`]), or for its parent to go, and ends. Its
//! memos stay in the caches of the CPU that made them (moving the job to
//! another thread was measured slower).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use super::dirview::{DepCaches, Fresh};
use super::{key, Checker, DepState, Key, Verdict};
use crate::fasthash::{FastMap, FastSet};
use crate::state::depview::{DepView, RecordRef};
use crate::state::inode::{Inode, InodeTrust};
use crate::target::Target;

/// A target with this many dependencies is checked on all the cores
/// ([`Checker::check_fan_in`]).
const PARALLEL_FAN_IN: usize = 256;

/// [`Checker::check_many`] splits this many paths among workers: each may
/// be a subtree (the rest of an out-of-date fan-in in a deep tree).
const CHECK_MANY_PARALLEL: usize = 8;

/// Near the top of a tree, a small fan-in is split among the cores when it
/// leads to this many subtrees a few levels down.
const SPLIT_PIECES: usize = 16;

/// Work for a parked worker: its checker and the paths it was given.
type ParkedJob = Box<dyn FnOnce(&mut Checker, &[Target]) + Send>;

/// A worker of the parallel check after its share: its thread waits with
/// its checker for one job sent here, or for this sender to go.
pub(super) struct Parked(Sender<ParkedJob>);

/// A path a parked worker checked: its `stat` and its verdict.
pub(super) struct Decided {
    pub(super) st: Option<Inode>,
    pub(super) verdict: Verdict,
}

/// What the parent needs of a worker: the verdicts and stats of its share
/// (the parent's decision reads nothing deeper), and what it reports or
/// persists. The rest of its memos stay with it, parked.
struct Share {
    decided: FastMap<Key, Decided>,
    fresh: FastMap<Key, Vec<Fresh>>,
    always: Option<Vec<Target>>,
    met_cycle: bool,
}

/// The paths of one parallel check, which workers take a batch at a time
/// rather than a fixed share each: the parts of a tree differ widely in
/// size, and a fixed split left one core idle for up to a sixth of a check.
struct Batches {
    todo: Vec<Target>,
    next: AtomicUsize,
    batch: usize,
    /// For a fan-in's paths, their recorded inode data, by position in
    /// `todo` (empty otherwise); and which of them a worker found as
    /// recorded and not out of date (see [`Checker::check_fan_in`]).
    recorded: Vec<Inode>,
    unchanged: Vec<AtomicBool>,
}

impl Batches {
    /// The next batch, as a range of `todo`; None when all are taken.
    fn take(&self) -> Option<std::ops::Range<usize>> {
        let start = self.next.fetch_add(self.batch, Ordering::Relaxed);
        let range = start..(start + self.batch).min(self.todo.len());
        (!range.is_empty()).then_some(range)
    }
}

/// Deciding which dependencies to check in parallel.
impl Checker {
    /// Check the dependencies of `target` (whose `.dep` is `dep`) on all
    /// the cores first when they are many, or when near the top of a tree
    /// they lead to many subtrees (see the module essay); the decision then
    /// finds their verdicts.
    ///
    /// For a big fan-in, the workers also compare each path with its
    /// record as the decision would: the records they found unchanged and
    /// not out of date are returned (true by record ordinal), and the
    /// decision passes over them without looking each up again.
    pub(super) fn check_fan_in(&mut self, target: &Target, dep: &DepView) -> Vec<bool> {
        let (tdir, base) = (target.dir(), target.base());
        if self.one_thread || dep.len() < 2 {
            return Vec::new();
        }
        // Near the top of a tree whose fan-ins are each small (a deep tree
        // of directories), split too if a few levels down there are
        // subtrees enough to share.
        let small_fan_in = dep.len() < PARALLEL_FAN_IN;
        if small_fan_in && self.visiting.len() > 3 {
            return Vec::new();
        }
        let mut ordinals = Vec::new();
        let mut recorded = Vec::new();
        let mut todo = Vec::new();
        for (i, r) in dep.records().enumerate() {
            let RecordRef::Ifchange { path, inode, .. } = r else {
                continue;
            };
            if path.as_os_str() == base {
                continue;
            }
            let p = Target::join(tdir, path);
            if self.verdict(&p).is_none() {
                ordinals.push(i);
                recorded.push(inode);
                todo.push(p);
            }
        }
        // In a tree, split only among subtrees: the dependencies that are
        // targets themselves (their .dep is in the cache), not the .do file
        // or sources beside a single child.
        if small_fan_in {
            let todo: Vec<Target> = todo
                .into_iter()
                .filter(|p| is_cached_target(&self.dep_caches, p))
                .collect();
            let todo = self.deepen(todo);
            if todo.len() >= SPLIT_PIECES {
                self.check_parallel(todo, Vec::new());
            }
            return Vec::new();
        }
        if let Some(p) = todo.get(todo.len() / 2) {
            self.dep_caches.view(p.dir()).expect_many();
        }
        let Some(done) = self.check_parallel(todo, recorded) else {
            return Vec::new();
        };
        let mut unchanged = vec![false; dep.len()];
        for (&i, u) in ordinals.iter().zip(&done.unchanged) {
            unchanged[i] = u.load(Ordering::Relaxed);
        }
        unchanged
    }

    /// A few big subtrees share badly between cores: the last one runs
    /// alone while the others idle. Replace each subtree of `todo` by its
    /// subtrees (the dependencies that are targets, see `is_cached_target`),
    /// a level or two down, until there are pieces enough; the targets left
    /// out above them are then decided here, from the workers' verdicts.
    /// A subtree whose subtrees are all decided already (by an earlier
    /// split above it) is left out at once: deciding it here is cheap.
    fn deepen(&mut self, mut todo: Vec<Target>) -> Vec<Target> {
        const PIECES: usize = 64;
        for round in 0..3 {
            if todo.len() >= PIECES && round > 0 {
                break;
            }
            let split = todo.len() < PIECES;
            let mut seen: FastSet<Key> = FastSet::default();
            let mut deeper = Vec::new();
            let mut grew = false;
            for p in todo {
                let kids = self.subtrees(&p);
                let open: Vec<Target> = kids
                    .iter()
                    .filter(|k| self.verdict(k).is_none())
                    .cloned()
                    .collect();
                if !kids.is_empty() && open.is_empty() {
                    continue;
                }
                if split && open.len() >= 2 {
                    grew = true;
                    for k in open {
                        if seen.insert(key(&k)) {
                            deeper.push(k);
                        }
                    }
                } else if seen.insert(key(&p)) {
                    deeper.push(p);
                }
            }
            todo = deeper;
            if !grew {
                break;
            }
        }
        todo
    }

    /// The subtrees a check of target `p` would enter: its ifchange
    /// dependencies that are targets. None for a target up to date by the
    /// build id alone, or an always-target: their subtrees are not asked
    /// about. None for a big fan-in either: it is split where it is checked,
    /// without a question about each of its dependencies here.
    fn subtrees(&mut self, p: &Target) -> Vec<Target> {
        match self.dep(p) {
            DepState::Present(d)
                if d.build != self.build && !d.has_always() && d.len() < PARALLEL_FAN_IN =>
            {
                let (dir, base) = (p.dir(), p.base());
                d.records()
                    .filter_map(|r| match r {
                        RecordRef::Ifchange { path, .. } if path.as_os_str() != base => {
                            Some(Target::join(dir, path))
                        }
                        _ => None,
                    })
                    .filter(|k| is_cached_target(&self.dep_caches, k))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Check `paths` (absolute, clean), on all the cores when they are many
    /// (the verdicts of these paths are then the workers', see
    /// [`Checker::on_parked`]).
    pub fn check_many(&mut self, paths: &[Target]) {
        let todo: Vec<Target> = paths
            .iter()
            .filter(|p| self.verdict(p).is_none())
            .cloned()
            .collect();
        if !self.one_thread && todo.len() >= CHECK_MANY_PARALLEL {
            self.check_parallel(todo, Vec::new());
        }
        for p in paths {
            self.check(p);
        }
    }
}

/// Is `p` a target (has it a `.dep`)? From its directory's cache if that
/// is loaded, else by one `stat`: a check that asks about two files (a
/// `redo-ifchange` of one target in a directory of ten thousand) must not
/// load megabytes of cache to learn that they are sources.
fn is_cached_target(caches: &DepCaches, p: &Target) -> bool {
    let v = caches.view(p.dir());
    match v.loaded() {
        Some((c, _)) => c.entry(p.base()).is_some(),
        None => matches!(v.dep_key(p.base()), Ok(Some(_))),
    }
}

/// Running the workers.
impl Checker {
    /// Check `todo` (none decided yet) on one worker per core, each with a
    /// checker of its own, parked afterwards with its memos; with the
    /// `recorded` inode data of each path (or none), say which were
    /// unchanged. None when the paths were left to the caller.
    fn check_parallel(&mut self, todo: Vec<Target>, recorded: Vec<Inode>) -> Option<Arc<Batches>> {
        if todo.len() < 2 {
            return None;
        }
        // available_parallelism reads cgroup files on every call.
        static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let workers = *WORKERS.get_or_init(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8)
        });
        if workers < 2 {
            return None;
        }
        let workers = workers.min(todo.len());
        let each = todo.len().div_ceil(workers);
        let batches = Arc::new(Batches {
            batch: (todo.len() / (workers * 16)).max(1),
            unchanged: recorded.iter().map(|_| AtomicBool::new(false)).collect(),
            recorded,
            todo,
            next: AtomicUsize::new(0),
        });
        let (tx, rx) = channel::<(Share, Parked)>();
        let mut started = 0;
        for _ in 0..workers {
            let (ch, batches, tx) = (self.worker(), batches.clone(), tx.clone());
            // Not scoped: the worker outlives this call, parked with its
            // memos (see `Parked`).
            let spawned = std::thread::Builder::new().spawn(move || work(ch, &batches, each, &tx));
            if spawned.is_ok() {
                started += 1;
            }
        }
        drop(tx);
        // Workers that could not start leave the paths to the others, and
        // if none started, to the decision that follows.
        let shares: Vec<(Share, Parked)> = rx.iter().take(started).collect();
        for (share, parked) in shares {
            self.absorb_share(share);
            self.parked.push(parked);
        }
        Some(batches)
    }

    /// A checker for a worker of ours: it shares our views, listings,
    /// ancestors and workers' verdicts.
    fn worker(&self) -> Checker {
        let mut ch = Checker::new(self.build, self.trust);
        ch.one_thread = true;
        ch.memos_to_exit = self.memos_to_exit;
        ch.dep_caches = self.dep_caches.clone();
        ch.known_absent = self.known_absent.clone();
        ch.visiting = self.visiting.clone();
        ch.worker_decisions = self.worker_decisions.clone();
        ch.collect_always = self.collect_always.is_some().then(Vec::new);
        ch
    }

    /// Take what a worker found of its share.
    fn absorb_share(&mut self, w: Share) {
        self.met_cycle |= w.met_cycle;
        self.worker_decisions.push(Arc::new(w.decided));
        self.absorb_fresh_map(w.fresh);
        if let (Some(mine), Some(mut theirs)) = (self.collect_always.as_mut(), w.always) {
            mine.append(&mut theirs);
        }
    }
}

/// A worker's thread: check batches until none is left, send the parent
/// its share, then park until given a job or let go.
fn work(mut ch: Checker, batches: &Batches, each: usize, tx: &Sender<(Share, Parked)>) {
    // A flat fan-in's part: an entry for each path and one for its source
    // (verdict, stat, .dep). Deeper parts grow the table as they go.
    ch.known.reserve(each * 2);
    let mut decided = FastMap::default();
    decided.reserve(each);
    // The batches this worker checked, for its parked job.
    let mut part = Vec::new();
    while let Some(taken) = batches.take() {
        part.push(taken.clone());
        for i in taken {
            let p = &batches.todo[i];
            // The parent compares the stat with its record.
            let st = ch.stat_recorded(p);
            let v = ch.check_at(p, false);
            if let (Some(rec), Some(now)) = (batches.recorded.get(i), st) {
                let same = ch.trust != InodeTrust::None && now.equals(rec, ch.trust);
                if same && !matches!(v, Verdict::Ood(_)) {
                    batches.unchanged[i].store(true, Ordering::Relaxed);
                }
            }
            decided.insert(key(p), Decided { st, verdict: v });
        }
    }
    let share = Share {
        decided,
        fresh: std::mem::take(&mut ch.fresh),
        always: ch.collect_always.take(),
        met_cycle: ch.met_cycle,
    };
    let (jobs, wait) = channel::<ParkedJob>();
    if tx.send((share, Parked(jobs))).is_ok() {
        if let Ok(job) = wait.recv() {
            let part: Vec<Target> = part
                .into_iter()
                .flat_map(|r| batches.todo[r].iter().cloned())
                .collect();
            job(&mut ch, &part);
        }
    }
    // Dropped here: see `Checker::leave_memos_to_exit`.
}

/// The parked workers.
impl Checker {
    /// Run `job` on the checker of each worker parked by the parallel check,
    /// with the paths it checked, all at once; the results in no particular
    /// order. The workers end after it. For a caller about to walk what the
    /// check examined (the run share's harvest): the workers' memos already
    /// hold every `.dep` and `stat` below those paths, and each walks its
    /// own part on its own core.
    pub fn on_parked<R, F>(&mut self, job: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut Checker, &[Target]) -> R + Send + Sync + 'static,
    {
        let job = Arc::new(job);
        let (tx, rx) = channel();
        let mut sent = 0;
        for Parked(worker) in std::mem::take(&mut self.parked) {
            let (job, tx) = (job.clone(), tx.clone());
            let run: ParkedJob = Box::new(move |ch, part| {
                let _ = tx.send(job(ch, part));
            });
            if worker.send(run).is_ok() {
                sent += 1;
            }
        }
        drop(tx);
        rx.iter().take(sent).collect()
    }

    /// Are workers of an earlier parallel check parked with their memos?
    pub fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Was `path`'s verdict reached by a parked worker (whose memos, not
    /// ours, hold what lies below it)?
    pub fn decided_by_worker(&self, path: &Path) -> bool {
        self.worker_decision(path).is_some()
    }

    /// What a parked worker decided of `path`.
    pub(super) fn worker_decision(&self, path: &Path) -> Option<&Decided> {
        self.worker_decisions
            .iter()
            .find_map(|m| m.get(path.as_os_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ood::Reason;
    use crate::state::inode::InodeTrust;
    use crate::testutil::Tree;
    use std::path::PathBuf;

    #[test]
    fn batches_hand_out_every_path_once() {
        let todo: Vec<Target> = (0..10)
            .map(|i| Target::new(PathBuf::from(format!("/p{i}"))))
            .collect();
        let b = Batches {
            todo: todo.clone(),
            next: AtomicUsize::new(0),
            batch: 3,
            recorded: Vec::new(),
            unchanged: Vec::new(),
        };
        let mut got = Vec::new();
        while let Some(taken) = b.take() {
            assert!(taken.len() <= 3);
            got.extend_from_slice(&b.todo[taken]);
        }
        assert_eq!(got, todo);
        assert!(b.take().is_none());
    }

    #[test]
    fn a_check_of_one_target_in_a_big_directory_leaves_its_cache_unloaded() {
        let t = Tree::new();
        t.write("src", "s");
        let names = t.quiet_targets(1500, &[("ifchange", "src")]);
        let mut all = Checker::new([0; 16], InodeTrust::Ctime);
        for n in &names {
            all.check(&t.t(n));
        }
        drop(all);
        assert!(t.p(".redo/.ferredo/deps").exists());
        let mut one = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(one.check(&t.t("t7")), Verdict::UpToDate);
        assert!(one.dep_caches.view(&t.root()).loaded().is_none());
    }

    #[test]
    fn a_tree_of_small_fan_ins_is_split_and_gets_the_verdicts_of_a_plain_check() {
        // all -> 4 parts -> 4 groups each -> 4 objects each -> a source each:
        // every fan-in is small, but a level down there are 16 groups, and
        // two levels down 64 objects.
        let t = Tree::new();
        let mut parts = Vec::new();
        for p in 0..4 {
            let mut groups = Vec::new();
            for g in 0..4 {
                let mut objs = Vec::new();
                for o in 0..4 {
                    let (src, obj) = (format!("s{p}{g}{o}.c"), format!("o{p}{g}{o}"));
                    t.write(&src, "s");
                    t.target(&obj, "o", &[("ifchange", &src)]);
                    objs.push(obj);
                }
                let records: Vec<(&str, &str)> =
                    objs.iter().map(|d| ("ifchange", d.as_str())).collect();
                t.target(&format!("g{p}{g}"), "g", &records);
                groups.push(format!("g{p}{g}"));
            }
            let records: Vec<(&str, &str)> =
                groups.iter().map(|d| ("ifchange", d.as_str())).collect();
            t.target(&format!("p{p}"), "p", &records);
            parts.push(format!("p{p}"));
        }
        let records: Vec<(&str, &str)> = parts.iter().map(|d| ("ifchange", d.as_str())).collect();
        t.target("all", "all", &records);
        t.write("s231.c", "changed");
        let want = Verdict::Ood(Reason::DepOod(
            t.p("p2"),
            Box::new(Reason::DepOod(
                t.p("g23"),
                Box::new(Reason::DepOod(
                    t.p("o231"),
                    Box::new(Reason::DepSize(t.p("s231.c"))),
                )),
            )),
        ));
        let mut plain = Checker::new([0; 16], InodeTrust::Ctime);
        plain.keep_to_this_thread();
        assert_eq!(plain.check(&t.t("all")), want);
        assert!(!plain.has_parked());
        let mut parallel = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(parallel.check(&t.t("all")), want);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(parallel.has_parked(), cores > 1);
        if cores > 1 {
            // Split two levels down: the workers took the 64 objects.
            assert!(parallel.decided_by_worker(&t.p("o000")));
            assert!(!parallel.decided_by_worker(&t.p("g00")));
        }
    }

    #[test]
    fn a_big_fan_in_of_sources_names_its_first_change_as_a_plain_check() {
        // Workers mark the records they find unchanged, and the decision
        // passes over those: a touched file of the same content, a content
        // change of the same size and a size change must still be seen.
        let t = Tree::new();
        let sources: Vec<String> = (0..PARALLEL_FAN_IN + 40)
            .map(|i| format!("s{i}.c"))
            .collect();
        for s in &sources {
            t.write(s, "s");
        }
        let records: Vec<(&str, &str)> = sources.iter().map(|s| ("ifchange", s.as_str())).collect();
        t.target("all", "all", &records);
        let check = |threads: bool| {
            let mut ch = Checker::new([0; 16], InodeTrust::Ctime);
            if !threads {
                ch.keep_to_this_thread();
            }
            ch.check(&t.t("all"))
        };
        assert_eq!(check(false), Verdict::UpToDate);
        assert_eq!(check(true), Verdict::UpToDate);
        std::thread::sleep(std::time::Duration::from_millis(20));
        t.write("s100.c", "s");
        assert_eq!(check(true), Verdict::UpToDate, "touched, same content");
        t.write("s250.c", "longer");
        t.write("s200.c", "t");
        let want = Verdict::Ood(Reason::DepHash(t.p("s200.c")));
        assert_eq!(check(false), want);
        assert_eq!(check(true), want);
    }

    #[test]
    fn a_big_fan_in_gets_the_verdicts_of_a_plain_check() {
        let t = Tree::new();
        let mut deps = Vec::new();
        for i in 0..PARALLEL_FAN_IN + 10 {
            t.write(&format!("s{i}.c"), "s");
            t.target(&format!("o{i}"), "o", &[("ifchange", &format!("s{i}.c"))]);
            deps.push(format!("o{i}"));
        }
        let records: Vec<(&str, &str)> = deps.iter().map(|d| ("ifchange", d.as_str())).collect();
        t.target("all", "all", &records);
        let changed = PARALLEL_FAN_IN / 2;
        t.write(&format!("s{changed}.c"), "changed");
        let want = Verdict::Ood(Reason::DepOod(
            t.p(&format!("o{changed}")),
            Box::new(Reason::DepSize(t.p(&format!("s{changed}.c")))),
        ));
        let mut plain = Checker::new([0; 16], InodeTrust::Ctime);
        plain.keep_to_this_thread();
        assert_eq!(plain.check(&t.t("all")), want);
        let mut parallel = Checker::new([0; 16], InodeTrust::Ctime);
        assert_eq!(parallel.check(&t.t("all")), want);
        // On a machine of one core there are no workers to ask.
        if parallel.has_parked() {
            assert!(parallel.decided_by_worker(&t.p("o0")));
            let checked: usize = parallel.on_parked(|_, part| part.len()).iter().sum();
            assert_eq!(checked, PARALLEL_FAN_IN + 10);
        }
    }
}
