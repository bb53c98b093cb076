//! Interop with make, cargo and ninja run from `.do` files under a redo jobserver
//! (spec/jobserver.md §6: S6, S7, S8, S9).

use crate::interop_common::*;
use crate::sandbox::*;
use std::time::Duration;

fn sb() -> Sandbox {
    Sandbox::new().timeout(Duration::from_secs(90))
}

const SUB_MK: &str =
    "M := m1 m2 m3 m4 m5 m6\nall: $(M)\n$(M):\n\t@job $@ 0.8 $(LOG)\n.PHONY: all $(M)\n";

/// S6: `mk.do` runs a plain `make` (6 independent 0.8 s recipes) while three other redo
/// jobs are ready, under `redo -j3`: the whole tree runs exactly 3 at once; make prints
/// nothing; after make left the shared read end `O_NONBLOCK` (as every make >= 4.3 does),
/// redo still runs the next parallel stage 3-wide and gets every token back.
fn make_below(make: std::path::PathBuf, label: &str) {
    let sb = sb().link_bin("make", make);
    let log = sb.abs("log");
    sb.write("sub.mk", SUB_MK);
    sb.write("mk.do", format!("make -s -f sub.mk LOG='{log}' >&2\n"));
    sb.write(
        "all.do",
        "redo-ifchange mk x1.job x2.job x3.job\n\
         jsctl info >after-make.info 2>&1\n\
         redo-ifchange y1.job y2.job y3.job y4.job\n\
         jsctl count >all.count\n",
    );
    sb.write("default.job.do", format!("job \"$2\" 0.8 '{log}'\n"));
    let out = sb.run(&["redo", "-j3", "all"]);
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(
        &sb,
        "log",
        3,
        13,
        &format!("redo -j3 -> {label} + redo jobs"),
    );
    assert_eq!(
        overlap_of(&sb, "log", "y"),
        (3, 4),
        "{label}: the stage after make\n{}",
        sb.read("log")
    );
    let info = sb.read("after-make.info");
    assert!(
        info.contains("style=pipe usable=yes nonblock=1"),
        "{label} should have left the read end O_NONBLOCK: {info}"
    );
    assert_eq!(sb.read("all.count").trim(), "count=2", "{label}");
    assert_tmp_clean(&sb);
}

#[test]
fn interop_s6_make43_under_redo() {
    make_below(tool_make43(), "make 4.3");
}

#[test]
fn interop_s6_make44_under_redo() {
    make_below(tool_make44(), "make 4.4.1");
}

/// S6 with `make -j4` in the `.do`: make says `-j4 forced in submake` and starts its own
/// 4-slot jobserver (not a redo bug: the same happens under make).
#[test]
fn interop_s6_make_forced_j4_under_redo() {
    for make in [tool_make43(), tool_make44()] {
        let sb = sb().link_bin("make", &make);
        sb.write("sub.mk", SUB_MK);
        sb.write(
            "mk.do",
            format!("make -s -j4 -f sub.mk LOG='{}' >&2\n", sb.abs("log")),
        );
        let out = sb.run(&["redo", "-j3", "mk"]);
        out.success();
        assert_once(
            &out,
            "warning: -j4 forced in submake: resetting jobserver mode.",
        );
        assert_no_trouble(&out, &["-j4 forced in submake: resetting jobserver mode."]);
        assert_max(
            &sb,
            "log",
            4,
            6,
            &format!("redo -j3 -> {} -j4", make.display()),
        );
        assert_tmp_clean(&sb);
    }
}

/// S7: cargo in a `.do` under `redo -jN` shares the N slots (six build scripts of 0.8 s,
/// all ready at once): with plain `cargo build`; with `cargo build -j6` (cargo ignores its
/// `-j` and says so); and with an empty `CARGO_MAKEFLAGS` inherited from outside, which
/// would shadow `MAKEFLAGS` for cargo if redo did not set it for its children. No
/// "failed to connect" warning; every token back.
#[test]
fn interop_s7_cargo_under_redo() {
    let sb = with_cargo_ws(sb());
    let cases: [(&str, usize, &str, bool); 3] = [
        ("", 3, "redo -j3 -> cargo build", false),
        ("-j6", 3, "redo -j3 -> cargo build -j6", false),
        ("", 2, "CARGO_MAKEFLAGS= redo -j2 -> cargo build", true),
    ];
    for (i, (args, n, what, empty_cmf)) in cases.into_iter().enumerate() {
        sb.write(
            "cargo.do",
            format!(
                "cd '{}' && cargo build {args} >&2\njsctl count >'{}'\n",
                sb.abs("cw"),
                sb.abs("cargo.count")
            ),
        );
        let log = format!("log{i}");
        let mut cmd = sb.cmd(&["redo", &format!("-j{n}"), "cargo"]);
        for (k, v) in cargo_run_env(&sb, &log, &format!("s7-{i}")) {
            cmd = cmd.env(k, v);
        }
        if empty_cmf {
            cmd = cmd.env("CARGO_MAKEFLAGS", "");
        }
        let out = cmd.run();
        out.success();
        if args == "-j6" {
            assert_once(&out, CARGO_J_IGNORED);
        }
        assert_no_trouble(&out, &[CARGO_J_IGNORED]);
        assert_cargo_max(&sb, &log, n, what);
        assert_eq!(
            sb.read("cargo.count").trim(),
            format!("count={}", n - 1),
            "{what}"
        );
        assert_tmp_clean(&sb);
    }
}

/// S8: make -> `+redo cargo` -> cargo: redo passes make's jobserver through (pipe or
/// fifo) in `MAKEFLAGS` and `CARGO_MAKEFLAGS`; the six build scripts run exactly 2 at
/// once under `make -j2`; make finds every token back; no warning anywhere.
#[test]
fn interop_s8_make_redo_cargo() {
    let sb = with_cargo_ws(sb());
    cargo_do(&sb, "cargo", "");
    makefile(&sb, "Makefile", &[("top", &["+redo cargo"])]);
    for (i, m) in Make::ALL.into_iter().enumerate() {
        let log = format!("log{i}");
        let mut argv = m.argv();
        argv.extend(["-j2".into(), "-s".into(), "top".into()]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = sb.cmd(&argv);
        for (k, v) in cargo_run_env(&sb, &log, &format!("s8-{i}")) {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        let what = format!("{} -j2 -> redo -> cargo", m.label());
        out.success();
        assert_no_trouble(&out, &[]);
        assert_cargo_max(&sb, &log, 2, &what);
        assert_tmp_clean(&sb);
    }
}

/// A ninja project of six independent 0.8 s edges logging to `log`.
fn ninja_project(sb: &Sandbox) {
    let mut nj = format!("rule j\n  command = job $out 0.8 '{}'\n", sb.abs("log"));
    for i in 1..=6 {
        nj.push_str(&format!("build n{i}: j\n"));
    }
    sb.write("nj/build.ninja", nj);
}

/// S9: ninja in a `.do` under `redo -j3`: 3 at once (ninja joins the pipe with its
/// "pipe mode" notice, or a redo fifo without it); ninja leaves the shared read end
/// `O_NONBLOCK` and redo still runs the next parallel stage 3-wide; every token back.
#[test]
fn interop_s9_ninja_under_redo() {
    let ninja = tool_ninja();
    for style in ["pipe", "fifo"] {
        let sb = sb().link_bin("ninja", &ninja);
        ninja_project(&sb);
        sb.write("ninja.do", "cd nj && rm -f n? && ninja >&2\n");
        sb.write(
            "all.do",
            "redo-ifchange ninja\njsctl info >after-ninja.info 2>&1\n\
             redo-ifchange y1.job y2.job y3.job y4.job\njsctl count >all.count\n",
        );
        sb.write(
            "default.job.do",
            format!("job \"$2\" 0.8 '{}'\n", sb.abs("log")),
        );
        let out = sb
            .cmd(&["redo", "-j3", "all"])
            .env("REDO_JOBSERVER_STYLE", style)
            .run();
        let what = format!("redo -j3 ({style}) -> ninja");
        out.success();
        out.stderr_contains("ninja: Jobserver mode detected");
        if style == "pipe" {
            assert_no_trouble(&out, NINJA_PIPE);
            assert!(
                sb.read("after-ninja.info").contains("nonblock=1"),
                "{what}: {}",
                sb.read("after-ninja.info")
            );
        } else {
            out.stderr_lacks("'pipe' mode detected");
            assert_no_trouble(&out, &["ninja: Jobserver mode detected"]);
        }
        assert_max(&sb, "log", 3, 10, &what);
        assert_eq!(overlap_of(&sb, "log", "n"), (3, 6), "{what}: ninja edges");
        assert_eq!(
            overlap_of(&sb, "log", "y"),
            (3, 4),
            "{what}: the stage after ninja"
        );
        assert_eq!(sb.read("all.count").trim(), "count=2", "{what}");
        assert_tmp_clean(&sb);
    }
}

/// S9 with `ninja -j6`: an explicit `-j` disables ninja's jobserver client (6 at once).
#[test]
fn interop_s9_ninja_j6_ignores_the_jobserver() {
    let sb = sb().link_bin("ninja", tool_ninja());
    ninja_project(&sb);
    sb.write("ninja.do", "cd nj && ninja -j6 >&2\n");
    let out = sb.run(&["redo", "-j3", "ninja"]);
    out.success();
    assert_no_trouble(&out, &[]);
    assert_max(&sb, "log", 6, 6, "redo -j3 -> ninja -j6");
    assert_tmp_clean(&sb);
}

/// `MAKEFLAGS` written by hand the way make's command line reads (`-j 4`, or a first word
/// without a dash, `kj4`): redo takes the count and hands make 4.4.1 below a value it
/// reads (before, `4` and `kj4` reached it as targets: `No rule to make target`).
#[test]
fn hand_written_makeflags_reach_make_below_intact() {
    let sb = sb().link_bin("make", tool_make44());
    sb.write("sub.mk", "all: s1 s2\ns%:\n\t@echo built $@\n");
    sb.write("all.do", "echo \"[$MAKEFLAGS]\" >&2\nmake -f sub.mk >&2\n");
    for flags in ["-j 4", "--jobs 4", "j4", "kj4"] {
        let out = sb
            .cmd(&["redo", "-j2", "all"])
            .env("MAKEFLAGS", flags)
            .run();
        out.success()
            .stderr_contains("built s1")
            .stderr_contains("built s2");
        assert!(
            !out.stderr().contains("No rule"),
            "{flags}: {}",
            out.stderr()
        );
    }
}
