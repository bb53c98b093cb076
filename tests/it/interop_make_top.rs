//! Interop with GNU make as the top-level jobserver and redo below it (spec/jobserver.md §6:
//! S3, S4, S5, S10, S20), for make 4.3 (pipe), make 4.4.1 `--jobserver-style=pipe` and make
//! 4.4.1 (fifo, its default).

use crate::interop_common::*;
use crate::sandbox::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn sb() -> Sandbox {
    Sandbox::new().timeout(Duration::from_secs(60))
}

/// `Makefile`: `top` runs RECIPE (a `+redo all` or similar line) with `jsctl info` before
/// and after it, so the test sees the inherited read end's `O_NONBLOCK` flag (shared with
/// make) before and after redo ran.
fn make_project(recipe: &str, n_leaves: usize) -> Sandbox {
    let sb = sb();
    leaves(&sb, "all", "a", n_leaves, 0.5, "log");
    makefile(
        &sb,
        "Makefile",
        &[(
            "top",
            &[&format!(
                "{}jsctl info >info.before 2>&1; {}; jsctl info >info.after 2>&1",
                if recipe.starts_with('+') { "+" } else { "" },
                recipe.trim_start_matches('+')
            )],
        )],
    );
    sb
}

/// Samples `jscount` on a running make (its jobserver is the only pipe or fifo it holds)
/// until the run ends; returns the largest byte count seen.
fn run_sampling(sb: &Sandbox, argv: &[String]) -> (Output, usize) {
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    let run = sb.cmd(&args).spawn();
    let pid = run.pid().to_string();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut most = 0usize;
            while !done.load(Ordering::SeqCst) {
                let o = sb
                    .cmd(&["jscount", &pid])
                    .timeout(Duration::from_secs(20))
                    .run();
                for l in o.stdout().lines() {
                    if let Some(b) = l.rsplit_once("bytes=").and_then(|(_, b)| b.parse().ok()) {
                        most = most.max(b);
                    }
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            most
        });
        let out = run.wait();
        done.store(true, Ordering::SeqCst);
        (out, sampler.join().unwrap())
    })
}

/// S3 (pipe styles, `+redo`) and S5 (make 4.4.1 fifo, `+redo`): redo joins make's
/// jobserver silently and the whole tree runs exactly N jobs; make finds every token back
/// (no INTERNAL line, and a `.do` counts N-1 once the parallel part is over); the pool never
/// holds more than N-1 tokens while running; the shared read end's flags are left as make
/// set them (`O_NONBLOCK`); no fifo is left.
fn plus_redo(m: Make, n: usize) {
    let sb = make_project("+redo all", 6);
    let mut argv = m.argv();
    argv.extend([format!("-j{n}"), "-s".into(), "top".into()]);
    let (out, most) = run_sampling(&sb, &argv);
    let what = format!("{} -j{n} -> +redo", m.label());
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(&sb, "log", n, 6, &what);
    assert_eq!(
        recorded_count(&sb, "all"),
        format!("count={}", n - 1),
        "{what}"
    );
    assert!(
        most < n,
        "{what}: jscount saw {most} tokens, more than {}",
        n - 1
    );
    eprintln!("{what}: at most {most} tokens seen in make's jobserver while running");
    let (before, after) = (sb.read("info.before"), sb.read("info.after"));
    let flags = sb.read("all.makeflags");
    match m {
        Make::M44Fifo => {
            assert!(before.contains("style=fifo usable=yes"), "{what}: {before}");
            assert!(flags.contains("--jobserver-auth=fifo:"), "{what}: {flags}");
            assert!(
                sb.read("all.info").contains("style=fifo usable=yes"),
                "{what}"
            );
        }
        _ => {
            assert!(
                before.contains("style=pipe usable=yes nonblock=1"),
                "{what}: {before}"
            );
            assert!(
                after.contains("style=pipe usable=yes nonblock=1"),
                "{what}: redo changed the shared flags: {after}"
            );
            assert!(
                sb.read("all.info").contains("style=pipe usable=yes"),
                "{what}"
            );
        }
    }
    assert!(flags.contains(&format!(" -j{n} ")), "{what}: {flags}");
    assert_eq!(
        flags.matches("--jobserver-auth=").count(),
        1,
        "{what}: {flags}"
    );
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s3_make43_plus_redo() {
    plus_redo(Make::M43, 2);
    plus_redo(Make::M43, 4);
}

#[test]
fn interop_s3_make44_pipe_plus_redo() {
    plus_redo(Make::M44Pipe, 2);
    plus_redo(Make::M44Pipe, 4);
}

#[test]
fn interop_s5_make44_fifo_plus_redo() {
    plus_redo(Make::M44Fifo, 2);
    plus_redo(Make::M44Fifo, 4);
}

/// S4 with a pipe: a recipe without `+` gives redo an auth that names closed fds (make
/// 4.3) or `-2,-2` (make 4.4.1 pipe). redo warns once in make's words, runs serially,
/// succeeds, and does not pass the dead auth on.
fn no_plus_pipe(m: Make) {
    let sb = make_project("redo all", 4);
    let out = run_make(&sb, m, 2, &["-s", "top"]);
    let what = format!("{} -j2 -> redo (no +)", m.label());
    out.success();
    assert_once(
        &out,
        "redo: warning: jobserver unavailable: using -j1.  Add '+' to parent make rule.",
    );
    assert_no_trouble(&out, &["redo: warning: jobserver unavailable: using -j1."]);
    assert_max(&sb, "log", 1, 4, &what);
    let flags = sb.read("all.makeflags");
    assert!(
        !flags.contains("--jobserver-auth"),
        "{what}: child got {flags:?}"
    );
    assert!(
        sb.read("all.info").contains("style=none usable=no"),
        "{what}: {}",
        sb.read("all.info")
    );
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s4_make43_without_plus_warns_and_runs_serially() {
    no_plus_pipe(Make::M43);
}

#[test]
fn interop_s4_make44_pipe_without_plus_warns_and_runs_serially() {
    no_plus_pipe(Make::M44Pipe);
}

/// S4, make 4.4.1 fifo: the fifo reaches recipes without `+` too, so redo joins silently
/// (as a sub-make would) and runs N jobs.
#[test]
fn interop_s4_make44_fifo_without_plus_joins() {
    let sb = make_project("redo all", 6);
    let out = run_make(&sb, Make::M44Fifo, 3, &["-s", "top"]);
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(&sb, "log", 3, 6, "make 4.4.1 fifo -j3 -> redo (no +)");
    assert_eq!(recorded_count(&sb, "all"), "count=2");
    assert_tmp_clean(&sb);
}

/// S5: redo passes a joined fifo on unchanged (ferredo's decision, as make 4.4.1 does), so
/// a make 4.3 below it dies on `fifo:` exactly as it would under make 4.4.1 itself; the
/// build fails cleanly and make 4.4.1 still gets every token back.
#[test]
fn interop_s5_make44_fifo_then_make43_below_redo() {
    let sb = sb().link_bin("make", tool_make43());
    sb.write("sub.mk", "all:\n\t@echo sub\n");
    sb.write("all.do", "make -s -f sub.mk >&2\n");
    makefile(&sb, "Makefile", &[("top", &["+redo all"])]);
    let out = run_make(&sb, Make::M44Fifo, 2, &["-s", "top"]);
    out.failure();
    out.stderr_contains("internal error: invalid --jobserver-auth string 'fifo:");
    out.stderr_lacks("INTERNAL");
    out.stderr_lacks("redo: warning");
    assert_tmp_clean(&sb);
}

/// S10: make -> redo -> make -> redo. `deep.do` runs a plain `make` (joins what redo
/// passes down) whose three recipes each `+redo-ifchange` two 0.8 s jobs: six ready, three
/// slots. Every level sees one auth word and the innermost `.do` a usable jobserver. Both
/// `.do` levels record their open fds (`*.fds`, `*.fdl`) for `interop_s10_no_fd_leak_per_level`.
fn deep(top: Option<Make>) -> Sandbox {
    let inner = match top {
        Some(Make::M43) => tool_make43(),
        _ => tool_make44(),
    };
    let sb = sb().link_bin("make", inner);
    let log = sb.abs("log");
    makefile(&sb, "Makefile.deep", &[("top", &["+redo deep"])]);
    sb.write(
        "deep.do",
        "ls /proc/$$/fd | wc -l >deep.fds\nls -l /proc/$$/fd >deep.fdl\necho \"$MAKEFLAGS\" >deep.mf\nmake -s -f deep.mk >&2\n",
    );
    makefile(
        &sb,
        "deep.mk",
        &[
            ("all", &[]),
            ("t1", &["+redo-ifchange b1.job b2.job"]),
            ("t2", &["+redo-ifchange b3.job b4.job"]),
            ("t3", &["+redo-ifchange b5.job b6.job"]),
        ],
    );
    // `all` depends on the three.
    let mk = sb.read("deep.mk").replace("all:\n", "all: t1 t2 t3\n");
    sb.write("deep.mk", mk);
    sb.write(
        "default.job.do",
        format!(
            "ls /proc/$$/fd | wc -l >\"$2.fds\"\nls -l /proc/$$/fd >\"$2.fdl\"\necho \"$MAKEFLAGS\" >\"$2.mf\"\n\
             jsctl info >\"$2.info\" 2>&1\njob \"$2\" 0.8 '{log}'\n"
        ),
    );
    let (out, what) = match top {
        Some(m) => (
            run_make(&sb, m, 3, &["-s", "-f", "Makefile.deep", "top"]),
            format!("{} -j3 -> redo -> make -> redo", m.label()),
        ),
        None => (
            sb.run(&["redo", "-j3", "deep"]),
            "redo -j3 -> make -> redo".to_string(),
        ),
    };
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(&sb, "log", 3, 6, &what);
    let mf = sb.read("deep.mf");
    assert_eq!(mf.matches("--jobserver-auth=").count(), 1, "{what}: {mf}");
    for i in 1..=6 {
        let b = format!("b{i}");
        let mf = sb.read(format!("{b}.mf"));
        assert_eq!(
            mf.matches("--jobserver-auth=").count(),
            1,
            "{what}: {b}: {mf}"
        );
        let info = sb.read(format!("{b}.info"));
        assert!(info.contains("usable=yes"), "{what}: {b}: {info}");
    }
    assert_tmp_clean(&sb);
    sb
}

#[test]
fn interop_s10_deep_make43() {
    deep(Some(Make::M43));
}

#[test]
fn interop_s10_deep_make44_pipe() {
    deep(Some(Make::M44Pipe));
}

#[test]
fn interop_s10_deep_make44_fifo() {
    deep(Some(Make::M44Fifo));
}

#[test]
fn interop_s10_deep_redo_top() {
    deep(None);
}

/// S10 "no fd leak per level": the innermost `.do` (make 4.3 -> redo -> make -> redo ->
/// `bK.job.do`) has no more open fds than `deep.do` one redo level up. Every redo level
/// passes its own jobserver copies and its own `REDO_DEP_FD`, nothing it inherited.
#[test]
fn interop_s10_no_fd_leak_per_level() {
    let sb = deep(Some(Make::M43));
    // Count from the `ls -l` listing: `ls | wc -l` races with the shell's own
    // pipe fds and is not a stable measure.
    let count = |f: &str| sb.read(f).lines().filter(|l| l.starts_with('l')).count();
    let deep_fds = count("deep.fdl");
    for i in 1..=6 {
        let b = format!("b{i}");
        let fds = count(&format!("{b}.fdl"));
        assert!(
            fds <= deep_fds,
            "{b} has {fds} fds, deep.do had {deep_fds}\n--- {b}.job.do ---\n{}--- deep.do ---\n{}",
            sb.read(format!("{b}.fdl")),
            sb.read("deep.fdl")
        );
    }
}

/// S20: two independent redo builds (`+cd dirA && redo all`, `+cd dirB && redo all`) under
/// one `make -j3` share its three slots: eight jobs ready, exactly three at once.
fn two_builds(m: Make) {
    let sb = sb();
    let log = sb.abs("log");
    for d in ["dirA", "dirB"] {
        let p = &d[3..].to_lowercase();
        sb.write(
            format!("{d}/all.do"),
            format!("redo-ifchange {p}1.job {p}2.job {p}3.job {p}4.job\n"),
        );
        sb.write(
            format!("{d}/default.job.do"),
            format!("job \"$2\" 0.6 '{log}'\n"),
        );
    }
    makefile(
        &sb,
        "Makefile",
        &[
            ("top", &[]),
            ("A", &["+cd dirA && redo all"]),
            ("B", &["+cd dirB && redo all"]),
        ],
    );
    let mk = sb.read("Makefile").replace("top:\n", "top: A B\n");
    sb.write("Makefile", mk);
    let out = run_make(&sb, m, 3, &["-s", "top"]);
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(
        &sb,
        "log",
        3,
        8,
        &format!("{} -j3, two redo builds", m.label()),
    );
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s20_two_builds_share_make43_pool() {
    two_builds(Make::M43);
}

#[test]
fn interop_s20_two_builds_share_make44_fifo_pool() {
    two_builds(Make::M44Fifo);
}

/// make 4.4.1 escapes a blank in its fifo's path (`fifo:/t/sp\ ace/GMfifoN`): redo joins
/// it (the escape undone) and passes it on escaped, so a make below joins it too; the
/// whole tree runs N wide.
#[test]
fn interop_s5_make44_fifo_in_a_directory_with_a_space() {
    let sb = make_project("+redo all", 4);
    let tmp = sb.path("sp ace");
    std::fs::create_dir(&tmp).unwrap();
    let mut argv = Make::M44Fifo.argv();
    argv.extend(["-j4".into(), "-s".into(), "top".into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = sb.cmd(&argv).env("TMPDIR", &tmp).run();
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(&sb, "log", 4, 4, "make 4.4.1 fifo in 'sp ace' -> +redo");
    let flags = sb.read("all.makeflags");
    assert!(flags.contains("sp\\ ace/GMfifo"), "{flags}");
}
