//! Self-tests of the jobserver kit (compat/kit) against the real tools: they prove the
//! measuring instruments work before any redo scenario relies on them.

use crate::sandbox::*;

const SIX_JOBS_MK: &str = "J := a1 a2 a3 a4 a5 a6\nall: $(J)\n$(J):\n\t@job $@ 0.4 $(LOG)\n";

#[test]
fn job_logs_overlap_of_shell_background_jobs() {
    let sb = Sandbox::new();
    let log = sb.abs("log");
    sb.sh(&format!(
        "{} & {} & {}; wait",
        job_cmd("a", 0.3, &log),
        job_cmd("b", 0.3, &log),
        job_cmd("c", 0.3, &log)
    ))
    .success();
    assert_eq!(sb.max_overlap("log"), (3, 3));
    sb.run(&["maxconc", &log])
        .success()
        .stdout_is("max=3 jobs=3\n");
}

fn served_make(style: &str, make: std::path::PathBuf) {
    let sb = Sandbox::new().file("Makefile", SIX_JOBS_MK);
    let log = format!("LOG={}", sb.abs("log"));
    let mk = make.to_str().unwrap();
    sb.run(&[
        "jsserve",
        &format!("--style={style}"),
        "--strict",
        "-j3",
        "--",
        mk,
        "-s",
        &log,
    ])
    .success()
    .stderr_contains("jsserve: tokens left=2 expected=2 OK")
    .no_jobserver_warnings();
    assert_eq!(sb.max_overlap("log"), (3, 6));
    assert!(sb.tmp_leftovers().is_empty(), "{:?}", sb.tmp_leftovers());
}

#[test]
fn jsserve_pipe_caps_make43() {
    served_make("pipe", tool_make43());
}

#[test]
fn jsserve_pipe_nonblocking_caps_make44() {
    served_make("pipe-nb", tool_make44());
}

#[test]
fn jsserve_fifo_caps_make44() {
    served_make("fifo", tool_make44());
}

#[test]
fn jsserve_fifo_caps_ninja() {
    let ninja = tool_ninja();
    let sb = Sandbox::new();
    let mut nj = format!("rule j\n  command = job $out 0.4 {}\n", sb.abs("log"));
    for i in 1..=6 {
        nj.push_str(&format!("build o{i}: j\n"));
    }
    sb.write("build.ninja", nj);
    sb.run(&[
        "jsserve",
        "--style=fifo",
        "--strict",
        "-j3",
        "--",
        ninja.to_str().unwrap(),
    ])
    .success()
    .stderr_contains("tokens left=2 expected=2 OK");
    assert_eq!(sb.max_overlap("log"), (3, 6));
}

#[test]
fn jsserve_reports_missing_and_extra_tokens() {
    let sb = Sandbox::new();
    for style in ["--style=pipe", "--style=fifo"] {
        sb.run(&[
            "jsserve", style, "--strict", "-j4", "--", "jsctl", "take", "take", "exit:0",
        ])
        .code(3)
        .stderr_contains("tokens left=1 expected=3 MISSING");
        sb.run(&[
            "jsserve", style, "-j4", "--", "jsctl", "take", "take", "exit:7",
        ])
        .code(7)
        .stderr_contains("MISSING");
        sb.run(&["jsserve", style, "--strict", "-j2", "--", "jsctl", "put:x"])
            .code(3)
            .stderr_contains("tokens left=2 expected=1 EXTRA foreign-bytes=1");
        sb.run(&[
            "jsserve", style, "--strict", "-j3", "--", "jsctl", "take", "try", "give", "give",
        ])
        .success()
        .stderr_contains("OK");
    }
}

#[test]
fn jsctl_info_sees_make_jobservers_and_make_sees_leaks() {
    let sb = Sandbox::new().file(
        "Makefile",
        "all: a b\na:\n\t+@jsctl info >info.$(V)\nb:\n\t+@jsctl take take exit:3\n",
    );
    let m43 = tool_make43();
    let out = sb.run(&[m43.to_str().unwrap(), "-s", "-j4", "V=43"]);
    out.code(2)
        .stderr_contains("INTERNAL: Exiting with 2 jobserver tokens available; should be 4!");
    assert!(
        sb.read("info.43")
            .contains("style=pipe usable=yes nonblock=1"),
        "{}",
        sb.read("info.43")
    );
    let m44 = tool_make44();
    sb.run(&[m44.to_str().unwrap(), "-s", "-j4", "V=44"])
        .code(2)
        .stderr_contains("should be 4!");
    assert!(
        sb.read("info.44").contains("style=fifo usable=yes"),
        "{}",
        sb.read("info.44")
    );
    sb.run(&["jsctl", "info"])
        .success()
        .stdout_contains("style=none usable=no");
    sb.run(&["jsctl", "take"]).code(2);
}

#[test]
fn jsctl_rejects_bogus_auth_without_touching_files() {
    let sb = Sandbox::new().file("scratch.txt", "scratch-content");
    let fifo = format!(" -j2 --jobserver-auth=fifo:{}", sb.abs("scratch.txt"));
    for flags in [
        " -j2 --jobserver-auth=0,1",
        " -j2 --jobserver-auth=-2,-2",
        " -j2 --jobserver-auth=8,9",
        &fifo,
    ] {
        sb.cmd(&["jsctl", "take"])
            .env("MAKEFLAGS", flags)
            .run()
            .code(2)
            .stderr_contains("unusable");
    }
    assert_eq!(sb.read("scratch.txt"), "scratch-content");
}
