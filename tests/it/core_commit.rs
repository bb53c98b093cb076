//! Atomic commit (spec/goredo.md §3.5, §4.2): same content keeps the file, a failure
//! keeps the old target and the old .dep, no temp file survives.

use crate::core_common::*;
use crate::sandbox::Sandbox;
use std::os::unix::fs::MetadataExt;

#[test]
fn same_content_rebuild_keeps_the_inode() {
    let sb = new_sb().file("t.do", "echo same\n");
    sb.run(&["redo", "t"]).success();
    let ino = sb.metadata("t").ino();
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "same\n");
    assert_eq!(
        sb.metadata("t").ino(),
        ino,
        "identical content must keep the old file"
    );
    // The self-record describes the kept file.
    let dep = read_dep(&sb, "t");
    match dep.recs.last() {
        Some(Rec::Ifchange { inode, path, .. }) => {
            assert_eq!(path, "t");
            assert_eq!(*inode, Inode::of(&sb.metadata("t")));
        }
        other => panic!("self-record: {other:?}"),
    }
    assert_no_temp_files(&sb);
}

#[test]
fn same_content_via_dollar3_keeps_the_inode() {
    let sb = new_sb().file("t.do", "echo same >\"$3\"\n");
    sb.run(&["redo", "t"]).success();
    let ino = sb.metadata("t").ino();
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.metadata("t").ino(), ino);
    assert_no_temp_files(&sb);
}

#[test]
fn new_content_replaces_the_target() {
    let sb = new_sb().file("t.do", "echo one\n");
    sb.run(&["redo", "t"]).success();
    sb.write("t.do", "echo two\n");
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.read("t"), "two\n");
    assert_no_temp_files(&sb);
}

#[test]
fn failure_keeps_old_target_and_old_dep_and_no_temp_files() {
    let failing = [
        ("stdout then exit 1", "echo new\nexit 1\n"),
        ("$3 then exit 1", "echo new >\"$3\"\nexit 1\n"),
        ("both then false", "echo new\necho new >\"$3\"\nfalse\n"),
        ("nothing then exit 7", "exit 7\n"),
    ];
    let sb = new_sb()
        .file("sub/default.o.do", "redo-ifchange src\ncat src\n")
        .file("sub/src", "old\n");
    sb.run(&["redo", "sub/t.o"]).success();
    let dep = sb.read_bytes("sub/.redo/t.o.dep");
    let ino = sb.metadata("sub/t.o").ino();
    for (what, script) in failing {
        sb.write("sub/default.o.do", script);
        sb.run(&["redo", "sub/t.o"]).failure();
        assert_eq!(
            sb.read("sub/t.o"),
            "old\n",
            "{what}: the old target must stay"
        );
        assert_eq!(
            sb.metadata("sub/t.o").ino(),
            ino,
            "{what}: the old file must stay"
        );
        assert_eq!(
            sb.read_bytes("sub/.redo/t.o.dep"),
            dep,
            "{what}: the old .dep must stay byte for byte"
        );
        assert_no_temp_files(&sb);
    }
}

#[test]
fn failure_of_a_dependency_keeps_the_dependant() {
    let sb = new_sb()
        .file("all.do", "redo-ifchange dep\ncat dep\n")
        .file("dep.do", "echo v1\n");
    sb.run(&["redo", "all"]).success();
    let all_dep = sb.read_bytes(".redo/all.dep");
    sb.write("dep.do", "echo v2\nexit 1\n");
    sb.run(&["redo-ifchange", "all"]).failure();
    assert_eq!(sb.read("all"), "v1\n");
    assert_eq!(sb.read("dep"), "v1\n");
    assert_eq!(sb.read_bytes(".redo/all.dep"), all_dep);
    assert_no_temp_files(&sb);
}

// --- a kill between any two steps of the commit (issue 11) -------------------------------
//
// `REDO_FERREDO_FAILPOINT=STEP:t` makes the process that commits `t` SIGKILL itself at
// STEP, leaving exactly what a kill at that instant leaves. The next build must give what
// a clean build gives, without "externally modified", and remove every leftover.

/// Is `t`'s `.dep` a commit intent: is its last record not `t`'s own (its self-record,
/// or the ifcreate of itself)?
fn is_intent(sb: &Sandbox, t: &str) -> bool {
    !matches!(read_dep(sb, t).recs.last(),
        Some(Rec::Ifchange { path, .. } | Rec::Ifcreate(path)) if path == t)
}

/// Build `t` (from `src`) with `v1`, change `src` to `v2`, kill the commit at `step`,
/// check the state left, recover, and check `t` follows a third change too.
fn kill_at(step: &str, t_do: &str, v: [&str; 3], first_build: bool) -> Sandbox {
    let sb = new_sb().file("t.do", t_do).file("src", v[0]);
    if !first_build {
        sb.run(&["redo-ifchange", "t"]).success();
    }
    sb.write("src", v[1]);
    let out = sb
        .cmd(&["redo-ifchange", "t"])
        .env("REDO_FERREDO_FAILPOINT", format!("{step}:t"))
        .run();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status().signal(),
        Some(9),
        "{step}: not killed at the failpoint"
    );
    match step {
        "before-intent" => assert!(!temp_files(&sb).is_empty(), "{step}: no leftovers"),
        "after-intent" | "after-result" => assert!(is_intent(&sb, "t"), "{step}: no intent"),
        _ => assert!(!is_intent(&sb, "t")),
    }
    sb.run(&["redo-ifchange", "t"])
        .success()
        .stderr_lacks("externally modified");
    assert_eq!(sb.read("t"), sb.read("expect"), "{step}: recovered content");
    assert_no_temp_files(&sb);
    assert!(!is_intent(&sb, "t"), "{step}: intent left after recovery");
    // The self-record is goredo's: the target's inode data as it is.
    match read_dep(&sb, "t").recs.last() {
        Some(Rec::Ifchange { inode, .. }) => assert_eq!(*inode, Inode::of(&sb.metadata("t"))),
        other => panic!("{step}: self-record {other:?}"),
    }
    // Not stranded: it follows its source.
    sb.write("src", v[2]);
    sb.run(&["redo-ifchange", "t"])
        .success()
        .stderr_lacks("externally modified");
    assert_eq!(
        sb.read("t"),
        sb.read("expect"),
        "{step}: after a further change"
    );
    sb
}

const STEPS: [&str; 4] = ["before-intent", "after-intent", "after-result", "after-dep"];

/// [`kill_at`] every step in turn.
fn kill_at_every_step(t_do: &str, v: [&str; 3], first_build: bool) {
    for step in STEPS {
        kill_at(step, t_do, v, first_build);
    }
}

#[test]
fn killed_commit_via_stdout_recovers_at_every_step() {
    // `expect` is what a clean build gives, written by the .do itself.
    let t_do = "redo-ifchange src\ntr a-z A-Z <src | tee expect\n";
    kill_at_every_step(t_do, ["one\n", "two\n", "three\n"], false);
}

#[test]
fn killed_commit_via_dollar3_recovers_at_every_step() {
    let t_do = "redo-ifchange src\ntr a-z A-Z <src >\"$3\"\ncp \"$3\" expect\n";
    kill_at_every_step(t_do, ["one\n", "two\n", "three\n"], false);
}

#[test]
fn killed_first_commit_recovers_at_every_step() {
    // No old .dep: a target whose first commit was cut short must not pass for a source.
    let t_do = "redo-ifchange src\ntr a-z A-Z <src | tee expect\n";
    kill_at_every_step(t_do, ["one\n", "two\n", "three\n"], true);
}

#[test]
fn killed_same_content_commit_recovers_at_every_step() {
    // The first byte only: the rebuild after v1 -> v2 gives the same content, which keeps
    // the old file and touches it (its ctime changes) under the intent.
    let t_do = "redo-ifchange src\nhead -c1 src | tee expect\n";
    kill_at_every_step(t_do, ["a1\n", "a2\n", "b3\n"], false);
}

#[test]
fn an_intent_dep_makes_the_target_out_of_date_for_the_queries() {
    let sb = new_sb()
        .file("t.do", "redo-ifchange src\ncat src\n")
        .file("src", "1\n");
    sb.run(&["redo-ifchange", "t"]).success();
    sb.write("src", "2\n");
    sb.cmd(&["redo-ifchange", "t"])
        .env("REDO_FERREDO_FAILPOINT", "after-result:t")
        .run();
    assert!(is_intent(&sb, "t"));
    let ood = sb.run(&["redo-ood"]);
    ood.success();
    assert_eq!(ood.stdout(), "t\n");
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.run(&["redo-ood"]).stdout(), "");
}

#[test]
fn depfix_leaves_an_intent_for_the_next_build() {
    let sb = new_sb()
        .file("t.do", "redo-ifchange src\ncat src\n")
        .file("src", "1\n");
    sb.run(&["redo-ifchange", "t"]).success();
    sb.write("src", "2\n");
    sb.cmd(&["redo-ifchange", "t"])
        .env("REDO_FERREDO_FAILPOINT", "after-intent:t")
        .run();
    assert_eq!(sb.read("t"), "1\n");
    sb.run(&["redo-depfix"])
        .success()
        .stderr_contains("cut short");
    assert!(
        is_intent(&sb, "t"),
        "depfix turned the intent into a record"
    );
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.read("t"), "2\n");
}

#[test]
fn killed_nested_commit_recovers() {
    // The nested redo of all.do dies committing `t`: all.do fails, and the next build
    // recovers `t` and builds `all` from it.
    let sb = new_sb()
        .file("all.do", "redo-ifchange t\ncat t\n")
        .file("t.do", "redo-ifchange src\ncat src\n")
        .file("src", "1\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.write("src", "2\n");
    sb.cmd(&["redo-ifchange", "all"])
        .env("REDO_FERREDO_FAILPOINT", "after-result:t")
        .run()
        .failure();
    assert!(is_intent(&sb, "t"), "the nested commit left no intent");
    sb.run(&["redo-ifchange", "all"])
        .success()
        .stderr_lacks("externally modified");
    assert_eq!(sb.read("all"), "2\n");
    assert!(!is_intent(&sb, "t"));
    assert_no_temp_files(&sb);
}
