//! Two top-level builds started together in one tree (beyond goredo, which may fail
//! the one that waited with "was not built"): both succeed. A process that waited for
//! another's lock decides again (up to date now: success without rebuilding; still out
//! of date: it builds). Never two builds of one target at once; with two
//! `redo-ifchange`, no target built twice for one change; every target equals a clean
//! build's.
//!
//! Seeded: `FERREDO_CONCURRENT_SEED=<n>` replays the choices of a run (the seed is
//! printed at the start and in every failure).

use crate::gen::*;
use crate::sandbox::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PAIRS: usize = 80;
/// The loop stops early (with a note) past this much time.
const BUDGET: Duration = Duration::from_secs(60);

/// What the shared log says about one round: problems found (overlapping builds of one
/// target, a start without an end) and how many times each target was started.
fn read_log(text: &str) -> (Vec<String>, BTreeMap<String, usize>) {
    let mut problems = Vec::new();
    let mut open: BTreeMap<String, String> = BTreeMap::new(); // target -> pid
    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["start", t, pid] => {
                *starts.entry(t.to_string()).or_default() += 1;
                if let Some(other) = open.insert(t.to_string(), pid.to_string()) {
                    problems.push(format!(
                        "log line {}: {t} started (pid {pid}) while its build by pid {other} \
                         was running",
                        n + 1
                    ));
                }
            }
            ["end", t] => {
                if open.remove(*t).is_none() {
                    problems.push(format!("log line {}: {t} ended without a start", n + 1));
                }
            }
            _ => problems.push(format!("log line {}: malformed {line:?}", n + 1)),
        }
    }
    for (t, pid) in open {
        problems.push(format!("{t}: started by pid {pid}, never ended"));
    }
    (problems, starts)
}

#[test]
fn two_top_level_builds_at_once_both_succeed() {
    let seed = seed_from_env("FERREDO_CONCURRENT_SEED");
    eprintln!("core_concurrent: FERREDO_CONCURRENT_SEED={seed}");
    let mut rng = Rng::new(seed);
    let shape = Shape {
        sources: 18,
        groups: 5,
        leaf_sleep: "0.01",
        group_sleep: "0.01",
    };
    let mut proj = Project::generate(&mut rng, shape);
    let sb = Sandbox::new()
        .timeout(Duration::from_secs(60))
        .env("REDO_NO_SYNC", "1");
    proj.write_all(&sb);
    sb.run(&["redo-ifchange", "-j2", "all"]).success();
    let d = proj.diff(&sb);
    assert!(
        d.is_empty(),
        "seed {seed}: first build differs:\n{}",
        d.join("\n")
    );
    proj.check_model(&format!("seed {seed}, initial sources"));

    let mut failures: Vec<String> = Vec::new();
    let mut failed_builds = 0usize;
    let start = Instant::now();
    let mut pair = 0;
    while pair < PAIRS && start.elapsed() < BUDGET {
        pair += 1;
        let edits = proj.edit(&mut rng, &sb);
        sb.remove(LOG);
        let both_ifchange = rng.chance(1, 2);
        let mut argv: Vec<Vec<String>> = (0..2)
            .map(|i| {
                let applet = if both_ifchange || i == 1 {
                    "redo-ifchange"
                } else {
                    "redo"
                };
                let j = format!("-j{}", 1 + rng.below(4));
                vec![applet.to_string(), j, "all".to_string()]
            })
            .collect();
        if rng.chance(1, 2) {
            argv.swap(0, 1);
        }
        let stagger = rng.duration(Duration::from_millis(5));
        let ctx = format!("seed {seed}, pair {pair}: edits {edits:?}, then {argv:?}");
        let spawn = |v: &Vec<String>| sb.cmd(&[v[0].as_str()]).args(v[1..].to_vec()).spawn();
        let first = spawn(&argv[0]);
        std::thread::sleep(stagger);
        let second = spawn(&argv[1]);
        let outs = [first.wait(), second.wait()];

        let mut problems = Vec::new();
        let failed: Vec<usize> = (0..2).filter(|&i| !outs[i].status().success()).collect();
        failed_builds += failed.len();
        for &i in &failed {
            problems.push(format!("{:?} failed ({})", argv[i], outs[i].status()));
        }
        let log = std::fs::read_to_string(sb.path(LOG)).unwrap_or_default();
        let (mut log_problems, starts) = read_log(&log);
        problems.append(&mut log_problems);
        if both_ifchange {
            for (t, n) in &starts {
                if *n > 1 {
                    problems.push(format!("{t} was built {n} times for one change"));
                }
            }
        }
        if failed.is_empty() {
            problems.extend(proj.diff(&sb));
            let left = temp_leftovers(&sb);
            if !left.is_empty() {
                problems.push(format!("temp files left: {left:?}"));
            }
        }
        if problems.is_empty() {
            continue;
        }
        failures.push(format!(
            "{ctx}:\n  {}\n--- stderr of {:?} ---\n{}--- stderr of {:?} ---\n{}--- build.log ---\n{log}",
            problems.join("\n  "),
            argv[0],
            outs[0].stderr(),
            argv[1],
            outs[1].stderr()
        ));
        eprintln!("core_concurrent: FAILED {}", failures.last().unwrap());
        // Back on track to keep counting: one ordinary build finishes the job.
        sb.run(&["redo-ifchange", "all"]).success();
        let d = proj.diff(&sb);
        assert!(
            d.is_empty(),
            "seed {seed}, pair {pair}: even a following build differs:\n{}\nfirst failure: {}",
            d.join("\n"),
            failures[0]
        );
    }
    if pair < PAIRS {
        eprintln!("core_concurrent: time budget reached after {pair} pairs");
    }
    eprintln!(
        "core_concurrent: seed {seed}: pairs run {pair}, failed pairs {}, failed builds \
         {failed_builds} (in {:?})",
        failures.len(),
        start.elapsed()
    );
    proj.check_model(&format!("seed {seed}, final sources"));
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {pair} pairs of concurrent builds went wrong; first:\n{}",
        failures.len(),
        failures[0]
    );
}
