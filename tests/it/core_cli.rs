//! The command line and the messages (spec/goredo.md §1, §7, §4.5): flags in goredo's
//! spellings, tracing, silence, kept logs, the stderr relay, completion and error lines,
//! no colour off a terminal, the applet links and the private applet directory.

use crate::core_common::*;
use crate::sandbox::*;

/// Does `line` end with `<name> (<secs with 3 decimals>s)`, preceded by the line start
/// or a space?
fn is_completion(line: &str, name: &str) -> bool {
    let Some(rest) = line.strip_suffix("s)") else {
        return false;
    };
    let Some(open) = rest.rfind(" (") else {
        return false;
    };
    let (head, secs) = (&rest[..open], &rest[open + 2..]);
    let Some((int, frac)) = secs.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || frac.len() != 3 {
        return false;
    }
    head == name || head.ends_with(&format!(" {name}"))
}

#[test]
fn completion_line_of_an_exact_do() {
    let sb = new_sb().file("t.do", "echo x\n");
    let out = sb.run(&["redo", "t"]);
    out.success();
    assert!(
        out.stderr().lines().any(|l| is_completion(l, "t")),
        "want `t (N.NNNs)`\n{out:?}"
    );
}

#[test]
fn completion_line_of_a_default_do_names_it() {
    let sb = new_sb().file("default.z.do", "echo x\n");
    let out = sb.run(&["redo", "x.z"]);
    out.success();
    assert!(
        out.stderr()
            .lines()
            .any(|l| is_completion(l, "x.z (default.z.do)")),
        "want `x.z (default.z.do) (N.NNNs)`\n{out:?}"
    );
}

#[test]
fn nothing_is_printed_for_up_to_date_targets() {
    let sb = new_sb().file("t.do", "echo x\n");
    sb.run(&["redo-ifchange", "t"]).success();
    sb.run(&["redo-ifchange", "t"]).success().stderr_is("");
}

#[test]
fn failure_line_names_the_target() {
    let sb = new_sb().file("bad.do", "exit 3\n");
    let out = sb.run(&["redo", "bad"]);
    out.code(1);
    assert!(
        out.stderr()
            .lines()
            .any(|l| l.contains("bad") && l.contains("exit status 3")),
        "want `bad (N.NNNs): exit status 3`\n{out:?}"
    );
}

#[test]
fn job_stderr_is_relayed_with_the_target_name() {
    let sb = new_sb().file(
        "sub/t.do",
        "echo first line >&2\necho 'second line' >&2\necho x\n",
    );
    let out = sb.run(&["redo", "sub/t"]);
    out.success();
    let err = out.stderr();
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.contains(&"[sub/t]first line"), "{out:?}");
    assert!(lines.contains(&"[sub/t]second line"), "{out:?}");
}

#[test]
fn nested_job_stderr_reaches_the_top() {
    let sb = new_sb()
        .file("all.do", "redo-ifchange inner\ncat inner\n")
        .file("inner.do", "echo from inner >&2\necho i\n");
    let out = sb.run(&["redo", "all"]);
    out.success();
    assert!(
        out.stderr()
            .lines()
            .any(|l| l.ends_with("[inner]from inner")),
        "{out:?}"
    );
}

#[test]
fn s_hides_job_stderr() {
    let sb = new_sb().file("t.do", "echo secret words >&2\necho x\n");
    sb.run(&["redo", "t"])
        .success()
        .stderr_contains("[t]secret words");
    sb.run(&["redo", "-s", "t"])
        .success()
        .stderr_lacks("secret words");
    sb.cmd(&["redo", "t"])
        .env("REDO_SILENT", "1")
        .run()
        .success()
        .stderr_lacks("secret words");
}

#[test]
fn x_traces_the_dotdo_commands() {
    let sb = new_sb().file("t.do", ": traced-marker\necho x\n");
    sb.run(&["redo", "t"])
        .success()
        .stderr_lacks("+ : traced-marker");
    let out = sb.run(&["redo", "-x", "t"]);
    out.success();
    assert!(
        out.stderr()
            .lines()
            .any(|l| l.starts_with("[t]") && l.contains("+ : traced-marker")),
        "{out:?}"
    );
}

#[test]
fn x_traces_only_this_invocations_targets_and_xx_traces_all() {
    let sb = new_sb()
        .file("all.do", ": outer-marker\nredo-ifchange inner\n")
        .file("inner.do", ": inner-marker\n");
    sb.run(&["redo", "-x", "all"])
        .success()
        .stderr_contains("+ : outer-marker")
        .stderr_lacks("+ : inner-marker");
    sb.run(&["redo", "-xx", "all"])
        .success()
        .stderr_contains("+ : outer-marker")
        .stderr_contains("+ : inner-marker");
}

#[test]
fn k_keeps_a_tai64n_log_and_a_log_rec() {
    let sb = new_sb().file("t.do", "echo kept one >&2\necho kept two >&2\necho x\n");
    sb.run(&["redo", "-k", "t"]).success();
    let log = sb.read(".redo/t.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for (l, want) in lines.iter().zip(["kept one", "kept two"]) {
        let (label, text) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
        assert_eq!(text, want);
        assert_eq!(label.len(), 25, "label {label:?}");
        assert!(label.starts_with("@4000"), "label {label:?}");
        assert!(
            label[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "label {label:?}"
        );
    }
    let rec = sb.read(".redo/t.log-rec");
    let field = |k: &str| -> Vec<String> {
        rec.lines()
            .filter_map(|l| l.strip_prefix(&format!("{k}: ")).map(String::from))
            .collect()
    };
    assert_eq!(field("Build").len(), 1, "{rec}");
    assert_eq!(field("Cmd"), ["/bin/sh"], "{rec}");
    let args = field("Arg");
    assert_eq!(&args[..3], ["-e", "t.do", "t"], "{rec}");
    assert_eq!(args.len(), 5, "{rec}");
    assert_eq!(field("Cwd"), [sb.root().display().to_string()], "{rec}");
    for k in ["Started", "Finished"] {
        let v = field(k);
        assert!(
            v.len() == 1 && v[0].starts_with("@4000") && v[0].len() == 25,
            "{k}: {rec}"
        );
    }
    // Without -k, nothing is kept.
    let sb = new_sb().file("t.do", "echo not kept >&2\necho x\n");
    sb.run(&["redo", "t"]).success();
    assert!(!sb.exists(".redo/t.log"));
}

#[test]
fn no_escape_bytes_off_a_terminal() {
    let sb = new_sb()
        .file("t.do", "echo x\n")
        .file("bad.do", "echo oops >&2\nexit 1\n")
        .file("m.do", "echo m\n");
    sb.run(&["redo", "m"]).success();
    sb.write("m", "modified\n");
    for no_color in [false, true] {
        let mut c = sb.cmd(&["redo", "t", "m", "bad"]);
        if no_color {
            c = c.env("NO_COLOR", "1");
        }
        let out = c.run();
        out.failure().stderr_contains("externally modified");
        assert!(
            !out.stderr_bytes().contains(&0x1b) && !out.stderr_bytes().contains(&b'\r'),
            "escape or CR on a non-terminal (NO_COLOR={no_color})\n{out:?}"
        );
    }
}

#[test]
fn log_pid_prefixes_job_lines_with_the_pid() {
    let sb = new_sb().file("t.do", "echo with pid >&2\necho x\n");
    for flag in ["-log-pid", "--log-pid"] {
        let out = sb.run(&["redo", flag, "t"]);
        out.success();
        let ok = out.stderr().lines().any(|l| {
            l.strip_prefix("[t][")
                .and_then(|r| r.split_once("] "))
                .is_some_and(|(pid, text)| {
                    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && text == "with pid"
                })
        });
        assert!(ok, "{flag}: want `[t][PID] with pid`\n{out:?}");
    }
}

#[test]
fn goredo_flag_spellings_are_accepted() {
    let sb = new_sb().file("t.do", "echo x\n");
    for args in [
        &["redo", "-j=4", "t"][..],
        &["redo", "-j", "4", "t"][..],
        &["redo", "-j4", "t"][..],
        &["redo", "-xx", "t"][..],
        &["redo", "-x", "t"][..],
        &["redo", "-log-pid", "t"][..],
        &["redo", "--log-pid", "t"][..],
        &["redo", "-no-status", "t"][..],
        &["redo", "-no-progress", "t"][..],
        &["redo", "-k", "-s", "t"][..],
        &["redo", "-d", "t"][..],
        &["redo-ifchange", "-f", "-j=2", "t"][..],
    ] {
        sb.remove("t");
        sb.run(args).success();
        assert_eq!(sb.read("t"), "x\n", "{args:?}");
    }
}

#[test]
fn unknown_flag_exits_2() {
    let sb = new_sb().file("t.do", "echo x\n");
    sb.run(&["redo", "--no-such-flag", "t"]).code(2);
    sb.run(&["redo-ifchange", "-no-such-flag", "t"]).code(2);
    assert!(!sb.exists("t"));
}

#[test]
fn version_and_help_on_every_applet() {
    let sb = new_sb();
    for applet in APPLETS {
        for flag in ["--version", "--help"] {
            let out = sb.run(&[applet, flag]);
            out.success();
            assert!(
                !out.stdout().trim().is_empty(),
                "{applet} {flag} printed nothing on stdout\n{out:?}"
            );
        }
    }
}

#[test]
fn install_symlinks_creates_working_applet_links() {
    let sb = new_sb().dir("links");
    sb.run(&["redo", "--install-symlinks", &sb.abs("links")])
        .success();
    let mut names = sb.ls("links");
    names.sort();
    let mut want: Vec<String> = APPLETS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    for name in APPLETS {
        let target = std::fs::canonicalize(sb.path("links").join(name)).unwrap();
        assert_eq!(target, std::fs::canonicalize(redo_exe()).unwrap(), "{name}");
    }
    // They dispatch on their name.
    sb.write("t.do", "echo x\n");
    sb.cmd(&[&format!("{}/redo-ifchange", sb.abs("links")), "t"])
        .run()
        .success();
    assert_eq!(sb.read("t"), "x\n");
}

#[test]
fn goredo_symlinks_flag_installs_into_the_current_directory() {
    let sb = new_sb().dir("links");
    sb.cmd(&["redo", "-symlinks"]).cwd("links").run().success();
    assert_eq!(sb.ls("links").len(), APPLETS.len(), "{:?}", sb.ls("links"));
}

#[test]
fn private_applet_dir_when_the_applets_are_not_on_path() {
    // Only the binary, run by its absolute path, with a PATH holding no applet at all.
    let sb = new_sb()
        .only_redo()
        .file("all.do", "redo-ifchange a b\ncat a b\n")
        .file("a.do", "redo-ifchange b\necho a\n")
        .file("b.do", "redo-always\necho b\n");
    let exe = redo_exe();
    sb.cmd(&[exe.to_str().unwrap(), "-j2", "all"])
        .env("PATH", "/usr/bin:/bin")
        .run()
        .success();
    assert_eq!(sb.read("all"), "a\nb\n");
    // And through the remaining bin/redo link on the sandbox PATH.
    sb.run(&["redo", "all"]).success();
    assert_no_temp_files(&sb);
}

#[test]
fn words_after_the_first_operand_are_operands_even_like_flags() {
    // As Go's flag package parses goredo's argv: flags end at the first
    // operand (ferredo takes that case without its argument parser).
    let sb = new_sb().file("default.out.do", "echo \"$2\"\n");
    sb.run(&["redo-ifchange", "a.out", "-j.out", "-x.out"])
        .success();
    assert_eq!(sb.read("a.out"), "a\n");
    assert_eq!(sb.read("-j.out"), "-j\n");
    assert_eq!(sb.read("-x.out"), "-x\n");
    // A flag first is still a flag.
    sb.run(&["redo-ifchange", "-j", "2", "b.out", "-k.out"])
        .success();
    assert_eq!(sb.read("-k.out"), "-k\n");
}

#[test]
fn log_rec_records_the_whole_environment_of_the_job() {
    // Issue 11: as goredo, every variable the job saw, so `redo-log -c` can reproduce it.
    let sb = new_sb().file("t.do", "echo x\n");
    sb.cmd(&["redo", "-k", "t"])
        .env("CC", "my-cc -O2")
        .env("CFLAGS", "-Wall")
        .run()
        .success();
    let rec = sb.read(".redo/t.log-rec");
    let env: Vec<&str> = rec
        .lines()
        .filter_map(|l| l.strip_prefix("Env: "))
        .collect();
    for want in [
        "CC=my-cc -O2",
        "CFLAGS=-Wall",
        "REDO_DEP_FD=",
        "REDO_BUILD_UUID=",
    ] {
        assert!(
            env.iter().any(|e| e.starts_with(want)),
            "no {want} in {rec}"
        );
    }
    assert!(
        env.iter().any(|e| e.starts_with("PATH=")),
        "no PATH in {rec}"
    );
    let mut sorted = env.clone();
    sorted.sort_unstable();
    assert_eq!(env, sorted, "Env fields in order");
}
