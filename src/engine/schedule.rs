//! Running jobs within the job slots.
//!
//! One loop owns every slot: the implicit one (free when none of our jobs
//! uses it) and the tokens read from the jobserver. It hands a target to a
//! job thread when it holds a slot for it (threads are reused: at most one
//! per concurrently running job is ever created), and otherwise sleeps in one poll
//! over the jobserver and the wake pipe (a job gave its slot back, a job
//! finished, or a signal arrived). A job returns its slot as soon as its .do
//! has exited, or earlier when it only waits for another process's lock;
//! when it was the only job running, its thread then yields the CPU, so that
//! the loop starts the next job before this one commits.
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
//! Invariants: never more jobs running than slots held; every token read is
//! written back (same byte) before this function returns, on every path;
//! after a failure or a signal no new job starts, and the running ones are
//! awaited.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::job::{self, JobInfo, JobSpec, Outcome};
use super::Shared;
use crate::error::{Error, Result};
use crate::jobserver::{Acquired, Jobserver, Token};
use crate::report::{Event, Reporter};
use crate::sys::signals;
use crate::target::Target;

/// What the slot loop asks of a job, whatever runs it.
pub trait Runner: Sync {
    /// Run one job; call `release_slot` as soon as the job no longer needs
    /// its slot (later calls do nothing). The slot is given back when this
    /// returns at the latest.
    fn run(
        &self,
        spec: &JobSpec,
        release_slot: &mut dyn FnMut(),
        info: &mut JobInfo,
    ) -> std::result::Result<Outcome, crate::error::JobError>;
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
    fn run(
        &self,
        spec: &JobSpec,
        release_slot: &mut dyn FnMut(),
        info: &mut JobInfo,
    ) -> std::result::Result<Outcome, crate::error::JobError> {
        job::run(self.sh, &self.base, spec, release_slot, info)
    }
}

enum Slot {
    Implicit,
    Token(Token),
}

enum Msg {
    SlotFree(usize),
    Done(
        usize,
        std::result::Result<Outcome, crate::error::JobError>,
        Duration,
        JobInfo,
    ),
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

/// The job threads' channels to the loop, and how many of them are running
/// a job.
struct Crew<'c> {
    work: &'c Mutex<mpsc::Receiver<Option<Work>>>,
    busy: &'c AtomicUsize,
}

/// A job thread: runs jobs one after another until told to stop, so that a
/// long build does not pay a thread creation (stack mmap, page faults) per
/// target.
fn worker(runner: &dyn Runner, crew: &Crew, tx: &mpsc::Sender<Msg>) {
    let Crew { work, busy } = crew;
    loop {
        let next = {
            let rx = work.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        };
        let Ok(Some(Work { idx, spec })) = next else {
            return;
        };
        let mut freed = false;
        let mut free = || {
            if !freed {
                freed = true;
                let _ = tx.send(Msg::SlotFree(idx));
                signals::wake();
                // With no other job of ours running, the next job's start is
                // all that matters, and the wake-up most likely queued the
                // loop on this CPU, behind this thread: step aside so that
                // it starts the next job before this one commits. (-j1 full
                // build of 1000 trivial targets on tmpfs: 1.27-1.30x the
                // spawn floor before, 1.23-1.26x after; with other jobs
                // running the CPUs are busy anyway, and a yield measured
                // 1.5% slower at -j2.)
                if busy.load(Ordering::Relaxed) == 1 {
                    std::thread::yield_now();
                }
            }
        };
        let started = Instant::now();
        let mut info = JobInfo::default();
        busy.fetch_add(1, Ordering::Relaxed);
        let res = runner.run(&spec, &mut free, &mut info);
        busy.fetch_sub(1, Ordering::Relaxed);
        // A slot still held is given back by the Done itself: a failure is
        // counted before its slot can start another job, and a job pays one
        // message and one wake-up, not two.
        let _ = tx.send(Msg::Done(idx, res, started.elapsed(), info));
        signals::wake();
    }
}

/// The loop's books: which job holds which slot, and what is left to start.
struct Books {
    /// The slot each running job holds, by target index (None once given back).
    slots: Vec<Option<Slot>>,
    /// Jobs to run again after a wait (by index, with when they became
    /// ready again), before `next`.
    retries: VecDeque<(usize, Instant)>,
    /// When the targets not yet started became ready: the loop's start.
    ready: Instant,
    implicit_free: bool,
    running: usize,
    /// The first target not yet started.
    next: usize,
    failures: usize,
}

impl Books {
    fn new(n: usize) -> Books {
        Books {
            slots: (0..n).map(|_| None).collect(),
            retries: VecDeque::new(),
            ready: Instant::now(),
            implicit_free: true,
            running: 0,
            next: 0,
            failures: 0,
        }
    }

    fn give_back(&mut self, i: usize, js: &Jobserver, reporter: &dyn Reporter, targets: &[Target]) {
        let slot = self.slots[i].take();
        if slot.is_some() {
            // Before the token is back: whoever takes it next sees it later.
            reporter.emit(Event::SlotFreed {
                target: &targets[i],
            });
        }
        match slot {
            Some(Slot::Implicit) => self.implicit_free = true,
            Some(Slot::Token(t)) => js.release(t),
            None => {}
        }
    }

    /// Account for one message from a job thread.
    fn settle(&mut self, m: Msg, js: &Jobserver, reporter: &dyn Reporter, targets: &[Target]) {
        let (i, res, elapsed, info) = match m {
            Msg::SlotFree(i) => return self.give_back(i, js, reporter, targets),
            Msg::Done(i, res, elapsed, info) => (i, res, elapsed, info),
        };
        let elapsed = info.ran.then_some(elapsed);
        self.running -= 1;
        self.give_back(i, js, reporter, targets);
        let target = &targets[i];
        match res {
            Ok(Outcome::Retry) => self.retries.push_back((i, Instant::now())),
            Ok(Outcome::Built(_)) => reporter.emit(Event::Finished {
                target,
                default_do: info.default_do.as_deref(),
                elapsed,
                error: None,
            }),
            Ok(_) => {}
            Err(e) => {
                self.failures += 1;
                reporter.emit(Event::Finished {
                    target,
                    default_do: info.default_do.as_deref(),
                    elapsed,
                    error: Some(&e),
                });
            }
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
        match js.try_acquire() {
            Ok(Some(t)) => Some(Slot::Token(t)),
            _ => match js.acquire(signals::wake_fd()) {
                Ok(Acquired::Token(t)) => Some(Slot::Token(t)),
                Ok(Acquired::Interrupted) => {
                    signals::drain();
                    None
                }
                Err(_) => {
                    poll_wake();
                    None
                }
            },
        }
    }

    /// The job to start next, whether it is a retry after a wait, and
    /// since when it was ready.
    fn pick(&mut self) -> (usize, bool, Instant) {
        match self.retries.pop_front() {
            Some((i, ready)) => (i, true, ready),
            None => {
                self.next += 1;
                (self.next - 1, false, self.ready)
            }
        }
    }
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
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let (work_tx, work_rx) = mpsc::channel::<Option<Work>>();
    let work_rx = Mutex::new(work_rx);
    let busy = AtomicUsize::new(0);
    let crew = Crew {
        work: &work_rx,
        busy: &busy,
    };
    let failures = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut books = Books::new(targets.len());
        let mut forwarded = false;
        let mut workers = 0usize;
        loop {
            while let Ok(m) = rx.try_recv() {
                books.settle(m, js, reporter, targets);
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
            let pending = books.next < targets.len() || !books.retries.is_empty();
            let can_start = pending && !stopping && !(sequential && books.running > 0);
            if !can_start {
                if books.running == 0 {
                    // Let the idle workers go: the scope joins them.
                    for _ in 0..workers {
                        let _ = work_tx.send(None);
                    }
                    break books.failures;
                }
                poll_wake();
                continue;
            }
            let Some(slot) = books.take_slot(js) else {
                continue;
            };
            let (idx, waited, ready) = books.pick();
            reporter.emit(Event::Slot {
                target: &targets[idx],
                waited: ready.elapsed(),
                token: matches!(slot, Slot::Token(_)),
            });
            books.slots[idx] = Some(slot);
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
            let spec = JobSpec {
                target: targets[idx].clone(),
                force,
                trace,
                waited,
            };
            let _ = work_tx.send(Some(Work { idx, spec }));
        }
    });
    if let Some(sig) = signals::requested() {
        return Err(Error::Interrupted(sig));
    }
    if failures > 0 {
        return Err(Error::BuildFailed(format!("{failures} target(s) failed")));
    }
    Ok(())
}
