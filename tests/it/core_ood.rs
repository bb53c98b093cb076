//! Out-of-date decisions and build-run semantics (spec/goredo.md §5, §1.5): inode
//! trust, ifcreate, always, redo vs redo-ifchange, operand-less calls.

use crate::core_common::*;
use crate::sandbox::*;
use std::fs;

const ALL_CATS_SRC: &str = "echo run >>count\nredo-ifchange src\ncat src\n";

fn trust_sandbox(trust: Option<&str>) -> Sandbox {
    let mut sb = new_sb().file("all.do", ALL_CATS_SRC).file("src", "one\n");
    if let Some(t) = trust {
        sb = sb.env("REDO_INODE_TRUST", t);
    }
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 1);
    sb
}

fn touch_does_not_rebuild(trust: Option<&str>) {
    let sb = trust_sandbox(trust);
    sb.touch("src");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        count(&sb, "count"),
        1,
        "trust {trust:?}: a touch must not rebuild"
    );
    // Twice: the fresh inode data was not needed to decide.
    sb.touch("src");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        count(&sb, "count"),
        1,
        "trust {trust:?}: a touch must not rebuild"
    );
    sb.write("src", "two\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        count(&sb, "count"),
        2,
        "trust {trust:?}: a content change rebuilds"
    );
    assert_eq!(sb.read("all"), "two\n");
}

#[test]
fn touch_without_change_does_not_rebuild_with_default_ctime_trust() {
    touch_does_not_rebuild(None);
}

#[test]
fn touch_without_change_does_not_rebuild_with_ctime_trust() {
    touch_does_not_rebuild(Some("ctime"));
}

#[test]
fn touch_without_change_does_not_rebuild_with_mtime_trust() {
    touch_does_not_rebuild(Some("mtime"));
}

#[test]
fn touch_without_change_does_not_rebuild_with_no_trust() {
    touch_does_not_rebuild(Some("none"));
}

/// Rewrite `src` in place with same-size content, then put its mtime back: only the
/// ctime tells that it changed.
fn sneaky_rewrite(sb: &Sandbox) {
    let p = sb.path("src");
    let mtime = fs::metadata(&p).unwrap().modified().unwrap();
    let size = sb.metadata("src").len();
    sb.write("src", "owt\n");
    let f = fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), mtime);
    assert_eq!(sb.metadata("src").len(), size);
}

#[test]
fn ctime_trust_sees_a_change_that_kept_the_mtime() {
    for trust in [None, Some("ctime"), Some("none")] {
        let sb = trust_sandbox(trust);
        sneaky_rewrite(&sb);
        sb.run(&["redo-ifchange", "all"]).success();
        assert_eq!(count(&sb, "count"), 2, "trust {trust:?}");
        assert_eq!(sb.read("all"), "owt\n");
    }
}

#[test]
fn mtime_trust_believes_an_unchanged_mtime() {
    // Same size, same inode number, same mtime: assumed unchanged without hashing.
    let sb = trust_sandbox(Some("mtime"));
    sneaky_rewrite(&sb);
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 1);
    assert_eq!(sb.read("all"), "one\n");
}

#[test]
fn unknown_inode_trust_is_an_error() {
    let sb = new_sb().file("t.do", "echo x\n");
    sb.cmd(&["redo", "t"])
        .env("REDO_INODE_TRUST", "sometimes")
        .run()
        .failure();
}

#[test]
fn changed_dependency_of_a_dependency_rebuilds_the_chain() {
    let sb = new_sb()
        .file(
            "all.do",
            "echo run >>count.all\nredo-ifchange mid\ncat mid\n",
        )
        .file(
            "mid.do",
            "echo run >>count.mid\nredo-ifchange src\ntr a-z A-Z <src\n",
        )
        .file("src", "abc\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!((count(&sb, "count.all"), count(&sb, "count.mid")), (1, 1));
    sb.write("src", "xyz\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("all"), "XYZ\n");
    assert_eq!((count(&sb, "count.all"), count(&sb, "count.mid")), (2, 2));
}

#[test]
fn changed_dotdo_rebuilds() {
    let sb = new_sb().file("t.do", "echo run >>count\necho one\n");
    sb.run(&["redo-ifchange", "t"]).success();
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(count(&sb, "count"), 1);
    sb.write("t.do", "echo run >>count\necho two\n");
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.read("t"), "two\n");
    assert_eq!(count(&sb, "count"), 2);
}

#[test]
fn missing_target_is_rebuilt_by_redo_ifchange() {
    let sb = new_sb().file("t.do", "echo run >>count\necho one\n");
    sb.run(&["redo-ifchange", "t"]).success();
    sb.remove("t");
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(count(&sb, "count"), 2);
    assert_eq!(sb.read("t"), "one\n");
}

#[test]
fn ifcreate_rebuilds_when_the_file_appears() {
    let sb = new_sb().file(
        "all.do",
        "echo run >>count\nredo-ifcreate opt\nif [ -e opt ]; then cat opt; else echo none; fi\n",
    );
    sb.run(&["redo-ifchange", "all"]).success();
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 1);
    assert_eq!(sb.read("all"), "none\n");
    sb.write("opt", "present\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 2);
    assert_eq!(sb.read("all"), "present\n");
}

#[test]
fn always_target_is_built_once_per_run() {
    let sb = new_sb()
        .file("ver", "1\n")
        .file("stamp.do", "redo-always\necho run >>count.stamp\ncat ver\n")
        .file(
            "all.do",
            "echo run >>count.all\nredo-ifchange stamp\nredo-ifchange stamp\ncat stamp\n",
        );
    sb.run(&["redo", "all"]).success();
    assert_eq!(
        count(&sb, "count.stamp"),
        1,
        "twice in one run builds it once"
    );
    assert_eq!(count(&sb, "count.all"), 1);
    // Next run: the always-target is rebuilt (once); its content did not change, so
    // its dependant is not.
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count.stamp"), 2);
    assert_eq!(
        count(&sb, "count.all"),
        1,
        "same content: no rebuild of all"
    );
    // Its content changes: the dependant is rebuilt, the always-target still once.
    sb.write("ver", "2\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count.stamp"), 3);
    assert_eq!(count(&sb, "count.all"), 2);
    assert_eq!(sb.read("all"), "2\n");
}

#[test]
fn always_target_shared_by_two_dependants_is_built_once_per_run() {
    let sb = new_sb()
        .file("ver", "1\n")
        .file("stamp.do", "redo-always\necho run >>count.stamp\ncat ver\n")
        .file(
            "default.x.do",
            "redo-ifchange stamp\necho \"$2 $(cat stamp)\"\n",
        )
        .file("all.do", "redo-ifchange a.x b.x\ncat a.x b.x\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count.stamp"), 1);
    sb.write("ver", "2\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count.stamp"), 2);
    assert_eq!(sb.read("all"), "a 2\nb 2\n");
}

#[test]
fn redo_ifchange_builds_at_most_once_per_run() {
    let sb = new_sb().file("x.do", "echo run >>count\necho x\n").file(
        "all.do",
        "redo-ifchange x\nredo-ifchange x\nredo-ifchange x x\ncat x\n",
    );
    sb.run(&["redo", "all"]).success();
    assert_eq!(count(&sb, "count"), 1);
}

#[test]
fn redo_ifchange_at_top_builds_a_duplicated_operand_once() {
    let sb = new_sb().file("x.do", "echo run >>count\necho x\n");
    sb.run(&["redo-ifchange", "x", "x", "./x"]).success();
    assert_eq!(count(&sb, "count"), 1);
}

#[test]
fn plain_redo_rebuilds_every_time_within_one_run() {
    let sb = new_sb()
        .file("x.do", "echo run >>count\necho x\n")
        .file("all.do", "redo x\nredo x\ncat x\n");
    sb.run(&["redo", "all"]).success();
    assert_eq!(
        count(&sb, "count"),
        2,
        "redo is forced: it rebuilds every time"
    );
}

#[test]
fn redo_forces_an_up_to_date_target() {
    let sb = new_sb().file("x.do", "echo run >>count\necho x\n");
    sb.run(&["redo-ifchange", "x"]).success();
    sb.run(&["redo-ifchange", "x"]).success();
    assert_eq!(count(&sb, "count"), 1);
    sb.run(&["redo", "x"]).success();
    assert_eq!(count(&sb, "count"), 2);
    sb.run(&["redo-ifchange", "-f", "x"]).success();
    assert_eq!(count(&sb, "count"), 3, "-f forces redo-ifchange");
}

#[test]
fn redo_without_operands_builds_all_at_top_level() {
    let sb = new_sb()
        .file("all.do", "echo run >>count\necho everything\n")
        .file("other.do", "echo run >>count.other\necho o\n");
    sb.run(&["redo"]).success();
    assert_eq!(sb.read("all"), "everything\n");
    assert_eq!(count(&sb, "count.other"), 0);
}

#[test]
fn operandless_calls_inside_a_dotdo_do_nothing() {
    let sb = new_sb().file(
        "all.do",
        "echo run >>count\nredo\nredo-ifchange\nredo-ifcreate\necho ok\n",
    );
    sb.run(&["redo", "all"]).success();
    assert_eq!(sb.read("all"), "ok\n");
    assert_eq!(
        count(&sb, "count"),
        1,
        "`redo` inside all.do must not build all"
    );
    // Nothing but the .do and the self-record were recorded.
    let dep = read_dep(&sb, "all");
    assert_eq!(dep.recs.len(), 2, "{dep:?}");
    assert!(matches!(&dep.recs[0], Rec::Ifchange { path, .. } if path == "all.do"));
    assert!(matches!(&dep.recs[1], Rec::Ifchange { path, .. } if path == "all"));
}

#[test]
fn dependency_applets_outside_a_dotdo_fail() {
    let sb = new_sb().file("f", "x");
    for args in [
        &["redo-ifcreate", "nothere"][..],
        &["redo-always"][..],
        &["redo-stamp"][..],
    ] {
        let out = sb.cmd(args).stdin("data\n").run();
        out.failure();
        let e = out.stderr();
        assert!(
            e.contains("inside a .do") || e.contains("from a .do") || e.contains("in a .do"),
            "the message must say it runs inside a .do\n{out:?}"
        );
    }
}

#[test]
fn missing_operand_that_builds_nothing_is_rebuilt_every_run() {
    // A target producing nothing is "non-existent": always out of date in a later run.
    let sb = new_sb()
        .file("empty.do", "echo run >>count\n")
        .file("all.do", "redo-ifchange empty\necho all\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 1);
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 2);
}

/// A fan-in large enough for the checker's parallel check (>= 256
/// dependencies): verdicts must be those of the plain sequential check.
/// `all` over 300 targets `tK`, each made by `default_do` from `tK.src`.
fn fan_in_sandbox(default_do: &str) -> (Sandbox, usize) {
    let n = 300;
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let mut sb = new_sb()
        .file(
            "all.do",
            format!("redo-ifchange {}\necho done\n", names.join(" ")),
        )
        .file("default.do", default_do);
    for i in 0..n {
        sb = sb.file(format!("t{i}.src"), format!("{i}\n"));
    }
    (sb, n)
}

#[test]
fn large_fan_in_checks_exactly() {
    let (sb, n) =
        fan_in_sandbox("redo-ifchange \"$2.src\"\necho \"$2\" >>built.log\ncat \"$2.src\"\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("built.log").lines().count(), n);
    sb.write("built.log", "");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("built.log"), "", "nothing may rebuild");
    sb.write("t123.src", "changed\n");
    sb.touch("t7.src");
    let out = sb.run(&["redo-ifchange", "-d", "all"]);
    out.success();
    assert!(
        out.stderr()
            .contains("ood: all -> t123 is out of date: t123.src changed: size differs"),
        "{}",
        out.stderr()
    );
    assert_eq!(sb.read("built.log"), "t123\n");
    assert_eq!(sb.read("t123"), "changed\n");
}

/// The parallel check of a large fan-in collects always-targets from its
/// workers as a sequential check would: the always target is built once, its
/// dependant only when its content changed; a corrupt `.dep` met by a worker
/// makes its target rebuilt, and said once, by the job that rebuilds it.
#[test]
fn large_fan_in_collects_always_targets_from_workers_and_says_a_corrupt_dep_once() {
    let (sb, _) = fan_in_sandbox(
        "if [ \"$2\" = t50 ]; then redo-ifchange stamp; fi\nredo-ifchange \"$2.src\"\necho \"$2\" >>built.log\ncat \"$2.src\"\n",
    );
    let sb = sb
        .file(
            "stamp.do",
            "redo-always\necho stamp >>built.log\ncat stamp.src\n",
        )
        .file("stamp.src", "one\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.write("built.log", "");
    // Same content: the always target runs once, nothing else rebuilds.
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("built.log"), "stamp\n");
    sb.write("built.log", "");
    sb.write("stamp.src", "two\n");
    sb.write(".redo/t200.dep", "not a dep file");
    let out = sb.run(&["redo-ifchange", "all"]);
    out.success();
    let mut built: Vec<String> = sb.read("built.log").lines().map(String::from).collect();
    built.sort();
    assert_eq!(built, ["stamp", "t200", "t50"]);
    // Not by the checks (this process's, its workers', all.do's nested one):
    // only by the job, which says it rebuilds.
    let err = out.stderr();
    assert_eq!(err.matches("t200.dep").count(), 1, "{err}");
    assert_eq!(err.matches("t200.dep: unreadable .dep").count(), 1, "{err}");
}
