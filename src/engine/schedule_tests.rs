//! Unit tests of the slot loop's token accounting: a fake [`Runner`] whose
//! jobs sleep, fail, give their slot back early, ask to be retried or leave
//! a rest to run without a slot, on a real jobserver pipe (served as the top level does, or joined from
//! `MAKEFLAGS` as a nested redo does).
//!
//! Not covered here: end of file on the jobserver (a `Jobserver` holds a
//! writer of its own pipe, so only `jobserver/tests.rs`, inside the module,
//! can build that state), and a real signal (it would reach every test of
//! the process): the interrupt is the handler's effect, `signals::simulate`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::error::JobError;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use crate::target::Target;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

use super::commit::Built;
use super::job::{JobInfo, JobSpec, Outcome};
use super::schedule::{self, Runner, Step};
use crate::error::Error;
use crate::jobserver::{Jobserver, Request, Style};
use crate::report::{Event, Reporter};
use crate::sys::signals;

/// The wake pipe and the signal flag belong to the process: one schedule
/// at a time, or one loop would drain another's wake-ups.
static SERIAL: Mutex<()> = Mutex::new(());

/// What a fake job does (times in milliseconds).
#[derive(Clone, Copy)]
enum Act {
    /// Hold the slot, then succeed.
    Sleep(u64),
    /// Hold the slot, then fail.
    Fail(u64),
    /// Give the slot back at once, then take this long and succeed.
    Early(u64),
    /// First run: give the slot back, wait, return `Retry`; run again,
    /// succeed at once.
    Retry(u64),
    /// The SIGINT handler's effect, then hold the slot.
    Interrupt(u64),
    /// Hold the slot this long, then leave a rest ([`Step::Finish`]) that
    /// waits (2 s at most) for a later job to start, unless none is left.
    Rest(u64),
}

#[derive(Default)]
struct Fake {
    acts: HashMap<String, Act>,
    /// Jobs holding a slot now, and the most ever.
    holding: AtomicUsize,
    peak: AtomicUsize,
    /// Jobs inside `run` (with a slot or not), and the most ever.
    inside: AtomicUsize,
    peak_inside: AtomicUsize,
    /// Every call in start order: target name, `waited`.
    calls: Mutex<Vec<(String, bool)>>,
    /// Jobs that ran to their end, in end order.
    ended: Mutex<Vec<String>>,
    /// Jobs whose rest saw a later job start, in end order.
    overlapped: Mutex<Vec<String>>,
}

fn up(now: &AtomicUsize, peak: &AtomicUsize) {
    let n = now.fetch_add(1, SeqCst) + 1;
    peak.fetch_max(n, SeqCst);
}

fn ms(n: u64) {
    std::thread::sleep(Duration::from_millis(n));
}

impl Fake {
    fn new(acts: &[(&str, Act)]) -> Fake {
        Fake {
            acts: acts.iter().map(|(n, a)| (n.to_string(), *a)).collect(),
            ..Fake::default()
        }
    }

    /// Count the slot as free before the loop can hand it to another job.
    fn give_back(&self, held: &mut bool, release_slot: &mut dyn FnMut()) {
        if *held {
            *held = false;
            self.holding.fetch_sub(1, SeqCst);
            release_slot();
        }
    }

    fn names(&self) -> Vec<(String, bool)> {
        self.calls.lock().unwrap().clone()
    }

    fn started_sorted(&self) -> Vec<String> {
        let mut v: Vec<_> = self.names().into_iter().map(|c| c.0).collect();
        v.sort();
        v
    }

    /// A job's rest: done once a later job has started (every job is
    /// called once here), or when this was the last one.
    fn rest(&self, name: &str) {
        let at = |calls: &Vec<(String, bool)>| calls.iter().position(|c| c.0 == name);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let calls = self.calls.lock().unwrap();
            let mine = at(&calls).unwrap_or(0);
            if calls.len() > mine + 1 {
                self.overlapped.lock().unwrap().push(name.to_string());
                break;
            }
            if mine + 1 == self.acts.len() || std::time::Instant::now() > deadline {
                break;
            }
            drop(calls);
            ms(1);
        }
        self.ended.lock().unwrap().push(name.to_string());
    }

    fn ended_sorted(&self) -> Vec<String> {
        let mut v = self.ended.lock().unwrap().clone();
        v.sort();
        v
    }
}

impl Runner for Fake {
    fn run<'r>(
        &'r self,
        spec: &JobSpec,
        release_slot: &mut dyn FnMut(),
        started: &mut dyn FnMut(),
        info: &mut JobInfo,
    ) -> Step<'r> {
        let name = spec
            .target
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let first = {
            let mut calls = self.calls.lock().unwrap();
            let first = calls.iter().all(|c| c.0 != name);
            calls.push((name.clone(), spec.waited));
            first
        };
        up(&self.inside, &self.peak_inside);
        up(&self.holding, &self.peak);
        let mut held = true;
        info.ran = true;
        // Jobs that wait (`Early`, a first `Retry`) give their slot back
        // before their `.do` would start.
        let act = self.acts.get(&name).copied().unwrap_or(Act::Sleep(10));
        if !matches!(act, Act::Early(_) | Act::Retry(_)) || matches!(act, Act::Retry(_) if !first) {
            started();
        }
        // What the commit of a real job would report, told apart by name.
        let built = Ok(Outcome::Built(Built {
            self_rec: None,
            created: name.ends_with('c'),
        }));
        let res = match act {
            Act::Sleep(t) => {
                ms(t);
                built
            }
            Act::Fail(t) => {
                ms(t);
                Err(JobError::DoFailed(ExitStatus::from_raw(1 << 8)))
            }
            Act::Early(t) => {
                self.give_back(&mut held, release_slot);
                ms(t);
                built
            }
            // Once, whatever `waited` says: a loop that lost the flag must
            // fail the assertions, not hang.
            Act::Retry(t) if first => {
                self.give_back(&mut held, release_slot);
                ms(t);
                Ok(Outcome::Retry)
            }
            Act::Retry(_) => built,
            Act::Interrupt(t) => {
                signals::simulate(libc::SIGINT);
                ms(t);
                built
            }
            Act::Rest(t) => {
                ms(t);
                // The slot goes once this returns.
                self.holding.fetch_sub(1, SeqCst);
                self.inside.fetch_sub(1, SeqCst);
                return Step::Finish {
                    rest: Box::new(move || {
                        self.rest(&name);
                        built
                    }),
                    heavy: false,
                };
            }
        };
        // Before returning: the Done that frees a slot still held follows.
        if held {
            self.holding.fetch_sub(1, SeqCst);
        }
        self.inside.fetch_sub(1, SeqCst);
        self.ended.lock().unwrap().push(name);
        Step::Done(res)
    }
}

/// Collects the events the loop emits.
#[derive(Default)]
struct Collect {
    /// `Finished`: target name and error.
    finished: Mutex<Vec<(String, Option<String>)>>,
    warnings: Mutex<Vec<String>>,
    /// `Slot`: target name and whether the slot is a token.
    slots: Mutex<Vec<(String, bool)>>,
}

impl Reporter for Collect {
    fn emit(&self, ev: Event<'_>) {
        match ev {
            Event::Finished { target, error, .. } => {
                let name = target.file_name().unwrap().to_string_lossy().into_owned();
                let error = error.map(|e| e.to_string());
                self.finished.lock().unwrap().push((name, error));
            }
            Event::Warning(w) => self.warnings.lock().unwrap().push(w.to_string()),
            Event::Slot { target, token, .. } => {
                let name = target.file_name().unwrap().to_string_lossy().into_owned();
                self.slots.lock().unwrap().push((name, token));
            }
            _ => {}
        }
    }
}

impl Collect {
    fn finished(&self) -> Vec<(String, Option<String>)> {
        let mut v = self.finished.lock().unwrap().clone();
        v.sort();
        v
    }
}

/// A pipe holding `tokens`, joined from `MAKEFLAGS` as a nested redo joins
/// it (N = tokens + 1); we keep the ends to count and refill the pipe.
struct Pool {
    js: Jobserver,
    r: OwnedFd,
    w: OwnedFd,
}

fn joined(tokens: &[u8]) -> Pool {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    if !tokens.is_empty() {
        nix::unistd::write(&w, tokens).unwrap();
    }
    let n = tokens.len() as u32 + 1;
    let mf = format!(
        " -j{n} --jobserver-auth={},{}",
        r.as_raw_fd(),
        w.as_raw_fd()
    );
    let get = |k: &str| (k == "MAKEFLAGS").then(|| OsString::from(&mf));
    let req = Request {
        explicit_jobs: None,
        top_level: false,
        style: Style::Pipe,
    };
    let (js, warnings) = Jobserver::from_env(&get, &req).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(js.slots(), Some(n), "{}", js.describe());
    Pool { js, r, w }
}

impl Pool {
    /// Read out every byte in the pipe (FIONREAD says how many are there,
    /// so the read cannot block), sorted.
    fn drain(&self) -> Vec<u8> {
        let n = self.in_pipe();
        let mut b = vec![0u8; n];
        if n > 0 {
            assert_eq!(nix::unistd::read(&self.r, &mut b).unwrap(), b.len());
        }
        b.sort_unstable();
        b
    }

    /// How many tokens are in the pipe now (FIONREAD: nothing is read).
    fn in_pipe(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int.
        let rc = unsafe { libc::ioctl(self.r.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(rc, 0);
        n as usize
    }
}

/// A jobserver of `n` slots served as the top level serves it.
fn served(n: u32) -> Jobserver {
    let req = Request {
        explicit_jobs: Some(n),
        top_level: true,
        style: Style::Pipe,
    };
    let (js, warnings) = Jobserver::from_env(&|_| None, &req).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    js
}

fn targets(names: &[&str]) -> Vec<Target> {
    names
        .iter()
        .map(|n| Target::new(PathBuf::from("/fake").join(n)))
        .collect()
}

fn schedule(
    fake: &Fake,
    js: &Jobserver,
    names: &[&str],
    sequential: bool,
) -> (crate::error::Result<()>, Collect) {
    let (end, rep) = schedule_built(fake, js, names, sequential);
    (end.result, rep)
}

fn schedule_built(
    fake: &Fake,
    js: &Jobserver,
    names: &[&str],
    sequential: bool,
) -> (schedule::RunEnd, Collect) {
    let rep = Collect::default();
    let end = schedule::run(fake, &rep, js, &targets(names), false, sequential, false);
    (end, rep)
}

/// Run a test alone (see [`SERIAL`]), failing after 30 s rather than
/// hanging the test run if the loop never returns.
fn timed(f: fn()) {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        signals::reset();
        f();
        signals::reset();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => h.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("timed out: hang"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p)
            }
        }
    }
}

const TWELVE: [&str; 12] = [
    "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11", "t12",
];

fn all_built(names: &[&str]) -> Vec<(String, Option<String>)> {
    let mut v: Vec<_> = names.iter().map(|n| (n.to_string(), None)).collect();
    v.sort();
    v
}

#[test]
fn served_pipe_runs_n_at_once_and_gets_every_token_back() {
    timed(|| {
        let js = served(3);
        let acts: Vec<_> = TWELVE.iter().map(|n| (*n, Act::Sleep(30))).collect();
        let fake = Fake::new(&acts);
        let (res, rep) = schedule(&fake, &js, &TWELVE, false);
        res.unwrap();
        assert_eq!(fake.peak.load(SeqCst), 3, "never more, and no idle slot");
        assert_eq!(fake.names().len(), 12);
        assert_eq!(rep.finished(), all_built(&TWELVE));
        assert!(rep.warnings.lock().unwrap().is_empty());
        // make's own check at exit: N-1 tokens in the pipe.
        assert_eq!(js.finish(), None);
    })
}

#[test]
fn joined_pipe_gets_the_same_bytes_back() {
    timed(|| {
        let pool = joined(b"abc");
        let acts: Vec<_> = TWELVE
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    *n,
                    // Early jobs only at the start: none still waits when the
                    // queue runs dry, so the implicit slot is never lent (the
                    // lent byte is `+`, and would change which bytes come back).
                    if i % 3 == 0 && i < 6 {
                        Act::Early(5)
                    } else {
                        Act::Sleep(30)
                    },
                )
            })
            .collect();
        let fake = Fake::new(&acts);
        let (res, rep) = schedule(&fake, &pool.js, &TWELVE, false);
        res.unwrap();
        assert_eq!(fake.peak.load(SeqCst), 4);
        assert_eq!(rep.finished(), all_built(&TWELVE));
        assert_eq!(pool.drain(), b"abc");
    })
}

#[test]
fn a_slot_given_back_early_runs_the_next_job() {
    timed(|| {
        let pool = joined(b"+");
        let names = ["e1", "e2", "e3", "e4"];
        let acts: Vec<_> = names.iter().map(|n| (*n, Act::Early(300))).collect();
        let fake = Fake::new(&acts);
        let (res, _) = schedule(&fake, &pool.js, &names, false);
        res.unwrap();
        assert_eq!(fake.peak_inside.load(SeqCst), 4, "all four waited at once");
        assert!(fake.peak.load(SeqCst) <= 2);
        assert_eq!(pool.drain(), b"+");
    })
}

#[test]
fn sequential_runs_one_job_at_a_time_even_with_tokens() {
    timed(|| {
        let js = served(3);
        let fake = Fake::new(&[]);
        let (res, _) = schedule(&fake, &js, &TWELVE[..5], true);
        res.unwrap();
        assert_eq!(fake.peak_inside.load(SeqCst), 1);
        assert_eq!(js.finish(), None);
    })
}

#[test]
fn a_failure_starts_no_new_job_and_awaits_the_running_ones() {
    timed(|| {
        let pool = joined(b"+");
        let fake = Fake::new(&[("slow", Act::Sleep(200)), ("bad", Act::Fail(20))]);
        let (res, rep) = schedule(&fake, &pool.js, &["slow", "bad", "c", "d", "e"], false);
        assert!(matches!(res, Err(Error::BuildFailed(_))), "{res:?}");
        // Two job threads: either may enter the runner first.
        assert_eq!(fake.started_sorted(), ["bad", "slow"]);
        assert_eq!(fake.ended_sorted(), ["bad", "slow"]);
        let finished = rep.finished();
        assert_eq!(
            finished[0],
            ("bad".to_string(), Some("exit status 1".to_string()))
        );
        assert_eq!(finished[1], ("slow".to_string(), None));
        assert_eq!(pool.drain(), b"+");
    })
}

#[test]
fn a_sequential_failure_stops_the_list() {
    timed(|| {
        let js = served(2);
        let fake = Fake::new(&[("bad", Act::Fail(5))]);
        let (res, _) = schedule(&fake, &js, &["a", "bad", "c"], true);
        assert!(matches!(res, Err(Error::BuildFailed(_))), "{res:?}");
        let started: Vec<_> = fake.names().into_iter().map(|c| c.0).collect();
        assert_eq!(started, ["a", "bad"]);
        assert_eq!(js.finish(), None);
    })
}

#[test]
fn a_retry_runs_again_waited_before_the_targets_not_started() {
    timed(|| {
        let js = served(2);
        let fake = Fake::new(&[("r", Act::Retry(20))]);
        let (res, rep) = schedule(&fake, &js, &["a", "r", "b", "c"], true);
        res.unwrap();
        let calls = [
            ("a", false),
            ("r", false),
            ("r", true),
            ("b", false),
            ("c", false),
        ];
        let calls: Vec<_> = calls.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        assert_eq!(fake.names(), calls);
        // A Retry is no result: one Finished per target.
        assert_eq!(rep.finished(), all_built(&["a", "r", "b", "c"]));
        assert_eq!(js.finish(), None);
    })
}

#[test]
fn a_retry_waits_for_a_slot_and_goes_first() {
    timed(|| {
        // One slot: while r waits without it, b takes it; r comes back
        // while b still runs, and is the next to run.
        let pool = joined(b"");
        let fake = Fake::new(&[("r", Act::Retry(30)), ("b", Act::Sleep(250))]);
        let (res, _) = schedule(&fake, &pool.js, &["r", "b", "c", "d"], false);
        res.unwrap();
        let calls = [
            ("r", false),
            ("b", false),
            ("r", true),
            ("c", false),
            ("d", false),
        ];
        let calls: Vec<_> = calls.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        assert_eq!(fake.names(), calls);
        assert_eq!(fake.peak.load(SeqCst), 1);
        assert_eq!(pool.drain(), b"");
    })
}

#[test]
fn an_interrupt_starts_no_new_job_and_awaits_the_running_ones() {
    timed(|| {
        let pool = joined(b"+");
        let fake = Fake::new(&[("slow", Act::Sleep(200)), ("int", Act::Interrupt(20))]);
        let (res, _) = schedule(&fake, &pool.js, &["slow", "int", "c", "d"], false);
        assert!(
            matches!(res, Err(Error::Interrupted(libc::SIGINT))),
            "{res:?}"
        );
        assert_eq!(fake.started_sorted(), ["int", "slow"]);
        assert_eq!(fake.ended_sorted(), ["int", "slow"]);
        assert_eq!(pool.drain(), b"+");
    })
}

#[test]
fn a_token_arriving_later_is_taken_while_work_waits() {
    timed(|| {
        let pool = joined(b"x");
        // Another process holds the only token for a while.
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(&pool.r, &mut b).unwrap(), 1);
        let acts: Vec<_> = TWELVE[..8].iter().map(|n| (*n, Act::Sleep(60))).collect();
        let fake = Fake::new(&acts);
        let res = std::thread::scope(|s| {
            s.spawn(|| {
                ms(100);
                nix::unistd::write(&pool.w, &b).unwrap();
            });
            schedule(&fake, &pool.js, &TWELVE[..8], false).0
        });
        res.unwrap();
        assert_eq!(fake.peak.load(SeqCst), 2, "the token was used");
        assert_eq!(pool.drain(), b"x");
    })
}

#[test]
fn the_next_job_starts_while_the_rest_of_one_runs() {
    timed(|| {
        // N = 1: the implicit slot only.
        let pool = joined(b"");
        let names = ["r1", "r2", "r3", "r4"];
        let acts: Vec<_> = names.iter().map(|n| (*n, Act::Rest(5))).collect();
        let fake = Fake::new(&acts);
        let (res, rep) = schedule(&fake, &pool.js, &names, false);
        res.unwrap();
        assert_eq!(rep.finished(), all_built(&names));
        assert_eq!(fake.peak.load(SeqCst), 1);
        // Every rest but the last saw the next job start: none held the slot.
        let mut overlapped = fake.overlapped.lock().unwrap().clone();
        overlapped.sort();
        assert_eq!(overlapped, ["r1", "r2", "r3"]);
        assert_eq!(fake.ended_sorted(), names);
        assert!(pool.drain().is_empty());
    });
}

#[test]
fn what_each_build_left_comes_back_in_the_targets_order() {
    timed(|| {
        // Ends that the loop hears of with and without a wake-up: handed on
        // (the rests), a slot given back early, a failure, and a job never
        // run (N = 1: nothing starts once the failure holds the slot).
        let pool = joined(b"");
        let acts = [
            ("r1c", Act::Rest(5)),
            ("r2", Act::Rest(5)),
            ("w", Act::Early(5)),
            ("r3c", Act::Rest(5)),
            ("bad", Act::Fail(5)),
        ];
        let fake = Fake::new(&acts);
        let names = ["r1c", "r2", "w", "r3c", "bad", "never"];
        let (end, _) = schedule_built(&fake, &pool.js, &names, false);
        assert!(matches!(end.result, Err(Error::BuildFailed(_))));
        let created: Vec<_> = end.built.iter().map(|b| b.map(|b| b.created)).collect();
        assert_eq!(
            created,
            [Some(true), Some(false), Some(false), Some(true), None, None]
        );
        assert!(pool.drain().is_empty());
    });
}

#[test]
fn rests_take_no_token_and_every_token_comes_back() {
    timed(|| {
        let pool = joined(b"+-");
        let acts: Vec<_> = TWELVE.iter().map(|n| (*n, Act::Rest(20))).collect();
        let fake = Fake::new(&acts);
        let (res, rep) = schedule(&fake, &pool.js, &TWELVE, false);
        res.unwrap();
        assert_eq!(rep.finished(), all_built(&TWELVE));
        assert_eq!(fake.peak.load(SeqCst), 3);
        assert_eq!(pool.drain(), b"+-");
    });
}

#[test]
fn a_carried_rest_runs_before_the_next_job_waits() {
    timed(|| {
        // N = 1: r1's slot goes to r2, which waits (as for another
        // process's lock) before its .do would start: r1's rest, which
        // holds r1's lock, must not wait with it.
        let pool = joined(b"");
        let names = ["r1", "r2"];
        let fake = Fake::new(&[("r1", Act::Rest(5)), ("r2", Act::Retry(300))]);
        let (res, rep) = schedule(&fake, &pool.js, &names, false);
        res.unwrap();
        assert_eq!(rep.finished(), all_built(&names));
        assert_eq!(fake.ended.lock().unwrap()[0], "r1");
        assert!(pool.drain().is_empty());
    });
}

#[test]
fn a_token_goes_back_when_the_implicit_slot_comes_free() {
    timed(|| {
        // `short` takes the implicit slot, `long` the token. When `short`
        // ends and nothing else waits here, `long` moves onto the implicit
        // slot and the token goes back for other processes, as make does.
        let pool = joined(b"a");
        let names = ["short", "long"];
        let fake = Fake::new(&[("short", Act::Sleep(20)), ("long", Act::Sleep(500))]);
        let in_pipe = std::thread::scope(|s| {
            let probe = s.spawn(|| {
                ms(250);
                pool.in_pipe()
            });
            schedule(&fake, &pool.js, &names, false).0.unwrap();
            probe.join().unwrap()
        });
        assert_eq!(in_pipe, 1, "the token is back while `long` runs");
        assert_eq!(pool.drain(), b"a");
    })
}

#[test]
fn a_slot_handed_on_after_a_move_to_the_implicit_slot_is_reported_as_it_is() {
    timed(|| {
        // N = 2. `short` ends first: `long` moves from its token onto the
        // implicit slot and the token goes back, to `n1`. When `long`'s
        // `.do` ends, its thread hands the implicit slot to `n2`.
        let pool = joined(b"a");
        let names = ["short", "long", "n1", "n2"];
        let fake = Fake::new(&[
            ("short", Act::Sleep(20)),
            ("long", Act::Rest(200)),
            ("n1", Act::Sleep(400)),
            ("n2", Act::Sleep(10)),
        ]);
        let (res, rep) = schedule(&fake, &pool.js, &names, false);
        res.unwrap();
        let mut slots = rep.slots.lock().unwrap().clone();
        slots.sort();
        let want = [
            ("long", true),
            ("n1", true),
            ("n2", false),
            ("short", false),
        ];
        let want: Vec<_> = want.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        assert_eq!(slots, want);
        assert_eq!(pool.drain(), b"a");
    })
}

#[test]
fn the_implicit_slot_is_lent_while_every_job_waits_and_comes_back() {
    timed(|| {
        // One slot (no token): `w` gives it back to wait for another process
        // and nothing else can start, so the slot goes to the pool for the
        // wait. Another client takes it and holds it a while: the loop may
        // not return before the slot is back, and then leaves the pool as it
        // was.
        let pool = joined(b"");
        let fake = Fake::new(&[("w", Act::Early(300))]);
        let held_for = Duration::from_millis(600);
        let (lent, res, took) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                ms(150);
                let lent = pool.in_pipe();
                let mut b = [0u8; 1];
                let n = nix::unistd::read(&pool.r, &mut b).unwrap();
                std::thread::sleep(held_for);
                nix::unistd::write(&pool.w, &b[..n]).unwrap();
                lent
            });
            let t0 = std::time::Instant::now();
            let res = schedule(&fake, &pool.js, &["w"], false).0;
            (other.join().unwrap(), res, t0.elapsed())
        });
        res.unwrap();
        assert_eq!(lent, 1, "the waiting job's slot is in the pool");
        assert!(
            took >= held_for,
            "returned after {took:?}, before the slot came back"
        );
        assert_eq!(pool.in_pipe(), 0, "the lent slot was taken back");
    })
}

#[test]
fn a_retry_after_a_wait_runs_on_the_lent_slot_taken_back() {
    timed(|| {
        // `r` waits (its slot lent), then runs again: the token it reads is
        // the implicit slot coming back, not an extra one, so at most one job
        // holds a slot and the pool ends as it began.
        let pool = joined(b"");
        let fake = Fake::new(&[("r", Act::Retry(200))]);
        let lent = std::thread::scope(|s| {
            let probe = s.spawn(|| {
                ms(100);
                pool.in_pipe()
            });
            schedule(&fake, &pool.js, &["r"], false).0.unwrap();
            probe.join().unwrap()
        });
        assert_eq!(lent, 1);
        assert_eq!(fake.names(), [("r".into(), false), ("r".into(), true)]);
        assert_eq!(fake.peak.load(SeqCst), 1);
        assert_eq!(pool.in_pipe(), 0);
    })
}

#[test]
fn a_served_pool_counts_right_after_a_lend() {
    timed(|| {
        // The top level lends to its own pool as well (a make below another
        // job may use the slot); `finish` then finds N-1 tokens, not N.
        let js = served(2);
        let fake = Fake::new(&[("w", Act::Early(150)), ("x", Act::Early(150))]);
        schedule(&fake, &js, &["w", "x"], false).0.unwrap();
        assert_eq!(js.finish(), None);
    })
}

#[test]
fn a_signal_ends_the_wait_for_a_lent_slot() {
    timed(|| {
        // The slot is lent, and its taker never gives it back (killed, say);
        // a signal must still end the build, not a wait for that slot.
        let pool = joined(b"");
        let fake = Fake::new(&[("w", Act::Early(300))]);
        let res = std::thread::scope(|s| {
            s.spawn(|| {
                ms(150);
                let mut b = [0u8; 1];
                assert_eq!(nix::unistd::read(&pool.r, &mut b).unwrap(), 1);
                ms(400);
                signals::simulate(libc::SIGINT);
            });
            schedule(&fake, &pool.js, &["w"], false).0
        });
        assert!(matches!(res, Err(Error::Interrupted(_))), "{res:?}");
        assert_eq!(pool.in_pipe(), 0);
    })
}
