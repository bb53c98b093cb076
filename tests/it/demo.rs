//! The README's first command, `bash compat/demo/run.sh`, end to end, with the binary
//! under test (`FERREDO_REDO`) instead of a fresh `cargo build`. The script itself fails
//! when a build fails, when the second build rebuilds anything, or when more compilers
//! than slots ever ran at once; here we also check that both directions ran (redo -> make
//! and cargo, make -> redo) without a jobserver warning. No timing is asserted.

use crate::sandbox::*;

#[test]
fn demo_run_sh_builds_both_directions_within_four_slots() {
    for tool in ["bash", "cc", "make", "cargo"] {
        require_tool(tool);
    }
    let sb = Sandbox::new();
    let script = repo_root().join("compat/demo/run.sh");
    let out = sb
        .cmd(&["bash", script.to_str().unwrap(), "-j4"])
        .env("FERREDO_REDO", redo_exe())
        .env("DEMO_TIMINGS", sb.abs("demo-timings"))
        .run();
    out.success()
        .stdout_contains("hello, world, from demo 1.0.0")
        .stdout_contains("from Rust (cargo under redo)")
        .stdout_contains("prog and hello-rs not rebuilt: up to date")
        .stdout_contains("from demo 1.1.0")
        .stdout_contains("==> demo done")
        .stdout_contains(&format!(
            "timeline of this build: {}.html",
            sb.abs("demo-timings")
        ))
        .no_jobserver_warnings();
    let stdout = out.stdout();
    let maxima: Vec<usize> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("compilers at once (cc, rustc): max "))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        maxima.len(),
        2,
        "one concurrency line per direction:\n{stdout}"
    );
    for m in maxima {
        assert!((1..=4).contains(&m), "max {m} outside 1..=4:\n{stdout}");
    }
    // The first build's timeline: its .do files, the make and cargo ones among them.
    let trace = sb.read("demo-timings.json");
    for job in ["\"prog\"", "\"hello-rs\"", "\"libmk.a\""] {
        assert!(trace.contains(job), "no {job} in the demo's timeline");
    }
    assert!(sb.read("demo-timings.html").contains("<svg "));
}
