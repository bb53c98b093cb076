//! The run share (`REDO_FERREDO_RUNSHARE`, src/build/runshare.rs): nested
//! redo processes trust what the run already established. Builds are counted
//! from logs the .do files append to, never from timings.

use crate::core_common::*;
use crate::sandbox::*;

fn log_lines(sb: &Sandbox, rel: &str) -> Vec<String> {
    if !sb.exists(rel) {
        return Vec::new();
    }
    sb.read(rel).lines().map(str::to_string).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn chain_rebuilds_every_link_exactly_once() {
    let n = 30;
    let sb = new_sb()
        .file(
            "all.do",
            format!("redo-ifchange c{n}.ch\necho all >>log\necho done\n"),
        )
        .file(
            "default.ch.do",
            "n=${2#c}\nif [ \"$n\" -gt 1 ]; then dep=c$((n-1)).ch; else dep=chain.in; fi\n\
             redo-ifchange \"$dep\"\necho \"$2\" >>log\ncat \"$dep\"\n",
        )
        .file("chain.in", "one\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(log_lines(&sb, "log").len(), n + 1);
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");

    sb.write("chain.in", "two\n");
    sb.run(&["redo-ifchange", "all"]).success();
    let mut want: Vec<String> = (1..=n).map(|k| format!("c{k}")).collect();
    want.push("all".into());
    assert_eq!(sorted(log_lines(&sb, "log")), sorted(want));
    assert_eq!(sb.read(format!("c{n}.ch")), "two\n");
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(
        log_lines(&sb, "log").is_empty(),
        "rebuilt after the rebuild"
    );
}

/// A fan-in large enough for the top level to complete its check of all
/// operands: the nested check in all.do trusts those verdicts.
#[test]
fn one_changed_source_among_many_rebuilds_only_it_and_all() {
    let n = 300;
    let names: Vec<String> = (0..n).map(|i| format!("t{i}.t")).collect();
    let mut sb = new_sb()
        .file(
            "all.do",
            format!(
                "redo-ifchange {}\necho all >>log\necho done\n",
                names.join(" ")
            ),
        )
        .file(
            "default.t.do",
            "redo-ifchange \"$2.in\"\necho \"$1\" >>log\ncat \"$2.in\"\n",
        );
    for i in 0..n {
        sb = sb.file(format!("t{i}.in"), format!("{i}\n"));
    }
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(log_lines(&sb, "log").len(), n + 1);
    sb.remove("log");

    sb.write("t150.in", "changed\n");
    // all.do's redo-ifchange is told about every up-to-date operand (under
    // -d it does not trust out-of-date verdicts, so one is left to check).
    sb.run(&["redo-ifchange", "-d", "all"])
        .success()
        .stderr_contains(&format!("the run's share knows {} of {n} operands", n - 1));
    assert_eq!(
        sorted(log_lines(&sb, "log")),
        sorted(vec!["all".into(), "t150.t".into()])
    );
    assert_eq!(sb.read("t150.t"), "changed\n");
    // What the nested redo-ifchange recorded from trusted verdicts is right:
    // nothing to do now, and another change is seen.
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");
    sb.write("t7.in", "seven\n");
    sb.write("t299.in", "last\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sorted(log_lines(&sb, "log")),
        sorted(vec!["all".into(), "t7.t".into(), "t299.t".into()])
    );
}

/// The sources the top level checked below an out-of-date target are
/// shared: the .do's redo-ifchange of them takes their verdicts and inode
/// data from the share (a wide fan-in is checked by parallel workers, a
/// small one by the top level's own walk, and the rest of a tiny one after
/// its first source changed by the top level's completion of the fan-in),
/// and records them right.
#[test]
fn sources_checked_at_the_top_are_trusted_by_the_nested_redo_ifchange() {
    let (wide, small, tiny) = (300, 20, 4);
    let list = |p: &str, n: usize| -> String {
        (0..n)
            .map(|i| format!("{p}{i}.s"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let concat = |name: &str, p: &str, n: usize| {
        format!(
            "redo-ifchange {l}\necho {name} >>log\ncat {l}\n",
            l = list(p, n)
        )
    };
    let mut sb = new_sb()
        .file(
            "all.do",
            "redo-ifchange wide.out small.out tiny.out\necho done\n",
        )
        .file("wide.out.do", concat("wide", "w", wide))
        .file("small.out.do", concat("small", "q", small))
        .file("tiny.out.do", concat("tiny", "x", tiny));
    for (p, n) in [("w", wide), ("q", small), ("x", tiny)] {
        for i in 0..n {
            sb = sb.file(format!("{p}{i}.s"), format!("{p}{i}\n"));
        }
    }
    sb.run(&["redo-ifchange", "all"]).success();
    sb.remove("log");

    sb.write("w150.s", "changed\n");
    sb.write("q5.s", "changed too\n");
    sb.run(&["redo-ifchange", "-d", "all"])
        .success()
        .stderr_contains(&format!("the run's share knows {wide} of {wide} operands"))
        .stderr_contains(&format!(
            "the run's share knows {small} of {small} operands"
        ));
    assert_eq!(sorted(log_lines(&sb, "log")), vec!["small", "wide"]);
    assert!(sb.read("wide.out").contains("changed\n"));
    assert!(sb.read("small.out").contains("changed too\n"));
    // Alone, the first of a few sources: the rest are checked after the
    // check stopped at it, and shared too.
    sb.remove("log");
    sb.write("x0.s", "changed first\n");
    sb.run(&["redo-ifchange", "-d", "all"])
        .success()
        .stderr_contains(&format!("the run's share knows {tiny} of {tiny} operands"));
    assert_eq!(log_lines(&sb, "log"), vec!["tiny"]);
    assert!(sb.read("tiny.out").starts_with("changed first\n"));
    // Recorded right: nothing to do now, and the next change is seen.
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");
    sb.write("w0.s", "first\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(log_lines(&sb, "log"), vec!["wide"]);
}

/// A source changed in place by a .do after the top level checked it (from
/// outside redo's view) is recorded as the top level saw it: the next run
/// rebuilds its dependant once more, never less.
#[test]
fn a_source_changed_after_the_top_level_saw_it_is_rebuilt_next_run() {
    let n = 300;
    let list = (0..n)
        .map(|i| format!("w{i}.s"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut sb = new_sb()
        .file("all.do", "redo-ifchange wide.out\necho done\n")
        .file(
            "wide.out.do",
            format!(
                "if [ -e touch-w0 ]; then echo touched >w0.s; fi\n\
                 redo-ifchange {list}\necho wide >>log\ncat {list}\n"
            ),
        );
    for i in 0..n {
        sb = sb.file(format!("w{i}.s"), format!("w{i}\n"));
    }
    sb.run(&["redo-ifchange", "all"]).success();
    sb.write("w7.s", "seven\n");
    sb.write("touch-w0", "");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.remove("touch-w0");
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(log_lines(&sb, "log"), vec!["wide"]);
    assert!(sb.read("wide.out").starts_with("touched\n"));
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");
}

/// `redo X` in the middle of a run gives X new content: a dependant of X
/// verified up to date earlier in the run must not be trusted afterwards.
#[test]
fn forced_build_mid_run_invalidates_verified_dependants() {
    let sb = new_sb()
        .file("X.do", "echo X >>log\ncat gen\n")
        .file("T.do", "redo-ifchange X\necho T >>log\ncat X\n")
        .file(
            "all.do",
            "redo-ifchange T\necho \"$GEN\" >gen\nredo X\nredo-ifchange T\ncat T\n",
        )
        .file("gen", "1\n");
    sb.cmd(&["redo", "all"]).env("GEN", "1").run().success();
    assert_eq!(sb.read("all"), "1\n");
    sb.remove("log");
    sb.cmd(&["redo", "all"]).env("GEN", "2").run().success();
    // X forced once; T verified by the first redo-ifchange, then rebuilt by
    // the second one because X changed.
    assert_eq!(log_lines(&sb, "log"), vec!["X", "T"]);
    assert_eq!(sb.read("T"), "2\n");
    assert_eq!(sb.read("all"), "2\n");
}

/// `redo-ifchange -f` is forced too.
#[test]
fn forced_ifchange_mid_run_invalidates_verified_dependants() {
    let sb = new_sb()
        .file("X.do", "echo X >>log\ncat gen\n")
        .file("T.do", "redo-ifchange X\necho T >>log\ncat X\n")
        .file(
            "all.do",
            "redo-ifchange T\necho 2 >gen\nredo-ifchange -f X\nredo-ifchange T\ncat T\n",
        )
        .file("gen", "1\n");
    sb.run(&["redo-ifchange", "T"]).success();
    sb.remove("log");
    sb.run(&["redo", "all"]).success();
    assert_eq!(log_lines(&sb, "log"), vec!["X", "T"]);
    assert_eq!(sb.read("all"), "2\n");
}

/// A target that a build creates mid-run, watched by an ifcreate record of a
/// target verified earlier in the run, makes that target out of date.
#[test]
fn created_file_mid_run_invalidates_ifcreate_watchers() {
    let sb = new_sb()
        .file(
            "T.do",
            "echo T >>log\nif [ -e opt ]; then cat opt; else echo none; fi\nredo-ifcreate opt\n",
        )
        .file("opt.do", "echo opt >>log\necho present\n")
        .file(
            "all.do",
            "redo-ifchange T\nredo-ifchange opt\nredo-ifchange T\ncat T\n",
        );
    sb.run(&["redo-ifchange", "T"]).success();
    sb.remove("log");
    sb.run(&["redo", "all"]).success();
    assert_eq!(log_lines(&sb, "log"), vec!["opt", "T"]);
    assert_eq!(sb.read("all"), "present\n");
}

#[test]
fn always_targets_rebuilt_once_per_run_dependants_on_change() {
    let sb = new_sb()
        .file("A.do", "redo-always\necho A >>log\ncat gen\n")
        .file("T1.do", "redo-ifchange A\necho T1 >>log\ncat A\n")
        .file("T2.do", "redo-ifchange A\necho T2 >>log\ncat A\n")
        .file(
            "all.do",
            "redo-ifchange T1 T2\nredo-ifchange T1\necho all >>log\necho done\n",
        )
        .file("gen", "1\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sorted(log_lines(&sb, "log")),
        sorted(vec!["A".into(), "T1".into(), "T2".into(), "all".into()])
    );
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(log_lines(&sb, "log"), vec!["A"], "A same content: only A");
    sb.remove("log");
    sb.write("gen", "2\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sorted(log_lines(&sb, "log")),
        sorted(vec!["A".into(), "T1".into(), "T2".into(), "all".into()])
    );
    assert_eq!(sb.read("T2"), "2\n");
}

/// A nested redo given an unusable share (closed fd, not a share, garbage,
/// another run's) checks everything itself and never writes to it.
#[test]
fn unusable_share_variable_falls_back_to_checking() {
    let sb = new_sb()
        .file("T.do", "redo-ifchange src\necho T >>log\ncat src\n")
        .file("src", "a\n")
        .file("garbage", "GOREDO not a share at all, just text\n");
    sb.run(&["redo-ifchange", "T"]).success();
    for (i, value) in ["999:1", "0:1", "junk", "", "9:1", "9:99999999"]
        .iter()
        .enumerate()
    {
        // A fresh run each time (T built in the same run is up to date).
        let uuid = format!("01234567-89ab-4def-8123-4567890000{i:02}");
        sb.write("src", format!("v{i}\n"));
        sb.remove("log");
        // fd 9: a regular file that is not a share.
        let out = sb
            .cmd(&["sh", "-c", "exec 9<>garbage; exec redo-ifchange T"])
            .env("REDO_BUILD_UUID", &uuid)
            .env("REDO_FERREDO_RUNSHARE", value)
            .run();
        out.success();
        assert_eq!(log_lines(&sb, "log"), vec!["T"], "value {value:?}");
        assert_eq!(sb.read("T"), format!("v{i}\n"));
    }
    assert_eq!(sb.read("garbage"), "GOREDO not a share at all, just text\n");
}

/// A top-level run never uses an inherited share: its children see one it
/// created (its own pid), also when started from inside another run.
#[test]
fn top_level_runs_do_not_share() {
    let sb = new_sb()
        .file(
            "all.do",
            "echo \"$REDO_FERREDO_RUNSHARE\" >outer.var\n\
             env -u REDO_BUILD_UUID redo-ifchange sub\n",
        )
        .file("sub.do", "echo \"$REDO_FERREDO_RUNSHARE\" >inner.var\n")
        .file(
            "other.do",
            "echo \"$REDO_FERREDO_RUNSHARE\" >other.var\nsleep 0.2\n",
        );
    let a = sb.cmd(&["redo", "all"]).spawn();
    let b = sb.cmd(&["redo", "other"]).spawn();
    a.wait().success();
    b.wait().success();
    let outer = sb.read("outer.var").trim().to_string();
    let inner = sb.read("inner.var").trim().to_string();
    let other = sb.read("other.var").trim().to_string();
    let pid = |v: &str| v.split_once(':').map(|(_, p)| p.to_string());
    assert!(pid(&outer).is_some(), "outer {outer:?}");
    assert!(pid(&inner).is_some(), "inner {inner:?}");
    assert_ne!(
        pid(&outer),
        pid(&inner),
        "a nested top-level run reused the share"
    );
    assert!(pid(&other).is_some(), "other {other:?}");
    assert_ne!(pid(&outer), pid(&other), "concurrent runs share");
    // Two separate top-level runs: different creators.
    sb.run(&["redo", "sub"]).success();
    let again = sb.read("inner.var").trim().to_string();
    assert_ne!(pid(&again), pid(&inner));
    // An inherited variable is ignored at top level.
    sb.cmd(&["redo", "sub"])
        .env("REDO_FERREDO_RUNSHARE", &outer)
        .run()
        .success();
    let third = sb.read("inner.var").trim().to_string();
    assert_ne!(third, outer);
}

/// A tree `n0 -> n1_* -> n2_* -> l*.lf` under `all`, with `fan[i]` children
/// at each level: each target logs its build to `log` and cats its
/// children; the leaf `lN.lf` is made from `lN.in`.
fn deep_tree(fan: [usize; 3]) -> Sandbox {
    let node = |sb: Sandbox, name: String, kids: Vec<String>| {
        let args = kids.join(" ");
        sb.file(
            format!("{name}.do"),
            format!("redo-ifchange {args}\necho \"$1\" >>log\ncat {args}\n"),
        )
    };
    let mut sb = new_sb()
        .file("all.do", "redo-ifchange n0.nd\necho all >>log\ncat n0.nd\n")
        .file(
            "default.lf.do",
            "redo-ifchange \"$2.in\"\necho \"$1\" >>log\ncat \"$2.in\"\n",
        );
    let n1: Vec<String> = (0..fan[0]).map(|i| format!("n1_{i}.nd")).collect();
    sb = node(sb, "n0.nd".into(), n1);
    for i in 0..fan[0] {
        let n2 = (0..fan[1]).map(|j| format!("n2_{}.nd", i * fan[1] + j));
        sb = node(sb, format!("n1_{i}.nd"), n2.collect());
    }
    for k in 0..fan[0] * fan[1] {
        let leaves = (0..fan[2]).map(|j| format!("l{}.lf", k * fan[2] + j));
        sb = node(sb, format!("n2_{k}.nd"), leaves.collect());
    }
    for l in 0..fan[0] * fan[1] * fan[2] {
        sb = sb.file(format!("l{l}.in"), format!("{l}\n"));
    }
    sb
}

/// A deep tree (fan-ins of 4, three levels): the top level checks the rest
/// of every out-of-date fan-in on its way down, in rounds (the second
/// changed leaf is found only by that completion), and the nested
/// processes build exactly the out-of-date path, each target once.
#[test]
fn deep_tree_with_two_changed_leaves_rebuilds_their_paths_once() {
    // n0 -> n1_0..3 -> n2_0..15 -> l0..63
    let sb = deep_tree([4, 4, 4]);
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(log_lines(&sb, "log").len(), 1 + 1 + 4 + 16 + 64);
    sb.remove("log");

    // l21 is under n1_1/n2_5; l50 under n1_3/n2_12, found only when the
    // rest of n0's fan-in is checked.
    sb.write("l21.in", "twenty-one\n");
    sb.write("l50.in", "fifty\n");
    sb.run(&["redo-ifchange", "all"]).success();
    let want: Vec<String> = [
        "all", "n0.nd", "n1_1.nd", "n2_5.nd", "l21.lf", "n1_3.nd", "n2_12.nd", "l50.lf",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(sorted(log_lines(&sb, "log")), sorted(want));
    assert!(sb.read("all").contains("twenty-one\n"));
    assert!(sb.read("all").contains("fifty\n"));
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");
}

/// A tree big enough for the parallel check (its `.redo/` holds ~1800
/// entries) with few subtrees at each level: the check splits it a level or
/// two down (`Checker::deepen`), later passes reuse the first one's
/// verdicts, and exactly the out-of-date paths are rebuilt, each once.
#[test]
fn big_deep_tree_split_below_its_top_rebuilds_exactly_the_changed_paths() {
    // n0 -> n1_0..7 -> n2_0..79 -> l0..799
    let sb = deep_tree([8, 10, 10]);
    sb.run(&["redo-ifchange", "-j2", "all"]).success();
    assert_eq!(log_lines(&sb, "log").len(), 1 + 1 + 8 + 80 + 800);
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");

    // The first leaf of the tree, and one in the last subtree.
    sb.write("l0.in", "zero\n");
    sb.write("l795.in", "seven nine five\n");
    sb.run(&["redo-ifchange", "all"]).success();
    let want: Vec<String> = [
        "all", "n0.nd", "n1_0.nd", "n2_0.nd", "l0.lf", "n1_7.nd", "n2_79.nd", "l795.lf",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(sorted(log_lines(&sb, "log")), sorted(want));
    sb.remove("log");
    sb.run(&["redo-ifchange", "all"]).success();
    assert!(log_lines(&sb, "log").is_empty(), "no-op rebuilt something");
}

/// A target up to date whose file was modified outside redo (its `.dep`
/// self-record no longer matches it) is recorded by its dependant as it is
/// now, not as its `.dep` says: else the dependant would be rebuilt on every
/// run.
#[test]
fn externally_modified_operand_is_recorded_as_it_is() {
    let sb = new_sb()
        .file(
            "all.do",
            "redo-ifchange a.t b.t\necho all >>log\ncat a.t b.t\n",
        )
        .file(
            "default.t.do",
            "redo-ifchange \"$2.in\"\necho \"$1\" >>log\ncat \"$2.in\"\n",
        )
        .file("a.in", "a\n")
        .file("b.in", "b\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.remove("log");
    sb.write("a.t", "edited by hand\n");
    sb.write("b.in", "bee\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sorted(log_lines(&sb, "log")),
        sorted(vec!["all".into(), "b.t".into()])
    );
    assert_eq!(sb.read("all"), "edited by hand\nbee\n");
    sb.remove("log");
    for _ in 0..2 {
        sb.run(&["redo-ifchange", "all"]).success();
        assert!(log_lines(&sb, "log").is_empty(), "rebuilt again");
    }
}

/// A target whose only out-of-date dependency is an always-target is rebuilt only if
/// that target's content changed, also when the top-level check stopped above it (`all`
/// missing, or its own source changed) and so never collected the always-target: the
/// share must not carry that provisional verdict to the nested redo-ifchange.
#[test]
fn a_dependant_of_an_unchanged_always_target_is_not_rebuilt_from_the_share() {
    let sb = new_sb()
        .file("x.src", "v1\n")
        .file("prog.do", "redo-ifchange x.src a\ncat x.src a\n")
        .file("a.do", "redo-ifchange c\necho a >>log\ncat c\n")
        .file("c.do", "redo-always\necho constant\n")
        .file("all.do", "redo-ifchange a\n");
    sb.run(&["redo-ifchange", "prog", "all"]).success();
    sb.remove("log");
    for (edit, target) in [(None, "all"), (Some("v2\n"), "prog")] {
        if let Some(v) = edit {
            sb.write("x.src", v);
        }
        for debug in [false, true] {
            let args: &[&str] = if debug {
                &["redo-ifchange", "-d", target]
            } else {
                &["redo-ifchange", target]
            };
            sb.run(args).success();
            assert!(!sb.exists("log"), "{args:?}: a rebuilt: {}", sb.read("log"));
        }
    }
}
