//! The per-directory `.dep` cache (src/state/depcache.rs): it is written by a
//! check of a quiet tree, it is used, and it is never trusted after the
//! `.redo/` directory changed — a stale copy would skip a needed rebuild.

use crate::core_common::*;
use crate::sandbox::*;
use std::time::Duration;

const CACHE: &str = ".redo/.ferredo/deps";

/// Targets in one directory; enough that a check loads the directory's
/// cache (it reads a few `.dep` files of a directory directly).
const N: usize = 40;

/// `N` targets `t1..tN`, each built from `tN.in` by `default.t.do`, which
/// logs every run to `runs`.
fn many() -> Sandbox {
    many_of(N)
}

fn many_of(n: usize) -> Sandbox {
    let mut sb = new_sb()
        .file(
            "default.t.do",
            "echo \"$2\" >>runs\nif [ -e \"$2.alt\" ]; then s=\"$2.alt\"; else s=\"$2.in\"; fi\nredo-ifchange \"$s\"\ncat \"$s\"\n",
        )
        .file("all.do", format!("redo-ifchange {}\necho done\n", names_of(n).join(" ")));
    for i in 1..=n {
        sb = sb.file(format!("t{i}.in"), format!("in {i}\n"));
    }
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "runs"), n);
    sb
}

fn names() -> Vec<String> {
    names_of(N)
}

fn names_of(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("t{i}.t")).collect()
}

/// Let `.redo/` become quiet, then check: the cache gets written (the first
/// quiet check may only create its directory).
fn settle_and_cache(sb: &Sandbox) {
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(250));
        sb.run(&["redo-ifchange", "all"]).success();
        if sb.exists(CACHE) {
            return;
        }
    }
    panic!("no {CACHE} after quiet no-op checks: {:?}", sb.ls(".redo"));
}

#[test]
fn a_quiet_no_op_writes_the_cache_and_a_source_change_is_still_seen() {
    let sb = many();
    settle_and_cache(&sb);
    let runs = count(&sb, "runs");
    assert_eq!(runs, N, "no-op checks rebuilt something");
    // Sources live outside .redo/: the cache holds .dep files, not verdicts.
    sb.write("t3.in", "changed\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sb.read("runs").lines().skip(runs).collect::<Vec<_>>(),
        ["t3"]
    );
    assert_eq!(sb.read("t3.t"), "changed\n");
}

#[test]
fn a_dep_replaced_after_the_cache_was_written_is_read_again() {
    let sb = many();
    settle_and_cache(&sb);
    // t2 now depends on t2.alt instead of t2.in: the forced rebuild writes a
    // new t2.dep (by rename, as always), changing .redo/.
    sb.write("t2.alt", "alt\n");
    sb.run(&["redo", "t2.t"]).success();
    std::thread::sleep(Duration::from_millis(250));
    sb.run(&["redo-ifchange", "all"]).success();
    let runs = count(&sb, "runs");
    // A stale cache would still compare t2.in and miss this change.
    sb.write("t2.alt", "alt changed\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(
        sb.read("runs").lines().skip(runs).collect::<Vec<_>>(),
        ["t2"]
    );
    assert_eq!(sb.read("t2.t"), "alt changed\n");
}

#[test]
fn a_corrupt_cache_is_ignored() {
    let sb = many();
    settle_and_cache(&sb);
    let mut b = sb.read_bytes(CACHE);
    let mid = b.len() / 2;
    b[mid] ^= 0x55;
    sb.write(CACHE, &b);
    sb.run(&["redo-ifchange", "all"])
        .success()
        .stderr_lacks("warning");
    assert_eq!(count(&sb, "runs"), N);
    sb.write("t5.in", "five\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "runs"), N + 1);
    assert_eq!(sb.read("t5.t"), "five\n");
    sb.write(CACHE, "garbage");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "runs"), N + 1);
}

/// The cache is complete here: the queries take the directory's targets
/// from it instead of a listing of `.redo/` (`walk::KnownTargets`), and
/// must answer as the listing would.
#[test]
fn the_cache_directory_is_invisible_to_the_query_applets() {
    let sb = many();
    settle_and_cache(&sb);
    let mut expect = names();
    expect.push("all".into());
    expect.sort();
    sb.run(&["redo-targets"])
        .success()
        .stdout_is(&(expect.join("\n") + "\n"));
    sb.run(&["redo-ood"]).success().stdout_is("");
    let sources = sb.run(&["redo-sources"]).success().stdout();
    assert_eq!(
        sources.lines().count(),
        N + 2,
        "tN.in, all.do, default.t.do"
    );
    sb.write("t4.in", "four\n");
    sb.run(&["redo-ood"]).success().stdout_is("all\nt4.t\n");
}

/// A build changes `.redo/` (it writes the `.dep`s of what it rebuilt), so
/// the cache cannot come out of it fast, however quiet the tree was before:
/// with two entries of news among 300 it is left alone (in a big tree it is
/// megabytes, rewritten for two files fewer to read next time). 300: a
/// fan-in that big loads the cache at its first lookup, reading no `.dep`
/// directly.
#[test]
fn a_quiet_build_with_little_news_leaves_the_cache_file_alone() {
    let sb = many_of(300);
    settle_and_cache(&sb);
    let key = |sb: &Sandbox| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(sb.path(CACHE)).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    // A build: from now on each entry is validated by a stat.
    sb.write("t3.in", "changed\n");
    sb.run(&["redo-ifchange", "all"]).success();
    let before = key(&sb);
    std::thread::sleep(Duration::from_millis(250));
    sb.write("t5.in", "changed\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("t5.t"), "changed\n");
    assert_eq!(key(&sb), before, "the cache was rewritten for two entries");
    sb.run(&["redo-ood"]).success().stdout_is("");
}

#[test]
fn back_to_back_changes_are_each_seen_through_a_per_entry_cache() {
    let sb = many();
    settle_and_cache(&sb);
    // No pauses from here: each run rewrites .deps that the cache read by
    // the next run holds with old keys.
    for (i, src) in ["t1", "t2", "t1", "t6", "t2"].iter().enumerate() {
        let before = count(&sb, "runs");
        sb.write(format!("{src}.in"), format!("change {i}\n"));
        sb.run(&["redo-ifchange", "all"]).success();
        assert_eq!(
            sb.read("runs").lines().skip(before).collect::<Vec<_>>(),
            [*src],
            "change {i}"
        );
        assert_eq!(sb.read(format!("{src}.t")), format!("change {i}\n"));
    }
    sb.run(&["redo-ood"]).success().stdout_is("");
}

#[test]
fn a_query_writes_the_cache_and_later_answers_stay_exact() {
    let sb = many();
    std::thread::sleep(Duration::from_millis(250));
    assert!(!sb.exists(CACHE));
    sb.run(&["redo-ood"]).success().stdout_is("");
    if !sb.exists(CACHE) {
        // The first query may only create the cache's directory.
        std::thread::sleep(Duration::from_millis(250));
        sb.run(&["redo-ood"]).success().stdout_is("");
    }
    assert!(sb.exists(CACHE), "{:?}", sb.ls(".redo"));
    sb.write("t4.in", "four\n");
    sb.run(&["redo-ood"]).success().stdout_is("all\nt4.t\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.run(&["redo-ood"]).success().stdout_is("");
}

/// A check that validates the caches of many directories entry by entry
/// holds at most a few descriptors for them: with `ulimit -n 64` and 120
/// directories, the no-op succeeds (it failed with "Too many open files"
/// while every `.redo/` it validated stayed open).
#[test]
fn many_directories_checked_entry_by_entry_keep_few_descriptors() {
    let dirs = 120;
    let per_dir = 5; // a cache is written for four `.dep` files or more
    let names: Vec<String> = (0..dirs)
        .flat_map(|d| (0..per_dir).map(move |t| format!("d{d}/t{t}.t")))
        .collect();
    let sb = new_sb().file("default.t.do", "echo x\n").file(
        "all.do",
        format!("redo-ifchange {}\necho done\n", names.join(" ")),
    );
    sb.run(&["redo-ifchange", "all"]).success();
    // Quiet no-ops write a cache in each directory.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(250));
        sb.run(&["redo-ifchange", "all"]).success();
    }
    assert!(sb.exists(format!("d7/{CACHE}")), "{:?}", sb.ls("d7/.redo"));
    // Every `.redo/` changed since: each cache is validated entry by entry.
    for d in 0..dirs {
        sb.touch(format!("d{d}/.redo/x"));
        sb.remove(format!("d{d}/.redo/x"));
    }
    sb.sh("ulimit -n 64 && exec redo-ifchange all").success();
    sb.touch("d3/t1.t.do");
    sb.sh("ulimit -n 64 && exec redo-ifchange all")
        .success()
        .stderr_contains("t1.t");
}

/// The names of `sub/` a listing found are kept in its cache with the
/// directory's stamp (src/state/dirnames.rs); a `.do` file made right
/// after they were written, in the same clock tick if it can be, must
/// still be seen by the next build.
#[test]
fn a_do_file_made_after_a_directorys_names_were_remembered_is_used() {
    let sb = new_sb()
        .file(
            "default.t.do",
            "echo \"$2\" >>runs\nredo-ifchange \"$2.in\"\ncat \"$2.in\"\n",
        )
        .file(
            "all.do",
            "redo-ifchange sub/a.t sub/b.t sub/c.t\necho done\n",
        )
        .file("sub/a.in", "a\n")
        .file("sub/b.in", "b\n")
        .file("sub/c.in", "c\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "runs"), 3);
    // Quiet no-ops: the cache of sub/ is written, with the names of sub/.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(250));
        sb.run(&["redo-ifchange", "all"]).success();
    }
    assert!(
        sb.exists("sub/.redo/.ferredo/deps"),
        "{:?}",
        sb.ls("sub/.redo")
    );
    assert_eq!(count(&sb, "runs"), 3, "a no-op rebuilt something");
    // A more specific .do for b, then one for every .t of sub/.
    sb.write("sub/b.t.do", "echo special\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("sub/b.t"), "special\n");
    assert_eq!(sb.read("sub/a.t"), "a\n");
    std::thread::sleep(Duration::from_millis(250));
    sb.run(&["redo-ifchange", "all"]).success();
    sb.write("sub/default.t.do", "echo near\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("sub/a.t"), "near\n");
    assert_eq!(sb.read("sub/c.t"), "near\n");
    assert_eq!(sb.read("sub/b.t"), "special\n");
    sb.run(&["redo-ood"]).success().stdout_is("");
}
