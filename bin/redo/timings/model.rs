//! From the record's lines to the timeline: the jobs of every redo of the
//! tree with their parents, the rows (one per slot in use), the curves over
//! time, and the critical path.
//!
//! Rows: a job that holds a jobserver token, or a top-level job, takes the
//! first row free at its slot time; a job that runs on its redo's implicit
//! slot runs on the slot of the `.do` that started that redo, so it is drawn
//! on its parent's row, one level deeper (unless a sibling from a parallel
//! redo of the same `.do` is there already: then it takes a free row too).
//! So rows count the slots the tree holds, not the processes.
//!
//! The critical path: from the top-level job that ended last, down through
//! the child that ended last, to a job with no children: the chain whose
//! ends set the build's length. A child that waited for another process is
//! followed to the job that built the target.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::record::Line;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    Built,
    Failed,
    /// Waited for another process building the target (no slot held).
    Waited,
}

pub struct Job {
    pub target: PathBuf,
    pub do_file: PathBuf,
    pub redo_pid: u32,
    pub do_pid: Option<u32>,
    pub level: u32,
    pub parent: Option<usize>,
    /// Seconds from the build's start: ready for a slot, got it, .do ran.
    pub ready: f64,
    pub slot: f64,
    pub start: f64,
    /// When it gave its slot back (its .do exited; the commit follows).
    pub released: f64,
    pub end: f64,
    pub token: bool,
    pub outcome: Outcome,
    pub lane: usize,
    pub depth: usize,
}

impl Job {
    pub fn dur(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }
    /// The end of its bar: the slot given back, or the end.
    pub fn bar_end(&self) -> f64 {
        self.released.clamp(self.start, self.end)
    }
    pub fn slot_wait(&self) -> f64 {
        (self.slot - self.ready).max(0.0)
    }
}

/// The state of the slots from `t` until the next sample.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub t: f64,
    /// Slots held by redo's jobs (rows busy).
    pub running: i32,
    /// Jobs ready but without a slot.
    pub waiting: i32,
    /// Slots the whole tree holds, its tools' included: tokens out of the
    /// served pipe, plus the top level's implicit slot when in use.
    pub pipe: Option<i32>,
}

pub struct Model {
    pub jobs: Vec<Job>,
    /// Rows of slots, then rows of waits for other processes.
    pub lanes: usize,
    pub wait_lanes: usize,
    pub slots: Option<u32>,
    pub total: f64,
    pub samples: Vec<Sample>,
    pub critical: Vec<usize>,
    pub top_pid: u32,
}

/// What one process's job has shown so far.
#[derive(Default)]
struct Pending {
    ready: f64,
    slot: f64,
    token: bool,
    start: Option<f64>,
    do_pid: Option<u32>,
    wait_start: Option<f64>,
    freed: Option<f64>,
}

const EPS: f64 = 0.005;

fn path(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

pub fn build(lines: &[Line], top_pid: u32, slots: Option<u32>) -> Model {
    let t0 = lines.first().map_or(0, |l| l.t);
    let secs = |t: u64| t.saturating_sub(t0) as f64 / 1e9;
    let mut procs: HashMap<u32, (u32, PathBuf)> = HashMap::new();
    let mut pending: HashMap<(u32, Vec<u8>), Pending> = HashMap::new();
    let mut jobs = Vec::new();
    let mut tokens = Vec::new();
    for l in lines {
        let t = secs(l.t);
        let key = (l.pid, l.field(0).to_vec());
        match l.kind.as_str() {
            "proc" => {
                let level = l.num(0).unwrap_or(0) as u32;
                procs.insert(l.pid, (level, path(l.field(1))));
            }
            "slot" => {
                let waited = l.num(1).unwrap_or(0) as f64 / 1e9;
                let p = Pending {
                    ready: (t - waited).max(0.0),
                    slot: t,
                    token: l.field(2) == b"1",
                    ..Pending::default()
                };
                pending.insert(key, p);
            }
            "start" => {
                let p = pending.entry(key).or_insert_with(|| at(t));
                p.start = Some(t);
                p.do_pid = l.num(1).map(|n| n as u32);
            }
            "end" => {
                let p = pending.remove(&key).unwrap_or_else(|| at(t));
                let ran = l.num(1).map(|n| n as f64 / 1e9);
                let start = p.start.or(ran.map(|r| t - r)).unwrap_or(t).min(t);
                let outcome = if l.field(3) == b"ok" {
                    Outcome::Built
                } else {
                    Outcome::Failed
                };
                jobs.push(job(l, &procs, &p, start, t, outcome));
            }
            "free" => pending.entry(key).or_insert_with(|| at(t)).freed = Some(t),
            "wait" => pending.entry(key).or_insert_with(|| at(t)).wait_start = Some(t),
            "waited" => {
                if let Some(p) = pending.get_mut(&key) {
                    let start = p.wait_start.take().unwrap_or(t);
                    jobs.push(job(l, &procs, p, start, t, Outcome::Waited));
                }
            }
            "tokens" => tokens.push((t, l.num(0).unwrap_or(0) as i32)),
            _ => {}
        }
    }
    link_parents(&mut jobs, &procs);
    let lanes = assign_lanes(&mut jobs);
    let wait_lanes = assign_wait_lanes(&mut jobs, lanes);
    let total = jobs.iter().map(|j| j.end).fold(0.0, f64::max);
    let samples = sweep(&jobs, &tokens, top_pid, slots);
    let critical = critical_path(&jobs);
    Model {
        jobs,
        lanes,
        wait_lanes,
        slots,
        total,
        samples,
        critical,
        top_pid,
    }
}

fn at(t: f64) -> Pending {
    Pending {
        ready: t,
        slot: t,
        ..Pending::default()
    }
}

fn job(
    l: &Line,
    procs: &HashMap<u32, (u32, PathBuf)>,
    p: &Pending,
    start: f64,
    end: f64,
    outcome: Outcome,
) -> Job {
    let target = path(l.field(0));
    let do_file = match l.field(2) {
        d if !d.is_empty() && outcome != Outcome::Waited => path(d),
        _ => {
            let mut s = target.clone().into_os_string();
            s.push(".do");
            PathBuf::from(s)
        }
    };
    Job {
        target,
        do_file,
        redo_pid: l.pid,
        do_pid: p.do_pid,
        level: procs.get(&l.pid).map_or(0, |p| p.0),
        parent: None,
        ready: p.ready.min(p.slot),
        slot: p.slot.min(start),
        start,
        released: match outcome {
            Outcome::Waited => end,
            _ => p.freed.unwrap_or(end),
        },
        end,
        token: p.token,
        outcome,
        lane: 0,
        depth: 0,
    }
}

/// A job's parent: the job of its redo's parent target that ran around it
/// (the innermost, if that target ran more than once). Its slot is the
/// bound, not its `.do`'s start: a parent's `start` line is written after
/// the spawn returns, and on a loaded machine the child's redo may already
/// have written its own lines; the parent's start is then moved to its
/// first child's.
fn link_parents(jobs: &mut [Job], procs: &HashMap<u32, (u32, PathBuf)>) {
    let mut by_target: HashMap<&std::path::Path, Vec<usize>> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        if j.outcome != Outcome::Waited {
            by_target.entry(j.target.as_path()).or_default().push(i);
        }
    }
    let parents: Vec<Option<usize>> = jobs
        .iter()
        .map(|j| {
            let (_, parent) = procs.get(&j.redo_pid)?;
            by_target
                .get(parent.as_path())?
                .iter()
                .copied()
                .filter(|&p| jobs[p].slot <= j.ready + EPS && jobs[p].end + EPS >= j.end)
                .max_by(|&a, &b| jobs[a].slot.total_cmp(&jobs[b].slot))
        })
        .collect();
    for (i, p) in parents.into_iter().enumerate() {
        jobs[i].parent = p;
        if let Some(p) = p {
            let first = jobs[i].ready.min(jobs[i].start);
            jobs[p].start = jobs[p].start.min(first).max(jobs[p].slot);
        }
    }
}

/// Rows of slots (see the module comment); returns how many.
fn assign_lanes(jobs: &mut [Job]) -> usize {
    let mut order: Vec<usize> = (0..jobs.len())
        .filter(|&i| jobs[i].outcome != Outcome::Waited)
        .collect();
    order.sort_by(|&a, &b| jobs[a].slot.total_cmp(&jobs[b].slot));
    let mut free_at: Vec<f64> = Vec::new();
    let mut stacked: HashMap<(usize, usize), f64> = HashMap::new();
    for i in order {
        let (from, end) = (jobs[i].slot, jobs[i].released.max(jobs[i].slot));
        let on_parent = match jobs[i].parent {
            Some(p) if !jobs[i].token => {
                let (lane, depth) = (jobs[p].lane, jobs[p].depth + 1);
                let free = stacked
                    .get(&(lane, depth))
                    .map_or(true, |&e| e <= from + EPS);
                free.then_some((lane, depth))
            }
            _ => None,
        };
        let (lane, depth) = on_parent.unwrap_or_else(|| {
            let lane = match free_at.iter().position(|&e| e <= from + EPS) {
                Some(l) => l,
                None => {
                    free_at.push(0.0);
                    free_at.len() - 1
                }
            };
            free_at[lane] = end;
            (lane, 0)
        });
        stacked.insert((lane, depth), end);
        jobs[i].lane = lane;
        jobs[i].depth = depth;
    }
    free_at.len()
}

/// Rows for waits on other processes, below the slot rows; how many.
fn assign_wait_lanes(jobs: &mut [Job], first: usize) -> usize {
    let mut free_at: Vec<f64> = Vec::new();
    for j in jobs.iter_mut().filter(|j| j.outcome == Outcome::Waited) {
        let lane = match free_at.iter().position(|&e| e <= j.start) {
            Some(l) => l,
            None => {
                free_at.push(0.0);
                free_at.len() - 1
            }
        };
        free_at[lane] = j.end;
        j.lane = first + lane;
    }
    free_at.len()
}

/// The step curves: one sample at every time something changes.
fn sweep(jobs: &[Job], tokens: &[(f64, i32)], top_pid: u32, slots: Option<u32>) -> Vec<Sample> {
    // (time, running, waiting, top implicit in use, tokens in pipe)
    let mut deltas: Vec<(f64, i32, i32, i32, Option<i32>)> = Vec::new();
    for j in jobs.iter().filter(|j| j.outcome != Outcome::Waited) {
        if j.depth == 0 {
            deltas.push((j.slot, 1, 0, 0, None));
            deltas.push((j.released.max(j.slot), -1, 0, 0, None));
        }
        if j.slot_wait() > 0.0005 {
            deltas.push((j.ready, 0, 1, 0, None));
            deltas.push((j.slot, 0, -1, 0, None));
        }
        if j.redo_pid == top_pid && !j.token {
            deltas.push((j.slot, 0, 0, 1, None));
            deltas.push((j.released.max(j.slot), 0, 0, -1, None));
        }
    }
    deltas.extend(tokens.iter().map(|&(t, n)| (t, 0, 0, 0, Some(n))));
    deltas.sort_by(|a, b| a.0.total_cmp(&b.0));
    let spare = slots.map(|n| n as i32 - 1);
    let (mut run, mut wait, mut imp, mut in_pipe) = (0, 0, 0, None);
    let mut out: Vec<Sample> = Vec::new();
    for (t, r, w, i, p) in deltas {
        run += r;
        wait += w;
        imp += i;
        in_pipe = p.or(in_pipe);
        let s = Sample {
            t,
            running: run,
            waiting: wait,
            pipe: spare
                .zip(in_pipe)
                .map(|(n, p)| (n - p).max(0) + i32::from(imp > 0)),
        };
        match out.last_mut() {
            Some(last) if (last.t - t).abs() < 1e-9 => *last = s,
            _ => out.push(s),
        }
    }
    out
}

/// The children of each job.
pub fn children(jobs: &[Job]) -> Vec<Vec<usize>> {
    let mut kids = vec![Vec::new(); jobs.len()];
    for (i, j) in jobs.iter().enumerate() {
        if let Some(p) = j.parent {
            kids[p].push(i);
        }
    }
    kids
}

/// See the module comment.
fn critical_path(jobs: &[Job]) -> Vec<usize> {
    let kids = children(jobs);
    let last = |it: &mut dyn Iterator<Item = usize>| {
        it.max_by(|&a: &usize, &b: &usize| jobs[a].end.total_cmp(&jobs[b].end))
    };
    let mut cur = last(
        &mut (0..jobs.len())
            .filter(|&i| jobs[i].parent.is_none() && jobs[i].outcome != Outcome::Waited),
    );
    let mut path = Vec::new();
    while let Some(c) = cur {
        if path.contains(&c) {
            break;
        }
        path.push(c);
        cur = last(&mut kids[c].iter().copied()).map(|k| {
            if jobs[k].outcome != Outcome::Waited {
                return k;
            }
            let builder = (0..jobs.len()).filter(|&b| {
                jobs[b].target == jobs[k].target && jobs[b].outcome != Outcome::Waited
            });
            last(&mut { builder }).unwrap_or(k)
        });
    }
    path
}

/// A job's time not covered by its children (what its own `.do` spent).
pub fn own_time(jobs: &[Job], kids: &[usize], i: usize) -> f64 {
    let mut iv: Vec<(f64, f64)> = kids.iter().map(|&k| (jobs[k].start, jobs[k].end)).collect();
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut covered, mut reach) = (0.0, jobs[i].start);
    for (s, e) in iv {
        let s = s.max(reach);
        let e = e.min(jobs[i].end);
        if e > s {
            covered += e - s;
            reach = e;
        }
    }
    (jobs[i].dur() - covered).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `ms pid kind fields...` lines, as a record holds them.
    fn model(text: &str) -> Model {
        let rec: String = text
            .lines()
            .map(|l| {
                let mut w = l.split_whitespace();
                let t: u64 = w.next().unwrap().parse::<u64>().unwrap() * 1_000_000;
                let rest: Vec<&str> = w.collect();
                format!("{t}\t{}\n", rest.join("\t"))
            })
            .collect();
        build(&super::super::record::parse(rec.as_bytes()), 1, Some(2))
    }

    #[test]
    fn implicit_children_share_their_parents_row_and_the_last_ending_chain_is_critical() {
        // Top (pid 1) runs all; its redo (pid 2) runs a on the implicit slot
        // and b on a token; a's redo (pid 3) runs a1 on a's slot.
        let m = model(
            "0 1 proc 0 - 2
             1 1 slot /all 0 0
             2 1 start /all 10
             3 2 proc 1 /all -
             4 2 slot /a 0 0
             4 2 slot /b 0 1
             5 2 start /a 11
             5 2 start /b 12
             6 3 proc 2 /a -
             7 3 slot /a1 0 0
             8 3 start /a1 13
             50 3 free /a1
             51 3 end /a1 - - ok
             60 2 free /b
             61 2 end /b - - ok
             70 2 free /a
             71 2 end /a - - ok
             80 1 free /all
             81 1 end /all - - ok",
        );
        let by = |t: &str| {
            m.jobs
                .iter()
                .position(|j| j.target == Path::new(t))
                .unwrap()
        };
        let (all, a, b, a1) = (by("/all"), by("/a"), by("/b"), by("/a1"));
        assert_eq!(m.lanes, 2);
        assert_eq!((m.jobs[a].lane, m.jobs[a].depth), (m.jobs[all].lane, 1));
        assert_eq!((m.jobs[a1].lane, m.jobs[a1].depth), (m.jobs[all].lane, 2));
        assert_ne!(m.jobs[b].lane, m.jobs[all].lane);
        assert_eq!(m.jobs[a1].parent, Some(a));
        assert_eq!(m.critical, vec![all, a, a1]);
        assert_eq!(m.samples.iter().map(|s| s.running).max(), Some(2));
    }
}
