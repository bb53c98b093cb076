//! Interruption (issue 2 "Signals", spec/goredo.md §6.3): SIGINT/SIGTERM mid-build exit
//! promptly, remove temp files, keep the old targets and their .dep, wedge nothing.

use crate::core_common::*;
use crate::sandbox::*;
use std::time::{Duration, Instant};

/// `a.s` and `b.s` are built by a .do that, while `slowmode` exists, announces itself
/// in `started.<name>` and sleeps long (`sleep` is `exec`'d when `exec_sleep`).
fn project(exec_sleep: bool) -> Sandbox {
    let sleep = if exec_sleep {
        "exec sleep 30"
    } else {
        "sleep 30"
    };
    let sb = new_sb()
        .file("ver", "old\n")
        .file(
            "default.s.do",
            format!(
                "redo-ifchange ver\necho \"$2 $(cat ver)\"\necho \"$2 partial\" >\"$3\"\n\
                 if [ -e slowmode ]; then touch \"started.$2\"; {sleep}; fi\n\
                 rm -f \"$3\"\n"
            ),
        )
        .file("all.do", "redo-ifchange a.s b.s\ncat a.s b.s\n")
        .timeout(Duration::from_secs(40));
    sb.run(&["redo", "all"]).success();
    assert_eq!(sb.read("all"), "a old\nb old\n");
    sb
}

/// Wait (15 s at most) until a job of [`project`] in slow mode has started.
fn await_a_start(sb: &Sandbox, run: &Running) {
    let end = Instant::now() + Duration::from_secs(15);
    while !sb.exists("started.a") && !sb.exists("started.b") {
        assert!(
            Instant::now() < end,
            "no job started\n{}",
            run.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn interrupted(sig: i32, whole_group: bool, jobs: &str) {
    let sb = project(!whole_group);
    let deps: Vec<Vec<u8>> = ["a.s", "b.s", "all"]
        .iter()
        .map(|t| sb.read_bytes(dep_path(t)))
        .collect();
    sb.write("ver", "new\n");
    sb.touch("slowmode");
    // Signalled alone, redo can only reach its direct children: build the leaves
    // directly (a nested redo under a killed shell would survive, as under goredo).
    let args: &[&str] = if whole_group {
        &["redo", jobs, "all"]
    } else {
        &["redo-ifchange", jobs, "a.s", "b.s"]
    };
    let run = sb.cmd(args).spawn();
    await_a_start(&sb, &run);
    // Let the other job (with -j2) start too, and its temp files exist.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !temp_files(&sb).is_empty(),
        "the running jobs should have temp files now"
    );
    let t0 = Instant::now();
    if whole_group {
        run.signal_group(sig);
    } else {
        run.signal(sig);
    }
    let out = run.wait();
    let took = t0.elapsed();
    out.failure();
    assert_eq!(
        out.exit_code(),
        128 + sig,
        "exit with the signal's status\n{out:?}"
    );
    assert!(took < Duration::from_secs(5), "exit took {took:?}\n{out:?}");
    assert_no_temp_files(&sb);
    assert_eq!(sb.read("a.s"), "a old\n");
    assert_eq!(sb.read("b.s"), "b old\n");
    assert_eq!(sb.read("all"), "a old\nb old\n");
    for (t, d) in ["a.s", "b.s", "all"].iter().zip(&deps) {
        assert_eq!(&sb.read_bytes(dep_path(t)), d, "{t}.dep changed");
    }
    // Nothing is wedged: the next build runs to completion.
    sb.remove("slowmode");
    sb.cmd(&["redo-ifchange", jobs, "all"])
        .timeout(Duration::from_secs(20))
        .run()
        .success();
    assert_eq!(sb.read("all"), "a new\nb new\n");
    assert_no_temp_files(&sb);
}

#[test]
fn sigint_to_the_group_mid_build() {
    interrupted(libc::SIGINT, true, "-j2");
}

#[test]
fn sigint_to_the_group_mid_build_serial() {
    interrupted(libc::SIGINT, true, "-j1");
}

#[test]
fn sigterm_to_the_group_mid_build() {
    interrupted(libc::SIGTERM, true, "-j2");
}

#[test]
fn sigterm_to_redo_alone_is_passed_to_the_jobs() {
    // Only redo gets the signal (kill PID): it must pass it on to the running jobs.
    interrupted(libc::SIGTERM, false, "-j2");
}

#[test]
fn sigint_to_redo_alone_is_passed_to_the_jobs() {
    interrupted(libc::SIGINT, false, "-j1");
}

/// A signal mask from `/proc/<pid>/status` text (`SigBlk:`, `SigIgn:`).
fn mask(status: &str, name: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {status}"));
    u64::from_str_radix(line[name.len()..].trim(), 16).expect("a hex mask")
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Signal 32 is glibc's own: the C library of the harness may leave it ignored in
/// what it starts, and an ignored signal stays ignored across exec.
const GLIBC_32: u64 = 1 << 31;

/// `a.s` and `b.s` record their own blocked and ignored signals (grep is the .do's
/// child: the .do's own sets reach it through exec).
fn reporting_project() -> Sandbox {
    new_sb()
        .file(
            "default.s.do",
            "grep -E '^Sig(Blk|Ign)' /proc/self/status\n",
        )
        .file("all.do", "redo-ifchange a.s b.s\ncat a.s b.s\n")
}

#[test]
fn a_do_starts_with_no_signal_blocked_or_ignored_and_no_handler_of_ours() {
    // redo handles SIGINT/SIGTERM/SIGHUP and ignores SIGPIPE, and blocks every
    // signal around a spawn: none of that may reach a .do, which gets what redo was
    // started with (by the sandbox: nothing blocked or ignored).
    let sb = reporting_project();
    sb.run(&["redo", "-j2", "all"]).success();
    for t in ["a.s", "b.s"] {
        let out = sb.read(t);
        assert_eq!(mask(&out, "SigBlk:"), 0, "{t}: {out}");
        assert_eq!(mask(&out, "SigIgn:") & !GLIBC_32, 0, "{t}: {out}");
    }
}

#[test]
fn signals_redo_was_started_with_ignored_stay_ignored_in_it_and_its_dos() {
    // As GNU make keeps them (a background job of a shell without job control): the
    // .do inherits them ignored, and a SIGINT to redo does not stop the build.
    let fatal = bit(libc::SIGINT) | bit(libc::SIGTERM) | bit(libc::SIGHUP);
    let sb = reporting_project();
    sb.run(&["sh", "-c", "trap '' INT TERM HUP; exec redo -j2 all"])
        .success();
    for t in ["a.s", "b.s"] {
        let out = sb.read(t);
        assert_eq!(mask(&out, "SigBlk:"), 0, "{t}: {out}");
        assert_eq!(mask(&out, "SigIgn:") & !GLIBC_32, fatal, "{t}: {out}");
    }
    let sb = project(true);
    sb.write("ver", "new\n");
    sb.touch("slowmode");
    sb.write(
        "default.s.do",
        "redo-ifchange ver\necho \"$2 $(cat ver)\"\n\
         if [ -e slowmode ]; then touch \"started.$2\"; sleep 1; fi\n",
    );
    let run = sb
        .cmd(&["sh", "-c", "trap '' INT; exec redo-ifchange -j2 a.s b.s"])
        .spawn();
    await_a_start(&sb, &run);
    run.signal(libc::SIGINT);
    run.wait().success();
    assert_eq!(sb.read("a.s"), "a new\n");
    assert_eq!(sb.read("b.s"), "b new\n");
}

/// A project whose `T.do` runs while the file `hold` exists, and a build of it
/// started and running (`started` exists).
fn held(t: &str) -> (Sandbox, Running) {
    let sb = new_sb()
        .file(
            format!("{t}.do"),
            format!("touch started\nwhile [ -e hold ]; do sleep 0.05; done\necho {t}\n"),
        )
        .timeout(Duration::from_secs(30));
    sb.touch("hold");
    let run = sb.cmd(&["redo", t]).spawn();
    sb.wait_for_file("started", Duration::from_secs(10));
    (sb, run)
}

/// Once `waiter` waits (300 ms), `sig` stops it at once with the signal's status.
fn stops_at_once(waiter: Running, sig: i32) {
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    waiter.signal(sig);
    let out = waiter.wait();
    assert_eq!(out.exit_code(), 128 + sig, "{out:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_signal_stops_a_redo_waiting_for_another_builds_lock() {
    // The holder (another build) does not get our signal; the waiter must stop
    // waiting, at once, and exit with the signal's status.
    let (sb, holder) = held("x");
    for sig in [libc::SIGTERM, libc::SIGINT] {
        stops_at_once(sb.cmd(&["redo-ifchange", "x"]).spawn(), sig);
    }
    sb.remove("hold");
    holder.wait().success();
    assert_eq!(sb.read("x"), "x\n");
    assert_no_temp_files(&sb);
}

#[test]
fn a_signal_stops_a_redo_waiting_for_an_orphaned_do() {
    // A killed build's .do still runs (an orphan holding the target's dep temp): the
    // next build of the target waits for it, and a signal must stop that wait too.
    let (sb, killed) = held("t");
    killed.signal(libc::SIGKILL);
    let _ = killed.wait();
    stops_at_once(sb.cmd(&["redo", "t"]).spawn(), libc::SIGTERM);
    sb.remove("hold");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "t\n");
}
