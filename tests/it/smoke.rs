//! First smoke tests: the binary runs, dispatches on argv[0], builds a trivial target;
//! plus self-tests of the Sandbox helpers.

use crate::sandbox::*;
use std::time::Duration;

#[test]
fn version_flag() {
    Sandbox::new()
        .run(&["redo", "--version"])
        .success()
        .stdout_contains(env!("CARGO_PKG_VERSION"));
}

#[test]
fn builds_a_target_then_finds_it_up_to_date() {
    // A .do runs with cwd = its directory (the root here), so `count` is in the root.
    let sb = Sandbox::new()
        .file("all.do", "redo-ifchange hello\ncat hello\n")
        .file("hello.do", "echo built >>count\necho hello\n");
    sb.run(&["redo"]).success();
    assert_eq!(sb.read("hello"), "hello\n");
    assert_eq!(sb.read("all"), "hello\n");
    assert_eq!(sb.read("count"), "built\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sb.read("count"),
        "built\n",
        "second run must find all up to date"
    );
    sb.write("hello.do", "echo built >>count\necho hello again\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sb.read("count"),
        "built\nbuilt\n",
        "a changed .do must rebuild"
    );
    assert_eq!(sb.read("all"), "hello again\n");
}

#[test]
fn install_symlinks_creates_every_applet() {
    let sb = Sandbox::new().dir("links");
    sb.run(&["redo", "--install-symlinks", &sb.abs("links")])
        .success();
    for name in APPLETS {
        let p = sb.path("links").join(name);
        let m = std::fs::symlink_metadata(&p)
            .unwrap_or_else(|e| panic!("{} missing: {e}", p.display()));
        assert!(
            m.file_type().is_symlink(),
            "{} is not a symlink",
            p.display()
        );
    }
}

/// The bundled demo (compat/demo, the README's first command) builds from scratch with
/// `redo -j4` (C objects, make on makepart/, cargo on crate/), runs, is then up to date,
/// and rebuilds after its VERSION changes. (tests/it/demo.rs runs compat/demo/run.sh.)
#[test]
fn demo_builds_runs_and_is_then_up_to_date() {
    use std::os::unix::fs::MetadataExt;
    require_tool("cc");
    require_tool("make");
    require_tool("cargo");
    let outputs = ["prog", "hello-rs", "all", "version.h", "run.sh", "target"];
    let sb = Sandbox::new().copy_tree(repo_root().join("compat/demo"), ".", |p| {
        let name = p.file_name().unwrap().to_str().unwrap();
        !(name == ".redo"
            || outputs.contains(&name)
            || [".o", ".a", ".tmp", ".deps"]
                .iter()
                .any(|x| name.ends_with(x)))
    });
    sb.run(&["redo", "-j4", "all"]).success();
    sb.run(&["./prog"])
        .success()
        .stdout_contains("hello, world, from demo 1.0.0")
        .stdout_contains("rot13(\"redo\")=erqb");
    sb.run(&["./hello-rs"])
        .success()
        .stdout_contains("from Rust (cargo under redo)");
    let stamp = |m: std::fs::Metadata| (m.ino(), m.mtime(), m.mtime_nsec());
    let before = stamp(sb.metadata("prog"));
    let before_rs = stamp(sb.metadata("hello-rs"));
    sb.run(&["redo", "-j4", "all"]).success();
    assert_eq!(
        stamp(sb.metadata("prog")),
        before,
        "prog rebuilt although nothing changed"
    );
    // `all` writes no file, and a missing target is always out of date.
    sb.run(&["redo-ood"]).success().stdout_is("all\n");
    sb.write("VERSION", "1.1.0\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.run(&["./prog"])
        .success()
        .stdout_contains("from demo 1.1.0");
    assert_eq!(
        stamp(sb.metadata("hello-rs")),
        before_rs,
        "hello-rs rebuilt although only VERSION changed"
    );
}

// ---- Sandbox self-tests (do not need a working redo) ------------------------------------

#[test]
fn sandbox_scrubs_the_environment() {
    let sb = Sandbox::new().env("REDO_JOBS", "3").dir("d");
    let out = sb.sh("env");
    out.success();
    let env = out.stdout();
    for line in env.lines() {
        let key = line.split('=').next().unwrap();
        assert!(
            !SCRUBBED.contains(&key) && (!key.starts_with("REDO_") || key == "REDO_JOBS"),
            "{key} leaked into the sandbox"
        );
    }
    assert!(env.contains("REDO_JOBS=3\n"));
    let path = env.lines().find(|l| l.starts_with("PATH=")).unwrap();
    assert!(
        path.starts_with(&format!("PATH={}:", sb.bin().display())),
        "{path}"
    );
    sb.sh("command -v redo-ifchange && command -v job && command -v jsserve")
        .success()
        .stdout_contains(&sb.bin().join("redo-ifchange").display().to_string());
    sb.cmd(&["sh", "-c", "pwd; echo $TMPDIR; cat"])
        .cwd("d")
        .stdin("in\n")
        .env("X", "1")
        .run()
        .success()
        .stdout_is(&format!(
            "{}\n{}\nin\n",
            sb.path("d").display(),
            sb.tmpdir().display()
        ));
}

#[test]
fn sandbox_write_always_moves_timestamps() {
    let sb = Sandbox::new().file("f", "a");
    for _ in 0..5 {
        let before = sb.metadata("f");
        sb.write("f", "b");
        let after = sb.metadata("f");
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        assert!(ns(after.mtime(), after.mtime_nsec()) > ns(before.mtime(), before.mtime_nsec()));
        assert!(ns(after.ctime(), after.ctime_nsec()) > ns(before.ctime(), before.ctime_nsec()));
    }
    sb.touch("g");
    assert!(sb.exists("g"));
    sb.remove("g");
    assert!(!sb.exists("g"));
}

#[test]
#[should_panic(expected = "timed out")]
fn sandbox_timeout_kills_the_process_group() {
    let sb = Sandbox::new();
    sb.cmd(&["sh", "-c", "sleep 30 & sleep 30"])
        .timeout(Duration::from_millis(300))
        .run();
}

#[test]
fn max_overlap_parses_and_rejects() {
    let log = "start 100 a\nstart 150 b\nend 200 a\nstart 200 c\nend 300 b\nend 400 c\n";
    assert_eq!(parse_overlap(log), Ok((2, 3)));
    // touching intervals do not overlap
    assert_eq!(
        parse_overlap("start 1 a\nend 5 a\nstart 5 b\nend 9 b\n"),
        Ok((1, 2))
    );
    assert_eq!(parse_overlap(""), Ok((0, 0)));
    assert!(parse_overlap("start 1 a\n")
        .unwrap_err()
        .contains("unbalanced"));
    assert!(parse_overlap("end 1 a\n").is_err());
    assert!(parse_overlap("start 1 a\nstart 2 a\nend 3 a\nend 4 a\n").is_err());
    assert!(parse_overlap("startstart 1 a\n").is_err());
    assert!(parse_overlap("start 1 a\nend x a\n").is_err());
    assert!(parse_overlap("start 1 a b\n").is_err());
}
