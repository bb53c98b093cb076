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
    let end = Instant::now() + Duration::from_secs(15);
    while !sb.exists("started.a") && !sb.exists("started.b") {
        assert!(
            Instant::now() < end,
            "no job started\n{}",
            run.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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

#[test]
fn a_do_starts_with_no_signal_blocked_or_ignored_and_no_handler_of_ours() {
    // redo handles SIGINT/SIGTERM/SIGHUP and ignores SIGPIPE, and blocks every
    // signal around a spawn: none of that may reach a .do (grep is the .do's child).
    let sb = new_sb()
        .file(
            "default.s.do",
            "grep -E '^Sig(Blk|Ign)' /proc/self/status\n",
        )
        .file("all.do", "redo-ifchange a.s b.s\ncat a.s b.s\n");
    sb.run(&["redo", "-j2", "all"]).success();
    for t in ["a.s", "b.s"] {
        let out = sb.read(t);
        let mask = |name: &str| {
            let line = out.lines().find(|l| l.starts_with(name)).expect(name);
            u64::from_str_radix(line[name.len()..].trim(), 16).expect("a hex mask")
        };
        assert_eq!(mask("SigBlk:"), 0, "{t}: {out}");
        // Signal 32 is glibc's own: its posix_spawn (how the harness starts redo)
        // leaves it ignored, and an ignored signal stays ignored across exec.
        assert_eq!(mask("SigIgn:") & !(1 << 31), 0, "{t}: {out}");
    }
}
