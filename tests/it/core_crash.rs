//! Crash safety: a build SIGKILLed at any instant (every process of it at once) never
//! strands a target. The next `redo-ifchange all`, with no action by the user, produces
//! exactly what a clean build would and refuses nothing as "externally modified"; the
//! temp files the dead build left (`.redo.T.*`, `.redo/.redo.T.dep.*`) are gone once
//! their target is built again (by the recovery if it was out of date).
//!
//! Seeded: `FERREDO_CRASH_SEED=<n>` replays the project, the edits and the choices of a
//! run (the seed is printed at the start and in every failure); the instants of the
//! kills depend on timing too (their bound follows the measured build durations).

use crate::gen::*;
use crate::sandbox::*;
use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 150;
/// The kill loop stops early (with a note) past this much time.
const BUDGET: Duration = Duration::from_secs(60);

/// The targets whose temp files these are (`D/.redo.T.out`, `D/.redo.T.3`,
/// `D/.redo/.redo.T.dep.tmp`), each once.
fn leftover_targets(left: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in left {
        let (dir, name) = l.rsplit_once('/').unwrap_or(("", l));
        let dir = dir.strip_suffix(".redo").unwrap_or(dir);
        let name = name.strip_prefix(".redo.").unwrap_or(name);
        let base = [".out", ".3", ".dep.tmp"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        let t = format!("{dir}{base}").trim_start_matches('/').to_string();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// (pid, state) of every process whose session id is `sid`, zombies excluded.
fn session_members(sid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp session ...; comm may hold spaces and parens.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let state = f[0].chars().next().unwrap_or('?');
        if f[3].parse::<i32>().ok() == Some(sid) && state != 'Z' && state != 'X' {
            out.push((pid, state));
        }
    }
    out
}

/// Kill every process of session `sid` "at once": SIGSTOP them all (again and again,
/// since they fork meanwhile) until none runs, then SIGKILL them all, and repeat
/// SIGKILL until none is left. A process in D state counts as not running: a parent
/// blocked in vfork (posix_spawn) stays in D while its child is stopped before exec.
fn kill_session(sid: i32) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let members = session_members(sid);
        if members.iter().all(|(_, s)| matches!(s, 'T' | 't' | 'D')) {
            break;
        }
        for (p, _) in members {
            // SAFETY: plain syscall on a pid just seen in the session.
            unsafe { libc::kill(p, libc::SIGSTOP) };
        }
        if Instant::now() > end {
            break; // SIGKILL them anyway
        }
        std::thread::yield_now();
    }
    loop {
        let left = session_members(sid);
        if left.is_empty() {
            return;
        }
        for (p, _) in &left {
            // SAFETY: as above.
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        assert!(
            Instant::now() < end + Duration::from_secs(15),
            "session {sid} survives SIGKILL: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Start `args` (an applet and its arguments) in `sb` as the leader of a new session,
/// with the sandbox's environment (without `REDO_NO_SYNC` when `sync`, so that the
/// commit's fsync path is cut short too). Its stderr goes to `errfile`.
fn spawn_session(sb: &Sandbox, args: &[&str], errfile: &fs::File, sync: bool) -> Child {
    let env = sb
        .base_env()
        .into_iter()
        .filter(|(k, _)| !(sync && k == "REDO_NO_SYNC"));
    let mut cmd = Command::new(sb.bin().join(args[0]));
    cmd.arg0(args[0])
        .args(&args[1..])
        .env_clear()
        .envs(env)
        .current_dir(sb.root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errfile.try_clone().expect("dup"));
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn redo in a new session")
}

fn read_file(f: &fs::File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f.try_clone().expect("dup");
    f.seek(SeekFrom::Start(0)).expect("rewind");
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// Targets named on the "externally modified" lines of a stderr.
fn refused(stderr: &str, targets: &[String]) -> Vec<String> {
    let mut v: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("externally modified"))
        .flat_map(|l| {
            targets
                .iter()
                .filter(|t| {
                    l.split_whitespace().any(|w| {
                        w.trim_matches(|c| c == ':' || c == '\'' || c == '"') == t.as_str()
                    })
                })
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn a_build_killed_at_any_instant_never_strands_a_target() {
    let seed = seed_from_env("FERREDO_CRASH_SEED");
    eprintln!("core_crash: FERREDO_CRASH_SEED={seed}");
    let mut rng = Rng::new(seed);
    let shape = Shape {
        sources: 10,
        groups: 3,
        leaf_sleep: "0",
        group_sleep: "0.02",
    };
    let mut proj = Project::generate(&mut rng, shape);
    let targets = proj.targets();
    let sb = Sandbox::new()
        .timeout(Duration::from_secs(60))
        .env("REDO_NO_SYNC", "1");
    proj.write_all(&sb);

    // The typical build: a full build from scratch, timed.
    let t0 = Instant::now();
    sb.run(&["redo-ifchange", "all"]).success();
    let full = t0.elapsed();
    let d = proj.diff(&sb);
    assert!(
        d.is_empty(),
        "seed {seed}: first build differs:\n{}",
        d.join("\n")
    );
    proj.check_model(&format!("seed {seed}, initial sources"));
    eprintln!("core_crash: a full build takes {full:?}");

    let errfile = tempfile::tempfile().expect("stderr file");
    let (mut kills, mut cut_short, mut stranded) = (0usize, 0usize, 0usize);
    let (mut refusing, mut differing, mut littered) = (0usize, 0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    // How long the builds of the rounds take (an incremental build is shorter than the
    // full one): the last few, a finished build by its duration, a cut-short one by
    // 1.5 times its delay. The kill comes uniformly within 1.2 times their mean.
    let mut recent: Vec<Duration> = vec![full; 4];
    let start = Instant::now();
    let mut round = 0;
    while round < ROUNDS && start.elapsed() < BUDGET {
        round += 1;
        let edits = proj.edit(&mut rng, &sb);
        let args: &[&str] = if rng.chance(1, 2) {
            &["redo", "-j3", "all"]
        } else {
            &["redo-ifchange", "all"]
        };
        // One build in four with fsync on.
        let sync = rng.chance(1, 4);
        let mean = recent.iter().sum::<Duration>() / recent.len() as u32;
        let bound = mean.mul_f64(1.2).min(full).max(Duration::from_millis(20));
        let delay = rng.duration(bound);
        errfile.set_len(0).expect("truncate");
        let t0 = Instant::now();
        let mut child = spawn_session(&sb, args, &errfile, sync);
        let sid = child.id() as i32;
        // Poll, to know when a build that beats the kill finished.
        let mut finished = None;
        while t0.elapsed() < delay {
            if let Some(st) = child.try_wait().expect("try_wait") {
                finished = Some((st, t0.elapsed()));
                break;
            }
            std::thread::sleep(Duration::from_micros(500).min(delay - t0.elapsed().min(delay)));
        }
        if finished.is_none() {
            if let Some(st) = child.try_wait().expect("try_wait") {
                finished = Some((st, t0.elapsed()));
            }
        }
        kill_session(sid);
        child.wait().expect("wait");
        kills += 1;
        if recent.len() >= 8 {
            recent.remove(0);
        }
        recent.push(match finished {
            Some((_, took)) => took,
            None => delay.mul_f64(1.5),
        });
        let ctx = format!(
            "seed {seed}, round {round}: edits {edits:?}, then {args:?} (fsync {}) killed after {delay:?}",
            if sync { "on" } else { "off" }
        );
        match finished {
            None => cut_short += 1,
            Some((st, _)) if !st.success() => failures.push(format!(
                "{ctx}: the build (not killed) failed: {st}\n{}",
                read_file(&errfile)
            )),
            Some(_) => {}
        }

        // Recovery: an ordinary build, no action by the user.
        let out = sb
            .cmd(&["redo-ifchange", "all"])
            .timeout(Duration::from_secs(30))
            .run();
        let mut problems = Vec::new();
        let mut bad: Vec<String> = refused(&out.stderr(), &targets);
        if !out.status().success() {
            problems.push(format!("recovery build failed ({})", out.status()));
        }
        if out.stderr().contains("externally modified") {
            refusing += 1;
            problems.push("recovery build refused a target as externally modified".into());
        }
        let diff = proj.diff(&sb);
        differing += usize::from(!diff.is_empty());
        for line in &diff {
            problems.push(line.clone());
            let t = line.split(':').next().unwrap_or("").to_string();
            if !bad.contains(&t) {
                bad.push(t);
            }
        }
        // A dead build's temp files are removed by the next build of their target. The
        // recovery rebuilds what is out of date; a target it found up to date (a forced
        // `redo all` killed while nothing had changed) keeps them until it is built:
        // build those now, and then nothing may be left.
        let left = temp_leftovers(&sb);
        if !left.is_empty() {
            let owners = leftover_targets(&left);
            let rebuilt = sb.cmd(&["redo"]).args(owners.iter().cloned()).run();
            let still = temp_leftovers(&sb);
            if !rebuilt.status().success() || !still.is_empty() {
                littered += 1;
                problems.push(format!(
                    "temp files {left:?} left after recovery, {still:?} after building {owners:?}: {}",
                    rebuilt.stderr()
                ));
            }
        }
        if problems.is_empty() {
            continue;
        }
        stranded += bad.len();
        failures.push(format!(
            "{ctx}:\n  {}\n--- recovery stderr ---\n{}",
            problems.join("\n  "),
            out.stderr()
        ));
        eprintln!("core_crash: FAILED {}", failures.last().unwrap());
        // Get back on track to keep counting: drop the stranded targets and rebuild.
        for t in &bad {
            sb.remove(t);
        }
        for t in &left {
            sb.remove(t);
        }
        sb.run(&["redo-ifchange", "all"]).success();
        let d = proj.diff(&sb);
        assert!(
            d.is_empty(),
            "seed {seed}, round {round}: even after removing {bad:?} the build differs:\n{}\n\
             first failure: {}",
            d.join("\n"),
            failures[0]
        );
    }
    if round < ROUNDS {
        eprintln!("core_crash: time budget reached after {round} rounds");
    }
    eprintln!(
        "core_crash: seed {seed}: kills tried {kills}, builds cut short {cut_short}, \
         targets stranded {stranded}, failed rounds {} (refused as externally modified \
         {refusing}, content differs {differing}, temp files left {littered}) (in {:?})",
        failures.len(),
        start.elapsed()
    );
    proj.check_model(&format!("seed {seed}, final sources"));
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {kills} killed builds were not recovered ({stranded} targets \
         stranded); first:\n{}",
        failures.len(),
        failures[0]
    );
}
