//! Parallel builds, concurrent top-level processes and cycles (spec/goredo.md §6.1,
//! §4.4, §5.3). Concurrency is measured from the `job` kit's start/end log.

use crate::core_common::*;
use crate::sandbox::*;
use std::time::Duration;

/// A project whose `all` runs `redo-ifchange` over `n` independent leaf jobs of `secs`.
fn leaves(n: usize, secs: f64) -> Sandbox {
    let sb = new_sb();
    let names: Vec<String> = (1..=n).map(|i| format!("j{i}.job")).collect();
    sb.write("all.do", format!("redo-ifchange {}\n", names.join(" ")));
    sb.write(
        "default.job.do",
        format!("{}\necho \"$2\"\n", job_cmd("$2", secs, sb.path("log"))),
    );
    sb
}

#[test]
fn j4_runs_exactly_four_jobs_at_once() {
    let sb = leaves(8, 1.0);
    sb.run(&["redo", "-j", "4", "all"]).success();
    assert_eq!(sb.max_overlap("log"), (4, 8));
    assert_eq!(sb.read("j8.job"), "j8\n");
}

#[test]
fn j1_runs_one_job_at_a_time() {
    let sb = leaves(4, 0.2);
    sb.run(&["redo", "-j1", "all"]).success();
    assert_eq!(sb.max_overlap("log"), (1, 4));
}

#[test]
fn default_is_one_job_at_a_time() {
    let sb = leaves(3, 0.2);
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.max_overlap("log"), (1, 3));
}

#[test]
fn redo_jobs_env_sets_the_limit() {
    let sb = leaves(6, 0.5);
    sb.cmd(&["redo", "all"])
        .env("REDO_JOBS", "3")
        .run()
        .success();
    assert_eq!(sb.max_overlap("log"), (3, 6));
}

#[test]
fn top_level_redo_ifchange_runs_its_operands_in_parallel() {
    let sb = leaves(3, 0.5);
    sb.run(&["redo-ifchange", "-j3", "j1.job", "j2.job", "j3.job"])
        .success();
    assert_eq!(sb.max_overlap("log"), (3, 3));
}

#[test]
fn top_level_redo_builds_its_operands_in_order() {
    // `redo` is sequential even with -j (goredo Notes).
    let sb = leaves(3, 0.2);
    sb.run(&["redo", "-j3", "j1.job", "j2.job", "j3.job"])
        .success();
    assert_eq!(sb.max_overlap("log"), (1, 3));
    let log = sb.read("log");
    let order: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("start"))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(order, ["j1", "j2", "j3"]);
}

#[test]
fn redo_stops_at_the_first_failure() {
    let sb = new_sb()
        .file("a.do", "echo a\n")
        .file("b.do", "exit 1\n")
        .file("c.do", "echo c\n");
    sb.run(&["redo", "a", "b", "c"]).failure();
    assert!(sb.exists("a"));
    assert!(!sb.exists("c"), "redo must not start c after b failed");
}

#[test]
fn nested_redo_ifchange_shares_the_job_limit() {
    // all -> 2 groups -> 3 leaf jobs each, at -j3: never more than 3, and 3 reached.
    let sb = new_sb();
    sb.write("all.do", "redo-ifchange g1.grp g2.grp\n");
    sb.write(
        "default.grp.do",
        "redo-ifchange \"$2.1.job\" \"$2.2.job\" \"$2.3.job\"\necho \"$2\"\n",
    );
    sb.write(
        "default.job.do",
        format!("{}\n", job_cmd("$2", 0.6, sb.path("log"))),
    );
    sb.run(&["redo", "-j3", "all"]).success();
    assert_eq!(sb.max_overlap("log"), (3, 6));
}

#[test]
fn redo_ifchange_waits_for_every_started_job_after_a_failure() {
    let sb = leaves(3, 0.5);
    sb.write("bad.do", "exit 1\n");
    sb.run(&["redo-ifchange", "-j4", "j1.job", "bad", "j2.job", "j3.job"])
        .failure();
    // max_overlap panics on a start without an end: every started job finished.
    let (_, jobs) = sb.max_overlap("log");
    assert!(jobs >= 1);
    assert_no_temp_files(&sb);
}

fn two_top_levels(applet: &str) {
    let sb = new_sb()
        .file("slow.do", "echo run >>count\nsleep 1\necho slow content\n")
        .timeout(Duration::from_secs(30));
    let first = sb.cmd(&[applet, "slow"]).spawn();
    sb.wait_for_file("count", Duration::from_secs(10));
    let second = sb.cmd(&[applet, "slow"]).spawn();
    let (o1, o2) = (first.wait(), second.wait());
    o1.success();
    if !o2.status().success() {
        o2.stderr_contains("was not built");
    }
    assert_eq!(sb.read("slow"), "slow content\n");
    read_dep(&sb, "slow");
    assert_no_temp_files(&sb);
    // A following build is fine (no wedged lock).
    sb.run(&["redo-ifchange", "slow"]).success();
}

#[test]
fn two_concurrent_top_level_redo_never_corrupt_a_target() {
    two_top_levels("redo");
}

#[test]
fn two_concurrent_top_level_redo_ifchange_never_corrupt_a_target() {
    two_top_levels("redo-ifchange");
}

#[test]
fn dependency_cycle_is_an_error_not_a_hang() {
    let sb = new_sb()
        .file("a.do", "redo-ifchange b\necho a\n")
        .file("b.do", "redo-ifchange a\necho b\n")
        .timeout(Duration::from_secs(20));
    sb.run(&["redo", "a"]).failure().stderr_contains("cycle");
    assert!(!sb.exists("a") && !sb.exists("b"));
    assert_no_temp_files(&sb);
    sb.run(&["redo-ifchange", "-j4", "b"])
        .failure()
        .stderr_contains("cycle");
}

#[test]
fn self_dependency_is_an_error_not_a_hang() {
    let sb = new_sb()
        .file("a.do", "redo-ifchange a\necho a\n")
        .timeout(Duration::from_secs(20));
    sb.run(&["redo", "a"]).failure().stderr_contains("cycle");
    assert!(!sb.exists("a"));
    assert_no_temp_files(&sb);
}

#[test]
fn longer_cycle_through_a_default_do_is_an_error() {
    let sb = new_sb()
        .file("default.n.do", "case $2 in 1) redo-ifchange 2.n;; 2) redo-ifchange 3.n;; 3) redo-ifchange 1.n;; esac\necho $2\n")
        .timeout(Duration::from_secs(20));
    sb.run(&["redo", "-j2", "1.n"])
        .failure()
        .stderr_contains("cycle");
}

#[test]
fn a_do_inherits_its_own_dep_fd_and_no_siblings() {
    // Jobs start .do files from several threads at once: each child must
    // get its own REDO_DEP_FD and never a sibling's (a leaked dep fd would
    // let a nested redo write into the wrong .dep, or keep it open).
    let names: Vec<String> = (1..=8).map(|i| format!("f{i}.x")).collect();
    let sb = new_sb()
        .file("all.do", format!("redo-ifchange {}\n", names.join(" ")))
        .file(
            "default.x.do",
            r#"own=0
for f in /proc/$$/fd/*; do
  l=$(readlink "$f") || continue
  case "$l" in
  */.redo/.redo."$1".dep.*) own=$((own+1)) ;;
  */.redo/.redo.*.dep.*) echo "foreign dep fd: $l" >&2; exit 1 ;;
  esac
done
[ "$own" = 1 ] || { echo "own dep fds: $own" >&2; exit 1; }
case "$(readlink /proc/$$/fd/"$REDO_DEP_FD")" in
*/.redo/.redo."$1".dep.*) ;;
*) echo "REDO_DEP_FD is not ours" >&2; exit 1 ;;
esac
sleep 0.05
echo "$own"
"#,
        );
    sb.run(&["redo", "-j4", "all"]).success();
    for n in &names {
        assert_eq!(sb.read(n), "1\n", "{n}");
    }
}

/// Many jobs at once under a low soft limit on open files: redo raises its own limit
/// (as goredo, being Go, does), so no job fails with EMFILE where make would run them,
/// and every .do gets the limit redo was started with.
#[test]
fn many_jobs_under_a_low_open_files_limit() {
    let names: Vec<String> = (0..120).map(|i| format!("a{i}.s")).collect();
    let sb = new_sb()
        .file("all.do", format!("redo-ifchange {}\n", names.join(" ")))
        .file("default.s.do", "sleep 0.3\nulimit -Sn\n");
    let out = sb.run(&["sh", "-c", "ulimit -Sn 256 && exec redo -j120 all"]);
    out.success().stderr_lacks("Too many open files");
    for n in &names {
        assert_eq!(sb.read(n), "256\n", "{n}");
    }
}
