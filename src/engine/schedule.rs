//! Running jobs within the job slots.
//!
//! One loop owns every slot: the implicit one (free when none of our jobs
//! uses it) and the tokens read from the jobserver. It hands a target to a
//! job thread when it holds a slot for it (threads are reused: at most one
//! per concurrently running job is ever created), and otherwise sleeps in one poll
//! over the jobserver and the wake pipe (a job gave its slot back, a job
//! finished, or a signal arrived). A job returns its slot as soon as its .do
//! has exited, or earlier when it only waits for another process's lock.
//!
//! A job that gave its slot back to wait for another process comes back as
//! [`Outcome::Retry`]: it is queued again, ahead of the targets not yet
//! started, and decides afresh when it runs.
//!
//! Invariants: never more jobs running than slots held; every token read is
//! written back (same byte) before this function returns, on every path;
//! after a failure or a signal no new job starts, and the running ones are
//! awaited.

use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::job::{self, JobInfo, JobSpec, Outcome};
use super::{signals, Shared};
use crate::error::{Error, Result};
use crate::jobserver::{Acquired, Jobserver, Token};
use crate::report::Event;

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
    unsafe { libc::poll(&mut p, 1, -1) };
    signals::drain();
}

struct Work {
    idx: usize,
    spec: JobSpec,
}

/// A job thread: runs jobs one after another until told to stop, so that a
/// long build does not pay a thread creation (stack mmap, page faults) per
/// target.
fn worker(
    sh: &Shared,
    base: &job::ChildBase,
    work: &Mutex<mpsc::Receiver<Option<Work>>>,
    tx: &mpsc::Sender<Msg>,
) {
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
            }
        };
        let started = Instant::now();
        let mut info = JobInfo::default();
        let res = job::run(sh, base, &spec, &mut free, &mut info);
        free();
        let _ = tx.send(Msg::Done(idx, res, started.elapsed(), info));
        signals::wake();
    }
}

pub fn run(
    sh: &Shared,
    js: &Jobserver,
    targets: &[PathBuf],
    force: bool,
    sequential: bool,
    trace: bool,
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let mut failures = 0usize;
    let base = job::ChildBase::new(sh);
    let (work_tx, work_rx) = mpsc::channel::<Option<Work>>();
    let work_rx = Mutex::new(work_rx);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut slots: Vec<Option<Slot>> = (0..targets.len()).map(|_| None).collect();
        // Jobs to run again after a wait (by index), before `next`.
        let mut retries: std::collections::VecDeque<usize> = Default::default();
        let mut implicit_free = true;
        let mut running = 0usize;
        let mut next = 0usize;
        let mut forwarded = false;
        let mut workers = 0usize;

        let release = |slot: Slot, implicit_free: &mut bool| match slot {
            Slot::Implicit => *implicit_free = true,
            Slot::Token(t) => js.release(t),
        };

        loop {
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::SlotFree(i) => {
                        if let Some(s) = slots[i].take() {
                            release(s, &mut implicit_free);
                        }
                    }
                    Msg::Done(i, res, elapsed, info) => {
                        let elapsed = info.ran.then_some(elapsed);
                        running -= 1;
                        if let Some(s) = slots[i].take() {
                            release(s, &mut implicit_free);
                        }
                        let target = &targets[i];
                        match res {
                            Ok(Outcome::Retry) => retries.push_back(i),
                            Ok(Outcome::Built(_)) => sh.reporter.emit(Event::Finished {
                                target,
                                default_do: info.default_do.as_deref(),
                                elapsed,
                                error: None,
                            }),
                            Ok(_) => {}
                            Err(e) => {
                                failures += 1;
                                sh.reporter.emit(Event::Finished {
                                    target,
                                    default_do: info.default_do.as_deref(),
                                    elapsed,
                                    error: Some(&e),
                                });
                            }
                        }
                    }
                }
            }
            for w in js.take_warnings() {
                sh.reporter.emit(Event::Warning(&w.0));
            }
            if let Some(sig) = signals::requested() {
                if !forwarded {
                    forwarded = true;
                    signals::forward(sig);
                }
            }
            let stopping = signals::requested().is_some() || failures > 0;
            let pending = next < targets.len() || !retries.is_empty();
            let can_start = pending && !stopping && !(sequential && running > 0);
            if !can_start {
                if running == 0 {
                    // Let the idle workers go: the scope joins them.
                    for _ in 0..workers {
                        let _ = work_tx.send(None);
                    }
                    break;
                }
                poll_wake();
                continue;
            }
            let slot = if implicit_free {
                implicit_free = false;
                Some(Slot::Implicit)
            } else {
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
            };
            let Some(slot) = slot else { continue };
            let (idx, waited) = match retries.pop_front() {
                Some(i) => (i, true),
                None => {
                    next += 1;
                    (next - 1, false)
                }
            };
            slots[idx] = Some(slot);
            running += 1;
            // Every worker is either running a job or waiting for one, and a
            // worker finishes its job before its Done is counted: so workers
            // beyond `running` are (or will soon be) idle and take the job.
            if workers < running {
                workers += 1;
                let tx = tx.clone();
                let work_rx = &work_rx;
                let base = &base;
                scope.spawn(move || worker(sh, base, work_rx, &tx));
            }
            let _ = work_tx.send(Some(Work {
                idx,
                spec: JobSpec {
                    target: targets[idx].clone(),
                    force,
                    trace,
                    waited,
                },
            }));
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
