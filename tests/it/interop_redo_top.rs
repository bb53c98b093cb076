//! Interop with redo as the top-level jobserver (spec/jobserver.md §6: S1, S2, S13, S17).

use crate::interop_common::*;
use crate::sandbox::*;
use std::time::Duration;

fn sb() -> Sandbox {
    Sandbox::new().timeout(Duration::from_secs(60))
}

/// The `R,W` of a `--jobserver-auth=R,W` word in `flags` (exactly one auth word).
#[track_caller]
fn pipe_auth(flags: &str) -> (u32, u32) {
    let auths: Vec<&str> = flags
        .split(' ')
        .filter_map(|w| w.strip_prefix("--jobserver-auth="))
        .collect();
    assert_eq!(auths.len(), 1, "one auth word in {flags:?}");
    let (r, w) = auths[0].split_once(',').expect("R,W");
    (r.parse().expect("R"), w.parse().expect("W"))
}

/// S1: `redo -jN` over six independent 0.5 s jobs runs exactly min(N, 6) at once; a
/// `.do` sees ` -jN --jobserver-auth=R,W` with R and W open ends of one pipe at fds >= 10;
/// every token is back when the parallel part is over; no warning.
#[test]
fn interop_s1_redo_jn_top_level() {
    for n in [3usize, 1, 2, 6] {
        let sb = sb();
        leaves(&sb, "all", "a", 6, 0.5, "log");
        let out = sb.run(&["redo", &format!("-j{n}"), "all"]);
        out.success();
        assert_no_trouble(&out, &[]);
        assert_max(&sb, "log", n.min(6), 6, &format!("redo -j{n}"));
        assert_eq!(
            recorded_count(&sb, "all"),
            format!("count={}", n - 1),
            "-j{n}"
        );
        let flags = sb.read("all.makeflags");
        let flags = flags.trim_end_matches('\n');
        let (r, w) = pipe_auth(flags);
        assert_eq!(flags, format!(" -j{n} --jobserver-auth={r},{w}"), "-j{n}");
        assert!(r >= 10 && w >= 10, "fds {r},{w} should be >= 10");
        let info = sb.read("all.info");
        assert!(
            info.contains(&format!("auth={r},{w} style=pipe usable=yes")),
            "-j{n}: {info}"
        );
        assert_tmp_clean(&sb);
    }
}

/// S2: `redo -j1` and `redo` without `-j` run one job at a time in the whole tree: the
/// redo jobs, a make below (no `-j`) and a cargo below (even `cargo build -j6`) all share
/// the one slot (ferredo's decision: a 0-token jobserver is advertised, apenwarr-like).
/// cargo says it ignores its `-j6`; nothing else is printed.
#[test]
fn interop_s2_redo_j1_and_default_are_serial_for_the_whole_tree() {
    let sb = with_cargo_ws(sb().link_bin("make", tool_make43()));
    sb.write(
        "sub.mk",
        "M := m1 m2 m3 m4 m5 m6\nall: $(M)\n$(M):\n\t@job $@ 0.3 $(LOG)\n.PHONY: all $(M)\n",
    );
    sb.write(
        "all.do",
        "redo-ifchange a1.job a2.job a3.job mk cargo\njsctl count >all.count\n",
    );
    sb.write("default.job.do", "redo-always\njob \"$2\" 0.3 \"$LOG\"\n");
    sb.write("mk.do", "redo-always\nmake -s -f sub.mk LOG=\"$LOG\" >&2\n");
    sb.write(
        "cargo.do",
        format!(
            "redo-always\ncd \"{}\" && cargo build -j6 >&2\n",
            sb.abs("cw")
        ),
    );
    for (i, args) in [vec!["redo", "-j1", "all"], vec!["redo", "all"]]
        .into_iter()
        .enumerate()
    {
        let log = format!("log{i}");
        let mut cmd = sb.cmd(&args).env("LOG", sb.abs(&log));
        for (k, v) in cargo_run_env(&sb, &log, &format!("s2-{i}")) {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        out.success();
        assert_no_trouble(&out, &[CARGO_J_IGNORED]);
        assert_once(&out, CARGO_J_IGNORED);
        // 3 redo jobs + 6 make recipes + 6 build scripts, one at a time.
        assert_max(&sb, &log, 1, 15, &format!("{args:?}"));
        assert_eq!(recorded_count(&sb, "all"), "count=0", "{args:?}");
        assert_tmp_clean(&sb);
    }
}

/// S13: `MAKEFLAGS` with a `-j` but no jobserver does not set redo's job count (goredo
/// reads only `-j`/`REDO_JOBS`): redo is the top level and serves its own; foreign flags
/// (`k`) are kept for the children; no warning.
#[test]
fn interop_s13_makeflags_without_auth() {
    let cases: [(&str, &[&str], usize, &str); 4] = [
        (" -j2", &["redo", "all"], 1, " -j1 --jobserver-auth="),
        (" -j", &["redo", "all"], 1, " -j1 --jobserver-auth="),
        ("k", &["redo", "all"], 1, "k -j1 --jobserver-auth="),
        ("k", &["redo", "-j3", "all"], 3, "k -j3 --jobserver-auth="),
    ];
    for (flags, args, n, child) in cases {
        let sb = sb();
        leaves(&sb, "all", "a", 4, 0.4, "log");
        let out = sb.cmd(args).env("MAKEFLAGS", flags).run();
        out.success();
        assert_no_trouble(&out, &[]);
        assert_max(&sb, "log", n, 4, &format!("MAKEFLAGS={flags:?} {args:?}"));
        let seen = sb.read("all.makeflags");
        assert!(
            seen.starts_with(child),
            "MAKEFLAGS={flags:?} {args:?}: child got {seen:?}, want {child:?}..."
        );
        pipe_auth(seen.trim_end());
        assert_eq!(recorded_count(&sb, "all"), format!("count={}", n - 1));
        assert!(
            sb.read("all.info").contains("style=pipe usable=yes"),
            "{}",
            sb.read("all.info")
        );
    }
}

/// S17: a huge `-j` either works (the pipe is enlarged and holds N-1 tokens, every one
/// back at the end) or fails at once with a clear message; it never blocks (make -j70000
/// hangs forever filling its pipe).
#[test]
fn interop_s17_huge_j_never_hangs() {
    for (n, style) in [
        (65537u64, "pipe"),
        (70000, "pipe"),
        (100000, "pipe"),
        (70000, "fifo"),
    ] {
        let sb = sb().timeout(Duration::from_secs(30));
        leaves(&sb, "all", "a", 6, 0.3, "log");
        let out = sb
            .cmd(&["redo", &format!("-j{n}"), "all"])
            .env("REDO_JOBSERVER_STYLE", style)
            .run();
        let what = format!("redo -j{n} ({style})");
        if out.status().success() {
            assert_no_trouble(&out, &[]);
            assert_max(&sb, "log", 6, 6, &what);
            assert_eq!(
                recorded_count(&sb, "all"),
                format!("count={}", n - 1),
                "{what}"
            );
        } else {
            // A clean refusal before any job ran.
            out.stderr_contains("cannot set up the jobserver");
            assert!(!sb.exists("log"), "{what}: jobs ran before the failure");
        }
        assert_tmp_clean(&sb);
        eprintln!(
            "{what}: {}",
            if out.status().success() {
                "served".to_string()
            } else {
                out.stderr()
            }
        );
    }
}

/// No slot idles while a job waits for another process: `a` and `b` both need `s`; `a`'s
/// nested redo builds it (its `.do` asks for `s1` and `s2`, 1 s each) while `b`'s waits
/// for `s`'s lock with nothing else to do. Its slot (the one `b` runs on) goes to the
/// pool for the wait, so `s1` and `s2` run side by side: with N = 2, two jobs at once,
/// where keeping the slot idle ran them one after the other. Under `redo -j2`, make 4.3
/// and make 4.4.1 (fifo) on top; every token comes back (make's and redo's own checks).
#[test]
fn interop_a_slot_waiting_for_a_lock_is_lent_not_idle() {
    let tops: [(&str, Option<Make>); 3] = [
        ("redo -j2", None),
        ("make 4.3 -j2", Some(Make::M43)),
        ("make 4.4.1 -j2", Some(Make::M44Fifo)),
    ];
    for (what, top) in tops {
        let sb = sb();
        sb.write("all.do", "redo-ifchange a b\n");
        sb.write("a.do", "redo-ifchange s\n");
        // `b` comes to `s` once `a`'s redo has taken its lock and `s1` has started.
        sb.write("b.do", "sleep 0.4\nredo-ifchange s\n");
        sb.write("s.do", "redo-ifchange s1 s2\n");
        for i in ["s1", "s2"] {
            sb.write(format!("{i}.do"), job_line(&sb, i, 1.0, "log"));
        }
        makefile(&sb, "Makefile", &[("top", &["+redo all"])]);
        let out = match top {
            None => sb.run(&["redo", "-j2", "all"]),
            Some(m) => run_make(&sb, m, 2, &["-s", "top"]),
        };
        out.success();
        assert_no_trouble(&out, &[]);
        assert_eq!(
            overlap_of(&sb, "log", "s"),
            (2, 2),
            "{what}\n{}",
            sb.read("log")
        );
        assert_tmp_clean(&sb);
    }
}
