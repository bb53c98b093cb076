//! A build killed while its `.do` jobs go on (issue 11): the orphaned jobs keep the
//! target's dep temp open (its `flock`) or a nested redo keeps a target's lock, and the
//! next build waits for them, never building one target twice at once, then succeeds.

use crate::core_common::*;
use std::time::Duration;

/// The `.do` logs its start and end around a pause; `started` appears once it runs.
const SLOW: &str = "echo start >>log\n: >started\nsleep 1\necho end >>log\n";

/// Starts and ends of the log must alternate: never two runs at once.
fn assert_serial(log: &str) {
    let lines: Vec<&str> = log.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let want = if i % 2 == 0 { "start" } else { "end" };
        assert_eq!(*l, want, "builds overlapped: {log:?}");
    }
    assert!(lines.len() % 2 == 0, "a build did not end: {log:?}");
}

#[test]
fn next_build_waits_for_the_orphaned_do_of_a_killed_build() {
    let sb = new_sb().file("t.do", format!("{SLOW}echo built\n"));
    let first = sb.cmd(&["redo", "t"]).spawn();
    sb.wait_for_file("started", Duration::from_secs(20));
    // Only redo: its .do runs on in its own process group.
    first.signal(libc::SIGKILL);
    let _ = first.wait();
    sb.run(&["redo-ifchange", "t"]).success();
    assert_serial(&sb.read("log"));
    assert_eq!(sb.read("t"), "built\n");
    assert_no_temp_files(&sb);
    // And it is up to date now.
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(count(&sb, "log"), 4);
}

#[test]
fn next_build_waits_for_an_orphaned_nested_redo_holding_a_lock() {
    let sb = new_sb()
        .file("all.do", "redo-ifchange sub\ncat sub\n")
        .file("sub.do", format!("{SLOW}echo sub\n"));
    let first = sb.cmd(&["redo-ifchange", "all"]).spawn();
    sb.wait_for_file("started", Duration::from_secs(20));
    first.signal(libc::SIGKILL);
    let _ = first.wait();
    let out = sb.run(&["redo-ifchange", "all"]);
    out.success().stderr_lacks("externally modified");
    let log = sb.read("log");
    assert_serial(&log);
    assert_eq!(sb.read("all"), "sub\n");
    assert_no_temp_files(&sb);
    // The orphaned nested redo finished `sub` and committed it: it is not built again.
    assert_eq!(log.lines().count(), 2, "sub built twice: {log:?}");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "log"), 2);
}
