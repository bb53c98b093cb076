//! The status line (spec/goredo.md §7.2, bin/redo/status.rs): drawn only by the
//! top-level redo on a terminal, fed by every redo of the tree through
//! `REDO_STATUS_FD`, erased at the end. The terminal is a real pty from
//! util-linux `script`.

use crate::core_common::*;
use crate::sandbox::*;

/// Run `redo ARGS` on a pty; what the terminal received (CR LF as the pty
/// writes it).
fn on_pty(sb: &Sandbox, args: &str, env: &[(&str, &str)]) -> Output {
    let mut c = sb.cmd(&["script", "-qec", &format!("redo {args}"), "/dev/null"]);
    for (k, v) in env {
        c = c.env(k, v);
    }
    c.run()
}

/// Every status line drawn, in order, as plain text.
fn drawn(out: &str) -> Vec<String> {
    out.split('\r')
        .filter_map(|piece| piece.strip_prefix("run: "))
        .map(|rest| format!("run: {}", rest.trim_end_matches("\x1b[K")))
        .collect()
}

fn tree() -> Sandbox {
    new_sb()
        .file("all.do", "redo-ifchange a b c\necho all\n")
        .file(
            "default.do",
            "echo \"$2 starts\" >&2\nredo-ifchange \"$2.sub\"\necho \"$2\"\n",
        )
        .file("default.sub.do", "sleep 0.1\necho sub\n")
}

#[test]
fn status_line_counts_the_jobs_of_every_redo_and_is_erased_at_the_end() {
    let sb = tree();
    let out = on_pty(&sb, "-j2 all", &[("NO_COLOR", "1")]);
    out.success();
    let text = out.stdout();
    let lines = drawn(&text);
    // 7 jobs: all, a, b, c, and a.sub, b.sub, c.sub built by nested redos.
    assert_eq!(
        lines.last().map(String::as_str),
        Some("run: 0 wait: 0 done: 7"),
        "{text:?}"
    );
    // The message lines are still there, each overwriting the status line
    // once one is on screen (a .do's first line may beat the first draw).
    assert!(text.contains("\rredo all ("), "{text:?}");
    let at = text
        .find("[a]a starts")
        .unwrap_or_else(|| panic!("{text:?}"));
    if text[..at].contains("\rrun: ") {
        assert!(text.contains("\r[a]a starts\x1b[K"), "{text:?}");
    }
    // Erased at the end: nothing follows the erase.
    assert!(text.ends_with("\r\x1b[K"), "{text:?}");
    assert!(
        !text.contains("\x1b[3"),
        "colour despite NO_COLOR: {text:?}"
    );
}

#[test]
fn status_line_is_coloured_unless_no_color() {
    let sb = tree();
    let out = on_pty(&sb, "all", &[]);
    out.success();
    assert!(
        out.stdout().contains("done: \x1b[37m"),
        "{:?}",
        out.stdout()
    );
}

#[test]
fn status_line_shows_a_wait_for_a_target_another_redo_builds() {
    // a builds `shared`; b asks for it only once that build has started,
    // so b's redo finds it locked and waits.
    let sb = new_sb()
        .file("all.do", "redo-ifchange a b\n")
        .file("a.do", "redo-ifchange shared\n")
        .file(
            "b.do",
            "while [ ! -e started ]; do sleep 0.01; done\nredo-ifchange shared\n",
        )
        .file("shared.do", "touch started\nsleep 1\necho shared\n");
    let out = on_pty(&sb, "-j2 all", &[("NO_COLOR", "1")]);
    out.success();
    let lines = drawn(&out.stdout());
    assert!(
        lines.iter().any(|l| l.contains("wait: 1")),
        "no wait shown: {lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("run: 0 wait: 0 done: 4"),
        "{lines:?}"
    );
}

#[test]
fn no_status_and_no_progress_draw_nothing_and_tell_children_no() {
    for (args, env) in [
        ("-no-status t", vec![]),
        ("-no-progress t", vec![]),
        ("t", vec![("REDO_NO_STATUS", "1")]),
    ] {
        let sb = new_sb().file("t.do", "echo \"$REDO_STATUS_FD\"\n");
        let out = on_pty(&sb, args, &env);
        out.success();
        assert!(
            !out.stdout().contains("run:"),
            "{args} {env:?}: {:?}",
            out.stdout()
        );
        assert_eq!(sb.read("t"), "NO\n", "{args} {env:?}");
    }
}

#[test]
fn no_status_line_off_a_terminal_and_children_told_no() {
    let sb = new_sb().file("t.do", "echo \"$REDO_STATUS_FD\"\n");
    let out = sb.run(&["redo", "t"]);
    out.success();
    assert!(!out.stderr().contains("run:"), "{}", out.stderr());
    assert_eq!(sb.read("t"), "NO\n");
    // On a terminal the child gets the pipe's fd, above the jobserver's range.
    on_pty(&sb, "t", &[]).success();
    let fd: i32 = sb.read("t").trim().parse().expect("an fd number");
    assert!(fd >= 10, "{fd}");
}

#[test]
fn an_inherited_fd_that_is_not_a_pipe_gets_no_status_bytes() {
    // A number reused for a regular file must be left alone.
    let sb = new_sb()
        .file(
            "t.do",
            "exec 9>\"$REDO_DEP_CWD/stray\"\nREDO_STATUS_FD=9 redo-ifchange sub\necho t\n",
        )
        .file("sub.do", "echo sub\n");
    on_pty(&sb, "t", &[]).success();
    assert_eq!(sb.read("sub"), "sub\n");
    assert_eq!(
        sb.read_bytes("stray"),
        b"",
        "status bytes went to a regular file"
    );
}
