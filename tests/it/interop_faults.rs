//! Faults around the jobserver (spec/jobserver.md §6: S11, S12, S14, S15, S16, S18, S19):
//! leaking and killed clients, signals, bogus `MAKEFLAGS`, churn, daemons, signal storms and
//! fd-number reuse. Nothing may hang, crash, or read or write anything that is not a
//! jobserver; redo's own tokens always go back.

use crate::core_common::assert_no_temp_files;
use crate::interop_common::*;
use crate::sandbox::*;
use std::time::{Duration, Instant};

fn sb() -> Sandbox {
    Sandbox::new().timeout(Duration::from_secs(60))
}

/// redo's end-of-run check, in make's numbers (tokens in the pipe + the implicit one).
fn redo_deficit(have: usize, want: usize) -> String {
    format!("redo: warning: exiting with {have} jobserver tokens available; should be {want}")
}

// ---- S11: a .do that fails while holding tokens ------------------------------------------

/// `hog.do` takes two tokens and exits 3 without returning them while two 0.8 s siblings
/// hold slots. The build fails; the deficit is exactly the 2 stolen tokens (redo returns
/// its own), reported by whoever serves the jobserver; nothing hangs.
fn hog_project() -> Sandbox {
    let sb = sb();
    sb.write("hog.do", "jsctl take take exit:3\n");
    sb.write("all.do", "redo-ifchange hog o1.job o2.job\n");
    sb.write(
        "default.job.do",
        format!("job \"$2\" 0.8 '{}'\n", sb.abs("log")),
    );
    sb
}

#[test]
fn interop_s11_failing_hog_redo_top() {
    let sb = hog_project();
    let out = sb.run(&["redo", "-j4", "all"]);
    out.failure();
    assert_once(&out, &redo_deficit(2, 4));
    assert_no_trouble(&out, &[&redo_deficit(2, 4)]);
    assert_eq!(sb.max_overlap("log").1, 2, "the siblings ran to the end");
    assert_no_temp_files(&sb);
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s11_failing_hog_under_jsserve() {
    let sb = hog_project();
    let out = sb.run(&["jsserve", "-j4", "--", "redo", "all"]);
    out.failure();
    out.stderr_contains("jsserve: tokens left=1 expected=3 MISSING");
    assert_no_trouble(&out, &["jsserve: tokens left=1 expected=3 MISSING"]);
    assert_no_temp_files(&sb);
}

#[test]
fn interop_s11_failing_hog_under_make() {
    for m in [Make::M43, Make::M44Fifo] {
        let sb = hog_project();
        makefile(&sb, "Makefile", &[("top", &["+redo all"])]);
        let out = run_make(&sb, m, 4, &["-s", "top"]);
        out.code(2);
        let internal = "INTERNAL: Exiting with 2 jobserver tokens available; should be 4!";
        assert_once(&out, internal);
        assert_no_trouble(&out, &[internal]);
        assert_no_temp_files(&sb);
        assert_tmp_clean(&sb);
    }
}

// ---- S12: SIGKILL of a token holder; signals to the whole build ----------------------------

/// `hog.do` is `jsctl` itself (exec): it takes two tokens, writes its pid, and sleeps. The
/// test SIGKILLs that pid only. The hog fails, the three 1 s siblings finish, the build
/// fails, exactly the 2 held tokens are missing, no process is left behind.
fn killed_hog(under_jsserve: bool) {
    let sb = sb();
    let pidfile = sb.abs("hog.pid");
    sb.write(
        "hog.do",
        format!("exec jsctl take take pidfile:'{pidfile}' sleep:30 give give\n"),
    );
    sb.write("all.do", "redo-ifchange hog a1.job a2.job a3.job\n");
    sb.write(
        "default.job.do",
        format!("job \"$2\" 1 '{}'\n", sb.abs("log")),
    );
    let args: &[&str] = if under_jsserve {
        &["jsserve", "-j4", "--", "redo", "all"]
    } else {
        &["redo", "-j4", "all"]
    };
    let run = sb.cmd(args).timeout(Duration::from_secs(25)).spawn();
    sb.wait_for_file("hog.pid", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(100)); // the pid is written
    let pid: i32 = sb.read("hog.pid").trim().parse().expect("hog pid");
    // SAFETY: plain kill(2) of the hog's own pid, which is alive (it sleeps 30 s).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let out = run.wait();
    out.failure();
    if under_jsserve {
        let m = "jsserve: tokens left=1 expected=3 MISSING";
        out.stderr_contains(m);
        assert_no_trouble(&out, &[m]);
    } else {
        assert_once(&out, &redo_deficit(2, 4));
        assert_no_trouble(&out, &[&redo_deficit(2, 4)]);
    }
    assert_eq!(sb.max_overlap("log").1, 3, "the siblings ran to the end");
    assert_no_orphans(&needle(&sb), Duration::from_secs(3));
    assert_no_temp_files(&sb);
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s12_sigkill_of_a_token_holder_redo_top() {
    killed_hog(false);
}

#[test]
fn interop_s12_sigkill_of_a_token_holder_under_jsserve() {
    killed_hog(true);
}

/// A signal to the whole process group of a build running four 30 s jobs: redo exits
/// with 128+sig well before the jobs would end (the run's timeout is 20 s), its `.do`s and
/// jobs are gone, no temp file and no fifo is left, every token it took is back (its own
/// check, or jsserve's count), and the next build is not wedged.
fn signalled(sig: i32, args: &[&str], style: &str, jsserve: bool) {
    let sb = sb();
    sb.write("secs", "30\n");
    sb.write("all.do", "redo-ifchange a1.job a2.job a3.job a4.job\n");
    sb.write(
        "default.job.do",
        format!("job \"$2\" \"$(cat secs)\" '{}'\n", sb.abs("log")),
    );
    let run = sb
        .cmd(args)
        .env("REDO_JOBSERVER_STYLE", style)
        .timeout(Duration::from_secs(20))
        .spawn();
    wait_for_starts(&sb, "log", 4, Duration::from_secs(15), &run);
    std::thread::sleep(Duration::from_millis(100));
    run.signal_group(sig);
    let out = run.wait();
    let what = format!("{args:?} ({style}) signal {sig}");
    out.failure();
    assert_eq!(out.exit_code(), 128 + sig, "{what}\n{out:?}");
    if jsserve {
        out.stderr_contains("jsserve: tokens left=3 expected=3 OK");
    }
    assert_no_trouble(&out, &[]);
    assert_no_orphans(&needle(&sb), Duration::from_secs(3));
    assert_no_temp_files(&sb);
    assert_tmp_clean(&sb);
    // Not wedged: the next run builds everything.
    sb.write("secs", "0.2\n");
    let again = sb.cmd(&["redo", "-j4", "all"]).run();
    again.success();
    assert_no_trouble(&again, &[]);
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s12_sigint_to_the_group_fifo_server() {
    signalled(libc::SIGINT, &["redo", "-j4", "all"], "fifo", false);
}

#[test]
fn interop_s12_sighup_to_the_group_pipe_server() {
    signalled(libc::SIGHUP, &["redo", "-j4", "all"], "pipe", false);
}

#[test]
fn interop_s12_sigterm_to_the_group_under_jsserve() {
    signalled(
        libc::SIGTERM,
        &["jsserve", "-j4", "--", "redo", "all"],
        "pipe",
        true,
    );
}

// ---- S14: bogus MAKEFLAGS ------------------------------------------------------------------

/// One bogus-`MAKEFLAGS` case: `setup` is bash run before redo (it opens scratch fds);
/// `$S` is the project dir. Run `redo all` (4 jobs of 0.25 s): exactly one warning
/// containing `warning`, serial, success, the bad auth not passed on. Then `redo -j2 all`:
/// the user's `-j` wins silently, 2 at once, with redo's own jobserver for the children.
fn bogus(setup: &str, flags: &str, warning: &str) {
    let sb = sb().timeout(Duration::from_secs(30));
    sb.write("scratch.txt", "scratch-content\n");
    let s = sb.abs("");
    let flags = flags.replace("$S", s.trim_end_matches('/'));
    for (jobs, n, prefix) in [(None, 1usize, "a"), (Some("-j2"), 2, "b")] {
        sb.remove("log");
        leaves(&sb, "all", prefix, 4, 0.25, "log");
        let redo = match jobs {
            None => "redo all".to_string(),
            Some(j) => format!("redo {j} all"),
        };
        let out = sb
            .cmd(&["bash", "-c", &format!("{setup}\n{redo}")])
            .env("S", s.trim_end_matches('/'))
            .env("MAKEFLAGS", &flags)
            .run();
        let what = format!("MAKEFLAGS={flags:?} {redo}");
        out.success();
        if jobs.is_none() {
            assert_once(&out, warning);
            assert_eq!(
                lines_containing(&out, "warning").len(),
                1,
                "{what}: one warning\n{out:?}"
            );
            assert_no_trouble(&out, &[warning]);
        } else {
            assert_no_trouble(&out, &[]);
        }
        assert_max(&sb, "log", n, 4, &what);
        let child = sb.read("all.makeflags");
        let info = sb.read("all.info");
        if n == 1 {
            assert!(
                !child.contains("--jobserver-auth"),
                "{what}: child got {child:?}"
            );
            assert!(info.contains("style=none usable=no"), "{what}: {info}");
        } else {
            assert!(
                child.starts_with(" -j2 --jobserver-auth="),
                "{what}: child got {child:?}"
            );
            assert!(info.contains("style=pipe usable=yes"), "{what}: {info}");
            assert_eq!(recorded_count(&sb, "all"), "count=1", "{what}");
        }
        assert_eq!(sb.read("scratch.txt"), "scratch-content\n", "{what}");
        assert_tmp_clean(&sb);
    }
}

const UNAVAILABLE: &str =
    "redo: warning: jobserver unavailable: using -j1.  Add '+' to parent make rule.";

#[test]
fn interop_s14_closed_fds() {
    bogus("exec 8<&- 9<&-", " -j2 --jobserver-auth=8,9", UNAVAILABLE);
}

#[test]
fn interop_s14_negative_fds() {
    bogus("", " -j2 --jobserver-auth=-2,-2", UNAVAILABLE);
}

#[test]
fn interop_s14_regular_file_and_foreign_pipe_at_3_4() {
    // 3: a scratch regular file, read-only; 4: the write end of an unrelated pipe.
    bogus(
        "exec 3<\"$S/scratch.txt\" 4> >(cat >/dev/null)",
        " -j2 --jobserver-auth=3,4",
        UNAVAILABLE,
    );
}

#[test]
fn interop_s14_dead_pipe_and_other_pipe() {
    // 5: the read end of an empty pipe whose writer is gone (reads give EOF); 6: the
    // write end of a different pipe.
    bogus(
        "exec 5< <(true) 6> >(cat >/dev/null); sleep 0.1",
        " -j2 --jobserver-auth=5,6",
        UNAVAILABLE,
    );
}

#[test]
fn interop_s14_missing_fifo() {
    bogus(
        "",
        " -j2 --jobserver-auth=fifo:$S/nonexist",
        "cannot open jobserver",
    );
}

#[test]
fn interop_s14_regular_file_as_fifo() {
    bogus(
        "",
        " -j2 --jobserver-auth=fifo:$S/scratch.txt",
        "not a named pipe (fifo); using -j1",
    );
}

#[test]
fn interop_s14_garbage_auth() {
    bogus(
        "",
        " -j2 --jobserver-auth=garbage",
        "redo: warning: invalid --jobserver-auth string 'garbage'; using -j1",
    );
}

/// S14, stdin/stdout named as the jobserver: rejected (not pipes), and their shared flags
/// (O_NONBLOCK, access mode) are untouched; the file behind stdin is unchanged.
#[test]
fn interop_s14_stdin_stdout_as_jobserver() {
    let sb = sb().timeout(Duration::from_secs(30));
    sb.write("in.txt", "stdin-content\n");
    leaves(&sb, "all", "a", 4, 0.25, "log");
    let script = "exec 0<\"$S/in.txt\" 1>>\"$S/out.txt\"\n\
                  b=$(grep flags /proc/$$/fdinfo/0 /proc/$$/fdinfo/1)\n\
                  redo all; rc=$?\n\
                  a=$(grep flags /proc/$$/fdinfo/0 /proc/$$/fdinfo/1)\n\
                  echo \"$b\" >\"$S/flags.before\"; echo \"$a\" >\"$S/flags.after\"\n\
                  exit $rc\n";
    let out = sb
        .cmd(&["bash", "-c", script])
        .env("S", sb.abs("").trim_end_matches('/'))
        .env("MAKEFLAGS", " -j2 --jobserver-auth=0,1")
        .run();
    out.success();
    assert_once(&out, UNAVAILABLE);
    assert_no_trouble(&out, &[UNAVAILABLE]);
    assert_max(
        &sb,
        "log",
        1,
        4,
        "MAKEFLAGS=' -j2 --jobserver-auth=0,1' redo all",
    );
    assert_eq!(sb.read("flags.before"), sb.read("flags.after"));
    assert_eq!(sb.read("in.txt"), "stdin-content\n");
    assert!(!sb.read("all.makeflags").contains("--jobserver-auth"));
    assert_tmp_clean(&sb);
}

/// `jsserve --strict [extra] -jN -- cmd...`: it succeeds, every token comes back,
/// and nothing else is reported.
fn strict_jsserve(sb: &Sandbox, extra: &[&str], n: usize, cmd: &[&str]) {
    let j = format!("-j{n}");
    let mut argv = vec!["jsserve"];
    argv.extend_from_slice(extra);
    argv.extend(["--strict", j.as_str(), "--"]);
    argv.extend_from_slice(cmd);
    let out = sb.cmd(&argv).run();
    out.success();
    out.stderr_contains(&format!("jsserve: tokens left={0} expected={0} OK", n - 1));
    assert_no_trouble(&out, &["jsserve: tokens left="]);
}

/// S14: words after ` -- ` are variable definitions: the real auth before them is used
/// (redo joins jsserve's pipe, 2 at once, every token back) and the tail is kept for the
/// children.
#[test]
fn interop_s14_auth_after_double_dash_is_a_variable() {
    let sb = sb();
    leaves(&sb, "all", "a", 4, 0.4, "log");
    strict_jsserve(
        &sb,
        &[],
        2,
        &[
            "sh",
            "-c",
            "MAKEFLAGS=\"$MAKEFLAGS -- X=--jobserver-auth=7,8\" exec redo all",
        ],
    );
    assert_max(&sb, "log", 2, 4, "auth before ` -- `");
    let child = sb.read("all.makeflags");
    assert!(
        child.trim_end().ends_with(" -- X=--jobserver-auth=7,8"),
        "child got {child:?}"
    );
    assert_eq!(child.matches("--jobserver-auth=").count(), 2, "{child:?}");
    assert_tmp_clean(&sb);
}

/// S14: an inherited read end that is already `O_NONBLOCK` (what make >= 4.3 hands out)
/// works normally.
#[test]
fn interop_s14_nonblocking_inherited_pipe() {
    let sb = sb();
    leaves(&sb, "all", "a", 6, 0.4, "log");
    strict_jsserve(&sb, &["--style=pipe-nb"], 3, &["redo", "all"]);
    assert_max(&sb, "log", 3, 6, "jsserve pipe-nb -j3 -> redo");
    assert_eq!(recorded_count(&sb, "all"), "count=2");
    assert_tmp_clean(&sb);
}

// ---- S15: churn ------------------------------------------------------------------------------

/// 200 tiny always-rebuilt targets in 10 groups, all depending on one always-rebuilt
/// `base` (fan-in); every tenth runs a `make -s` of 5 tiny recipes, every tenth (another
/// one) a `jsctl try give` (a blocking `take` could deadlock: four group `.do`s may hold
/// every slot while their leaves wait, under make as under redo). Every leaf logs
/// start/end with one write per line.
fn churn_project() -> Sandbox {
    // make 4.4.1 inside: it understands both pipe and fifo (a make 4.3 below a fifo dies).
    let sb = sb()
        .timeout(Duration::from_secs(90))
        .link_bin("make", tool_make44());
    let groups: Vec<String> = (1..=10).map(|g| format!("g{g}")).collect();
    sb.write(
        "all.do",
        format!(
            "redo-ifchange {}\njsctl count >all.count 2>&1 || true\n",
            groups.join(" ")
        ),
    );
    for g in 1..=10 {
        let ts: Vec<String> = (1..=20).map(|i| format!("t{g}_{i}.t")).collect();
        sb.write(
            format!("g{g}.do"),
            format!("redo-always\nredo-ifchange {}\n", ts.join(" ")),
        );
    }
    sb.write("base.do", "redo-always\necho base\n");
    sb.write(
        "five.mk",
        "M := 1 2 3 4 5\nall: $(M)\n$(M):\n\
         \t@echo \"start $$(date +%s%N) m-$(ID)-$@\" >>$(LOG); sleep 0.01; \
         echo \"end $$(date +%s%N) m-$(ID)-$@\" >>$(LOG)\n.PHONY: all $(M)\n",
    );
    sb.write(
        "default.t.do",
        "redo-always\nredo-ifchange base\n\
         echo \"start $(date +%s%N) $2\" >>\"$LOG\"\n\
         case $2 in\n\
         *0) make -s -f five.mk ID=\"$2\" LOG=\"$LOG\" >&2 ;;\n\
         *5) jsctl try give 2>/dev/null || true ;;\n\
         *) sleep 0.02 ;;\n\
         esac\n\
         echo \"end $(date +%s%N) $2\" >>\"$LOG\"\n",
    );
    sb
}

/// A churn log: 200 targets and 100 make recipes (ids `m-*`), never more than 4 of
/// either at once (a make recipe runs in its target's slot, so the two are counted apart),
/// and not serial.
#[track_caller]
fn churn_checks(sb: &Sandbox, log: &str, what: &str) {
    let (_, jobs) = sb.max_overlap(log);
    let (tmax, tjobs) = overlap_of(sb, log, "t");
    let (mmax, mjobs) = overlap_of(sb, log, "m-");
    assert_eq!((tjobs, mjobs, jobs), (200, 100, 300), "{what}");
    assert!(
        tmax <= 4 && mmax <= 4,
        "{what}: targets max {tmax}, recipes max {mmax}"
    );
    assert!(tmax >= 2, "{what}: targets ran serially (max {tmax})");
    assert_no_temp_files(sb);
    assert_tmp_clean(sb);
    eprintln!("{what}: targets max {tmax}, make recipes max {mmax}");
}

#[test]
fn interop_s15_churn() {
    let sb = churn_project();
    let runs: [(&str, Option<Make>); 3] = [
        ("jsserve", None),
        ("make 4.3", Some(Make::M43)),
        ("make 4.4.1 fifo", Some(Make::M44Fifo)),
    ];
    makefile(&sb, "Makefile", &[("top", &["+redo all"])]);
    for (i, (what, m)) in runs.into_iter().enumerate() {
        let log = format!("log{i}");
        let out = match m {
            None => sb
                .cmd(&["jsserve", "--strict", "-j4", "--", "redo", "all"])
                .env("LOG", sb.abs(&log))
                .run(),
            Some(m) => {
                let mut argv = m.argv();
                argv.extend(["-j4".into(), "-s".into(), "top".into()]);
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                sb.cmd(&argv).env("LOG", sb.abs(&log)).run()
            }
        };
        out.success();
        assert_no_trouble(&out, &["jsserve: tokens left=3 expected=3 OK"]);
        if m.is_none() {
            out.stderr_contains("jsserve: tokens left=3 expected=3 OK");
        }
        assert_eq!(recorded_count(&sb, "all"), "count=3", "{what}");
        churn_checks(&sb, &log, what);
    }
}

#[test]
fn interop_s15_churn_redo_top() {
    let sb = churn_project();
    let out = sb
        .cmd(&["redo", "-j4", "all"])
        .env("LOG", sb.abs("log"))
        .run();
    out.success();
    assert_no_trouble(&out, &[]);
    assert_eq!(recorded_count(&sb, "all"), "count=3");
    churn_checks(&sb, "log", "redo -j4");
}

// ---- S16: a daemon holding the jobserver ---------------------------------------------------

/// `daemon.do` leaves `sleep 5` running in the background with every fd it inherited
/// (the jobserver included). redo at the top does not wait for it (it counts its tokens
/// without waiting for end-of-file); nor does make 4.4.1 in fifo mode above redo (redo
/// passes the path, the daemon holds no fifo fd). make 4.3 above redo waits for it in its
/// own exit drain: make's behaviour, recorded here as "succeeds, no INTERNAL".
#[test]
fn interop_s16_daemon_does_not_hang_the_top_level() {
    let bound = Duration::from_secs(4);
    let project = || {
        let sb = sb().timeout(Duration::from_secs(30));
        sb.write("daemon.do", "(sleep 5 &)\necho ok\n");
        makefile(&sb, "Makefile", &[("top", &["+redo daemon"])]);
        sb
    };
    for style in ["pipe", "fifo"] {
        let sb = project();
        let out = sb
            .cmd(&["redo", "-j2", "daemon"])
            .env("REDO_JOBSERVER_STYLE", style)
            .run();
        out.success();
        assert_no_trouble(&out, &[]);
        assert!(
            out.elapsed() < bound,
            "redo -j2 ({style}) took {:?}",
            out.elapsed()
        );
        assert_eq!(sb.read("daemon"), "ok\n");
        assert_tmp_clean(&sb);
    }
    let sb = project();
    let out = run_make(&sb, Make::M44Fifo, 2, &["-s", "top"]);
    out.success();
    assert_no_trouble(&out, &[]);
    assert!(
        out.elapsed() < bound,
        "make 4.4.1 fifo took {:?}",
        out.elapsed()
    );
    let sb = project();
    let t0 = Instant::now();
    let out = run_make(&sb, Make::M43, 2, &["-s", "top"]);
    out.success();
    assert_no_trouble(&out, &[]);
    eprintln!(
        "make 4.3 -j2 -> +redo daemon: {:?} (make drains until the daemon exits)",
        t0.elapsed()
    );
}

// ---- S18: foreign O_NONBLOCK and signal storms ----------------------------------------------

/// redo (no `-j`) as a client of a blocking pipe (`jsserve --style=pipe -j3`), with a
/// `.do` running ninja (which flips the shared read end to `O_NONBLOCK` mid-build) and a
/// `.do` that showers itself, its redo and the top redo with SIGWINCH/SIGCHLD while the
/// other jobs run. At most 3 at once, every token back, no EAGAIN/EINTR surfaced.
#[test]
fn interop_s18_nonblock_flip_and_signal_storm() {
    let sb = sb().link_bin("ninja", tool_ninja());
    let log = sb.abs("log");
    let mut nj = format!("rule j\n  command = job $out 0.5 '{log}'\n");
    for i in 1..=6 {
        nj.push_str(&format!("build n{i}: j\n"));
    }
    sb.write("nj/build.ninja", nj);
    sb.write("ninja.do", "cd nj && ninja >&2\n");
    sb.write(
        "all.do",
        "echo $PPID >top.pid\nredo-ifchange ninja storm a1.job a2.job a3.job a4.job\n",
    );
    sb.write(
        "storm.do",
        format!(
            "echo \"start $(date +%s%N) storm\" >>'{log}'\n\
             top=$(cat top.pid); i=0\n\
             while [ $i -lt 150 ]; do\n\
             kill -WINCH $PPID $top $$; kill -CHLD $PPID $top; i=$((i+1)); sleep 0.01\n\
             done\n\
             echo \"end $(date +%s%N) storm\" >>'{log}'\n"
        ),
    );
    sb.write("default.job.do", format!("job \"$2\" 0.5 '{log}'\n"));
    let out = sb
        .cmd(&[
            "jsserve",
            "--style=pipe",
            "--strict",
            "-j3",
            "--",
            "redo",
            "all",
        ])
        .run();
    out.success();
    out.stderr_contains("jsserve: tokens left=2 expected=2 OK");
    assert_no_trouble(
        &out,
        &[NINJA_PIPE[0], NINJA_PIPE[1], "jsserve: tokens left=2"],
    );
    let (max, jobs) = sb.max_overlap("log");
    assert_eq!(
        jobs,
        11,
        "6 ninja edges, 4 jobs, the storm\n{}",
        sb.read("log")
    );
    assert!(max <= 3, "max {max} > 3\n{}", sb.read("log"));
    assert!(max >= 2, "max {max}: ran serially\n{}", sb.read("log"));
    assert_tmp_clean(&sb);
    eprintln!("S18: max {max} of 3");
}

// ---- S19: fd numbers of a non-recursive make line reused by unrelated files ----------------

/// A recipe without `+` whose shell opens fds 3 (a read-only scratch file) and 4
/// (`/dev/null`) before running redo, while MAKEFLAGS still names `3,4` (make 4.3; and make
/// 4.4.1 pipe when another line of the recipe has `+`, so no `-2,-2` is added). redo
/// rejects them (not one pipe), warns once, runs serially, and reads and writes nothing.
fn reused_fds(m: Make, recipe: &[&str]) {
    let sb = sb();
    sb.write("scratch.txt", "scratch-content\n");
    leaves(&sb, "all", "a", 4, 0.25, "log");
    makefile(&sb, "Makefile", &[("top", recipe)]);
    let out = run_make(&sb, m, 2, &["-s", "top"]);
    let what = format!("{} -j2, fds 3,4 reused", m.label());
    out.success();
    assert!(
        sb.read("mf").contains("--jobserver-auth=3,4"),
        "{what}: precondition: MAKEFLAGS names 3,4: {}",
        sb.read("mf")
    );
    assert_once(&out, UNAVAILABLE);
    assert_no_trouble(&out, &[UNAVAILABLE]);
    assert_max(&sb, "log", 1, 4, &what);
    assert_eq!(sb.read("scratch.txt"), "scratch-content\n", "{what}");
    assert!(
        !sb.read("all.makeflags").contains("--jobserver-auth"),
        "{what}"
    );
}

const REUSE: &str = "echo \"$$MAKEFLAGS\" >mf; sh -c 'exec 3<scratch.txt 4>/dev/null; redo all'";

#[test]
fn interop_s19_make43_reused_fds() {
    reused_fds(Make::M43, &[REUSE]);
}

#[test]
fn interop_s19_make44_pipe_reused_fds() {
    reused_fds(Make::M44Pipe, &["+@true", REUSE]);
}
