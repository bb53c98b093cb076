//! Running jobs within the job slots.
//!
//! One loop owns every slot: the implicit one (free when none of our jobs
//! uses it) and the tokens read from the jobserver. Slots are
//! interchangeable: when the implicit one comes free while a job holds a
//! token, that job takes the implicit slot and the token goes back to the
//! pipe at once (as make returns one whenever a child ends). It hands a target to a
//! job thread when it holds a slot for it (threads are reused: at most one
//! per concurrently running job is ever created), and otherwise sleeps in one poll
//! over the jobserver and the wake pipe (a job gave its slot back, a job
//! finished, or a signal arrived). A job returns its slot as soon as its .do
//! has exited, or earlier when it only waits for another process's lock.
//!
//! What a job does after its `.do` has exited (the commit) needs no slot: the
//! runner hands it back as a [`Step::Finish`]. The thread that saw the `.do`
//! exit then hands its slot straight to the next job waiting, if any (it
//! tells the loop, which keeps the books), starts that job itself, and runs
//! the rest of the first as soon as the new `.do` has started, while it
//! runs. So the path from one `.do`'s exit to the next one's start wakes no
//! sleeping thread (tens of microseconds each on a VM) and holds no commit.
//! The thread reports the first job's end itself, and wakes the loop only
//! when the loop has something to do (a failure, a slot to take back): a
//! run of jobs handed on one to the next wakes it once, at the end.
//! With nothing waiting, once the build stops, or when the rest is heavy (a
//! big output to hash, which would hold up the next job's end on this
//! thread), the slot goes back to the loop and the rest runs at once.
//!
//! The loop does not run jobs itself: a [`Runner`] does (ninja's
//! `CommandRunner`). The real one is [`Jobs`] ([`job::run`]); the unit tests
//! (`schedule_tests.rs`) put a fake there and check the token accounting
//! against a real jobserver pipe.
//!
//! A job that gave its slot back to wait for another process comes back as
//! [`Outcome::Retry`]: it is queued again, ahead of the targets not yet
//! started, and decides afresh when it runs.
//!
//! When every running job waits for another process and nothing can start,
//! the free implicit slot is lent to the pool for the wait (see [`Books`] and
//! the jobserver essay's "The implicit slot, lent").
//!
//! Invariants: never more jobs running than slots held (a slot handed on
//! moves from a job whose `.do` has exited to one not started); every token
//! read is written back (same byte) before this function returns, on every
//! path, but the one that takes a lent implicit slot back; while the implicit
//! slot is free or lent no job holds a token; after a failure or a signal no
//! new job starts, and the running ones are awaited.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use super::commit::Built;
use super::job::{self, JobInfo, JobSpec, Outcome};
use super::Shared;
use crate::error::{Error, Result};
use crate::jobserver::{Acquired, Jobserver, Token};
use crate::report::{Event, Reporter};
use crate::sys::signals;
use crate::target::Target;

/// How a job ended.
type JobResult = std::result::Result<Outcome, crate::error::JobError>;

/// What is left of a job once its `.do` has exited: its commit.
pub type Rest<'r> = Box<dyn FnOnce() -> JobResult + Send + 'r>;

/// How a job's run ended.
pub enum Step<'r> {
    /// The job is over.
    Done(JobResult),
    /// The `.do` exited with success, and what is left (the commit) needs no
    /// slot: the job thread passes the slot on or gives it back, and runs
    /// `rest`. `heavy`: the rest has much to do (a big output to hash), and
    /// the slot goes back at once rather than to a job that would wait for
    /// it on this thread.
    Finish { rest: Rest<'r>, heavy: bool },
}

/// What the slot loop asks of a job, whatever runs it.
pub trait Runner: Sync {
    /// Run one job; call `release_slot` as soon as the job no longer needs
    /// its slot (later calls do nothing), and `started` once its `.do` runs
    /// (the thread may do other work before it waits for it). The slot is
    /// given back when this returns at the latest.
    fn run<'r>(
        &'r self,
        spec: &JobSpec,
        release_slot: &mut dyn FnMut(),
        started: &mut dyn FnMut(),
        info: &mut JobInfo,
    ) -> Step<'r>;
}

/// The real jobs: [`job::run`] with what every job of the invocation shares,
/// the children's environment built once for all of them.
pub struct Jobs<'s, 'a> {
    sh: &'s Shared<'a>,
    base: job::ChildBase,
}

impl<'s, 'a> Jobs<'s, 'a> {
    pub fn new(sh: &'s Shared<'a>) -> Jobs<'s, 'a> {
        Jobs {
            sh,
            base: job::ChildBase::new(sh),
        }
    }
}

impl Runner for Jobs<'_, '_> {
    fn run<'r>(
        &'r self,
        spec: &JobSpec,
        release_slot: &mut dyn FnMut(),
        started: &mut dyn FnMut(),
        info: &mut JobInfo,
    ) -> Step<'r> {
        job::run(self.sh, &self.base, spec, release_slot, started, info)
    }
}

enum Slot {
    Implicit,
    Token(Token),
}

enum Msg {
    /// The job's `.do` has exited: its slot is free.
    SlotFree(usize),
    /// The job gave its slot back to wait for another process.
    Waits(usize),
    /// The slot of the first job (its `.do` has exited) went to the
    /// second, started on the same thread (which reported it).
    Handoff(usize, usize),
    /// The job is over (its `Finished` is reported already).
    Done(usize, JobResult),
}

fn poll_wake() {
    let mut p = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&signals::wake_fd()),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and the wake pipe lives for the process;
    // an error (EINTR) only means the loop looks again.
    unsafe { libc::poll(&mut p, 1, -1) };
    signals::drain();
}

struct Work {
    idx: usize,
    spec: JobSpec,
}

/// The rest of a job whose `.do` has exited, and what its `Done` reports.
struct Carried<'r> {
    idx: usize,
    started: Instant,
    info: JobInfo,
    rest: Rest<'r>,
    /// Its slot went to the next job (which ends later, and wakes the loop).
    handed_on: bool,
}

/// What is left to start: jobs to run again after a wait (with when they
/// became ready again) first, then the targets not started.
struct Queue {
    retries: VecDeque<(usize, Instant)>,
    /// The first target not yet started.
    next: usize,
    len: usize,
    /// When the targets not yet started became ready: the loop's start.
    ready: Instant,
}

impl Queue {
    fn pending(&self) -> bool {
        self.next < self.len || !self.retries.is_empty()
    }

    /// The job to start next, whether it is a retry after a wait, and
    /// since when it was ready.
    fn pick(&mut self) -> Option<(usize, bool, Instant)> {
        match self.retries.pop_front() {
            Some((i, ready)) => Some((i, true, ready)),
            None if self.next < self.len => {
                self.next += 1;
                Some((self.next - 1, false, self.ready))
            }
            None => None,
        }
    }
}

/// What the job threads share with the loop.
struct Crew<'c> {
    /// Jobs the loop starts (None: stop).
    work: &'c Mutex<mpsc::Receiver<Option<Work>>>,
    queue: &'c Mutex<Queue>,
    /// A job failed, or the build stops: no slot is handed on.
    stop: &'c AtomicBool,
    targets: &'c [Target],
    /// By target index: the job's slot is a jobserver token (else the
    /// implicit slot). Kept by the loop's books; a job thread that hands its
    /// slot on copies it for the job it starts, before the loop hears of it.
    on_token: &'c [AtomicBool],
    reporter: &'c dyn Reporter,
    force: bool,
    trace: bool,
    sequential: bool,
}

impl Crew<'_> {
    fn spec(&self, idx: usize, waited: bool) -> JobSpec {
        JobSpec {
            target: self.targets[idx].clone(),
            force: self.force,
            trace: self.trace,
            waited,
        }
    }

    /// The next job waiting, for the slot of `from` (whose `.do` has
    /// exited); the loop is told. None when nothing waits or the build
    /// stops.
    fn hand_on(&self, from: usize, tx: &mpsc::Sender<Msg>) -> Option<Work> {
        if self.sequential || self.stop.load(Ordering::SeqCst) || signals::requested().is_some() {
            return None;
        }
        let (idx, waited, ready) = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pick()?;
        let token = self.on_token[from].load(Ordering::SeqCst);
        self.on_token[idx].store(token, Ordering::SeqCst);
        let _ = tx.send(Msg::Handoff(from, idx));
        // As the loop reports a slot given back and one taken.
        self.reporter.emit(Event::SlotFreed {
            target: &self.targets[from],
        });
        self.reporter.emit(Event::Slot {
            target: &self.targets[idx],
            waited: ready.elapsed(),
            token,
        });
        Some(Work {
            idx,
            spec: self.spec(idx, waited),
        })
    }

    /// Run a job's rest and report it.
    fn finish(&self, r: Carried, tx: &mpsc::Sender<Msg>) {
        let res = (r.rest)();
        self.done(r.idx, res, r.started, r.info, r.handed_on, tx);
    }

    /// Report a job's end, here on its thread, and tell the loop. The loop
    /// is woken only when it has something to do: a failure, or a job whose
    /// slot it must take back. After a slot was handed on, the job it went to
    /// is counted as running until its own end, which wakes the loop in turn
    /// at the end of the chain: so a sequence of jobs handed on from one to
    /// the next wakes no sleeping thread but its own.
    fn done(
        &self,
        idx: usize,
        res: JobResult,
        started: Instant,
        info: JobInfo,
        handed_on: bool,
        tx: &mpsc::Sender<Msg>,
    ) {
        if res.is_err() {
            // Before the loop hears of it: no slot is handed on after.
            self.stop.store(true, Ordering::SeqCst);
        }
        // A job built or failed is reported; one found done or waiting is not.
        let error = match &res {
            Ok(Outcome::Built(_)) => Some(None),
            Ok(_) => None,
            Err(e) => Some(Some(e)),
        };
        if let Some(error) = error {
            self.reporter.emit(Event::Finished {
                target: &self.targets[idx],
                default_do: info.default_do.as_deref(),
                elapsed: info.ran.then(|| started.elapsed()),
                error,
            });
        }
        let wake = res.is_err() || !handed_on;
        let _ = tx.send(Msg::Done(idx, res));
        if wake {
            signals::wake();
        }
    }
}

/// A job thread: runs jobs one after another until told to stop, so that a
/// long build does not pay a thread creation (stack mmap, page faults) per
/// target.
fn worker<'r>(runner: &'r dyn Runner, crew: &Crew, tx: &mpsc::Sender<Msg>) {
    let mut handed: Option<Work> = None;
    let mut carried: Option<Carried<'r>> = None;
    loop {
        let work = match handed.take() {
            Some(w) => w,
            None => {
                if let Some(r) = carried.take() {
                    crew.finish(r, tx);
                }
                let rx = crew.work.lock().unwrap_or_else(|e| e.into_inner());
                match rx.recv() {
                    Ok(Some(w)) => w,
                    _ => return,
                }
            }
        };
        (carried, handed) = run_one(runner, crew, tx, work, carried.take());
    }
}

/// One job up to the end of its `.do`, with `carried` (another job's rest)
/// run once this one's `.do` has started or it gives its slot back, or
/// before returning at the latest. Returns this job's rest, and the job its
/// slot went to.
fn run_one<'r>(
    runner: &'r dyn Runner,
    crew: &Crew,
    tx: &mpsc::Sender<Msg>,
    Work { idx, spec }: Work,
    carried: Option<Carried<'r>>,
) -> (Option<Carried<'r>>, Option<Work>) {
    let freed = std::cell::Cell::new(false);
    // Reported here, before the loop can pass the slot to anyone: whoever
    // takes it next is seen taking it later.
    let report_freed = || {
        crew.reporter.emit(Event::SlotFreed {
            target: &crew.targets[idx],
        });
    };
    let free_for = |msg: Msg| {
        if !freed.replace(true) {
            report_freed();
            let _ = tx.send(msg);
            signals::wake();
        }
    };
    let free = || free_for(Msg::SlotFree(idx));
    let started = Instant::now();
    let mut info = JobInfo::default();
    // The carried rest holds its target's lock: it runs before this job can
    // wait for anything (another process's lock, after giving the slot back),
    // which might wait for that lock in turn.
    let carried = std::cell::RefCell::new(carried);
    let run_carried = || {
        if let Some(r) = carried.borrow_mut().take() {
            crew.finish(r, tx);
        }
    };
    let step = runner.run(
        &spec,
        &mut || {
            free_for(Msg::Waits(idx));
            run_carried();
        },
        &mut || run_carried(),
        &mut info,
    );
    run_carried();
    match step {
        // A slot still held is given back by the Done itself: a failure is
        // counted before its slot can start another job, and a job pays one
        // message and one wake-up, not two.
        Step::Done(res) => {
            if !freed.get() {
                report_freed();
            }
            crew.done(idx, res, started, info, false, tx);
            (None, None)
        }
        Step::Finish { rest, heavy } => {
            let next = if freed.get() || heavy {
                None
            } else {
                crew.hand_on(idx, tx)
            };
            if next.is_none() {
                free();
            }
            let rest = Carried {
                idx,
                started,
                info,
                rest,
                handed_on: next.is_some(),
            };
            (Some(rest), next)
        }
    }
}

/// The loop's books: which job holds which slot.
///
/// Slots are interchangeable, as make's are: when the job on the implicit
/// slot gives it back while another job holds a token, that job moves onto
/// the implicit slot and its token goes back to the pipe at once, for any
/// process of the build (make's `free_child` returns a token whenever a
/// child ends while others run). Otherwise a nested redo whose short job
/// held the implicit slot would keep a token idle until its long one ended.
///
/// The implicit slot is lent to the pool when it is free, nothing here can
/// start, and a job waits for another process (goredo hands its parent's
/// token back for the same reason): otherwise the slot the parent spent on
/// this `.do` would idle through the wait. The first token read after that
/// is the slot coming back ([`Jobserver::take_back_implicit`]), and it is
/// taken back before the loop returns at the latest. So while the slot is
/// lent, no job of ours holds a slot, and the invariants below hold with
/// "lent" read as "held by another process".
struct Books<'t> {
    /// The slot each running job holds, by target index (None once given back).
    slots: Vec<Option<Slot>>,
    /// Whether that slot is a token, for the job threads ([`Crew::on_token`]).
    on_token: &'t [AtomicBool],
    /// The running jobs holding a token (at most the slots less one).
    token_holders: Vec<usize>,
    /// The running jobs that gave their slot back to wait for another process.
    waiting: Vec<usize>,
    implicit_free: bool,
    /// The implicit slot is lent to the pool.
    lent: bool,
    running: usize,
    failures: usize,
    /// What each target's build by this process left, by target index.
    built: Vec<Option<Built>>,
}

impl<'t> Books<'t> {
    fn new(on_token: &'t [AtomicBool]) -> Books<'t> {
        let n = on_token.len();
        Books {
            slots: (0..n).map(|_| None).collect(),
            on_token,
            token_holders: Vec::new(),
            waiting: Vec::new(),
            implicit_free: true,
            lent: false,
            running: 0,
            failures: 0,
            built: vec![None; n],
        }
    }

    /// Job `i` holds `slot` now.
    fn assign(&mut self, i: usize, slot: Slot) {
        let token = matches!(slot, Slot::Token(_));
        if token {
            self.token_holders.push(i);
        }
        self.on_token[i].store(token, Ordering::SeqCst);
        self.slots[i] = Some(slot);
    }

    /// A slot no job holds, back to where it came from; the implicit one
    /// goes to a job holding a token instead, and that token back.
    fn release(&mut self, slot: Slot, js: &Jobserver) {
        match slot {
            Slot::Implicit => match self.token_holders.pop() {
                Some(k) => {
                    self.on_token[k].store(false, Ordering::SeqCst);
                    if let Some(Slot::Token(t)) = self.slots[k].replace(Slot::Implicit) {
                        js.release(t);
                    }
                }
                None => self.implicit_free = true,
            },
            Slot::Token(t) => js.release(t),
        }
    }

    /// Job `i` no longer needs its slot (its thread reported `SlotFreed`).
    fn give_back(&mut self, i: usize, js: &Jobserver) {
        self.token_holders.retain(|&k| k != i);
        if let Some(slot) = self.slots[i].take() {
            self.release(slot, js);
        }
    }

    /// The slot of `from` moved to `to`, started on the same thread.
    fn hand_on(&mut self, from: usize, to: usize) {
        // The thread copied the flag when it handed on; the books may have
        // moved `from` onto the implicit slot since.
        let token = self.on_token[from].load(Ordering::SeqCst);
        self.on_token[to].store(token, Ordering::SeqCst);
        self.slots[to] = self.slots[from].take();
        for k in &mut self.token_holders {
            if *k == from {
                *k = to;
            }
        }
        self.running += 1;
    }

    /// Account for one message from a job thread; a retry goes to `queue`.
    fn settle(&mut self, m: Msg, js: &Jobserver, queue: &Mutex<Queue>) {
        let (i, res) = match m {
            Msg::SlotFree(i) => return self.give_back(i, js),
            Msg::Waits(i) => {
                self.waiting.push(i);
                return self.give_back(i, js);
            }
            Msg::Handoff(from, to) => return self.hand_on(from, to),
            Msg::Done(i, res) => (i, res),
        };
        self.running -= 1;
        self.waiting.retain(|&k| k != i);
        self.give_back(i, js);
        match res {
            Ok(Outcome::Retry) => queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retries
                .push_back((i, Instant::now())),
            Ok(Outcome::Built(b)) => self.built[i] = Some(b),
            Ok(_) => {}
            Err(_) => self.failures += 1,
        }
    }

    /// A slot for the next job: the implicit one if free, else a token. None
    /// when the wait for a token ended without one (the wake pipe, or the
    /// jobserver broke): the loop looks at its messages again.
    fn take_slot(&mut self, js: &Jobserver) -> Option<Slot> {
        if self.implicit_free {
            self.implicit_free = false;
            return Some(Slot::Implicit);
        }
        let token = match read_token(js, true) {
            Ok(t) => t,
            Err(NoToken::Woken) => {
                signals::drain();
                return None;
            }
            Err(NoToken::Failed) => {
                poll_wake();
                return None;
            }
        };
        if self.lent {
            self.lent = false;
            js.take_back_implicit(token);
            return Some(Slot::Implicit);
        }
        Some(Slot::Token(token))
    }

    /// Lend the free implicit slot while every job here waits for another
    /// process (see the type's comment); the caller has nothing to start.
    fn lend_if_idle(&mut self, js: &Jobserver) {
        if self.implicit_free && !self.waiting.is_empty() && js.lend_implicit() {
            self.implicit_free = false;
            self.lent = true;
        }
    }

    /// Take a lent implicit slot back before the loop returns: a token read
    /// stands for it. A signal or a broken jobserver ends the wait without
    /// one (the build is stopping, or the pool is gone).
    fn take_back(&mut self, js: &Jobserver) {
        while self.lent {
            // Stopping (a signal, a broken jobserver): only a token there now.
            let stopping = js.is_broken() || signals::requested().is_some();
            let token = match read_token(js, !stopping) {
                Ok(t) => t,
                // A wake-up or a signal: look again.
                Err(NoToken::Woken) if !stopping => {
                    signals::drain();
                    continue;
                }
                Err(_) => return,
            };
            self.lent = false;
            js.take_back_implicit(token);
        }
    }
}

/// Why [`read_token`] came back without a token.
enum NoToken {
    /// None there (and `wait` was false), or the wake pipe or a signal
    /// ended the wait.
    Woken,
    /// The wait failed, or the jobserver broke.
    Failed,
}

/// A token from the jobserver: one there now, or with `wait`, the next one
/// until the wake pipe says something else happened.
fn read_token(js: &Jobserver, wait: bool) -> std::result::Result<Token, NoToken> {
    match js.try_acquire() {
        Ok(Some(t)) => return Ok(t),
        Ok(None) if wait => {}
        Ok(None) => return Err(NoToken::Woken),
        Err(_) if !wait => return Err(NoToken::Failed),
        Err(_) => {}
    }
    match js.acquire(signals::wake_fd()) {
        Ok(Acquired::Token(t)) => Ok(t),
        Ok(Acquired::Interrupted) => Err(NoToken::Woken),
        Err(_) => Err(NoToken::Failed),
    }
}

/// How [`run`] ended.
pub struct RunEnd {
    /// What each target's build by this process left, in the order of the
    /// targets (None: not built here, or failed).
    pub built: Vec<Option<Built>>,
    pub result: Result<()>,
}

/// Build `targets` with `runner`, one job per slot held; `reporter` gets a
/// `Finished` event per job built or failed and the jobserver's warnings.
pub fn run(
    runner: &dyn Runner,
    reporter: &dyn Reporter,
    js: &Jobserver,
    targets: &[Target],
    force: bool,
    sequential: bool,
    trace: bool,
) -> RunEnd {
    if targets.is_empty() {
        return RunEnd {
            built: Vec::new(),
            result: Ok(()),
        };
    }
    let (work_tx, work_rx) = mpsc::channel::<Option<Work>>();
    let work_rx = Mutex::new(work_rx);
    let queue = Mutex::new(Queue {
        retries: VecDeque::new(),
        next: 0,
        len: targets.len(),
        ready: Instant::now(),
    });
    let stop = AtomicBool::new(false);
    let on_token: Vec<AtomicBool> = targets.iter().map(|_| AtomicBool::new(false)).collect();
    let crew = Crew {
        work: &work_rx,
        queue: &queue,
        stop: &stop,
        targets,
        on_token: &on_token,
        reporter,
        force,
        trace,
        sequential,
    };
    let lock_queue = || queue.lock().unwrap_or_else(|e| e.into_inner());
    let (failures, built) = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut books = Books::new(&on_token);
        let mut forwarded = false;
        let mut workers = 0usize;
        loop {
            while let Ok(m) = rx.try_recv() {
                books.settle(m, js, &queue);
            }
            for w in js.take_warnings() {
                reporter.emit(Event::Warning(&w.0));
            }
            if let Some(sig) = signals::requested() {
                if !forwarded {
                    forwarded = true;
                    signals::forward(sig);
                }
            }
            let stopping = signals::requested().is_some() || books.failures > 0;
            if stopping {
                stop.store(true, Ordering::SeqCst);
            }
            let pending = lock_queue().pending();
            let can_start = pending && !stopping && !(sequential && books.running > 0);
            if !can_start {
                if books.running == 0 {
                    books.take_back(js);
                    // Let the idle workers go: the scope joins them.
                    for _ in 0..workers {
                        let _ = work_tx.send(None);
                    }
                    break (books.failures, books.built);
                }
                if !stopping {
                    books.lend_if_idle(js);
                }
                poll_wake();
                continue;
            }
            let Some(slot) = books.take_slot(js) else {
                continue;
            };
            // A job thread may have handed its slot to the last job while
            // we waited for this one.
            let Some((idx, waited, ready)) = lock_queue().pick() else {
                books.release(slot, js);
                continue;
            };
            reporter.emit(Event::Slot {
                target: &targets[idx],
                waited: ready.elapsed(),
                token: matches!(slot, Slot::Token(_)),
            });
            books.assign(idx, slot);
            books.running += 1;
            // Every worker is either running a job or waiting for one, and a
            // worker finishes its job before its Done is counted: so workers
            // beyond `running` are (or will soon be) idle and take the job.
            if workers < books.running {
                workers += 1;
                let tx = tx.clone();
                let crew = &crew;
                scope.spawn(move || worker(runner, crew, &tx));
            }
            let _ = work_tx.send(Some(Work {
                idx,
                spec: crew.spec(idx, waited),
            }));
        }
    });
    let result = if let Some(sig) = signals::requested() {
        Err(Error::Interrupted(sig))
    } else if failures > 0 {
        Err(Error::BuildFailed(format!("{failures} target(s) failed")))
    } else {
        Ok(())
    };
    RunEnd { built, result }
}
