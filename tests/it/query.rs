//! The query applets (issue 4): redo-whichdo, redo-targets, redo-sources, redo-ood,
//! redo-affects, redo-log, redo-dot, redo-cleanup, redo-depfix, redo-dep2rec.
//!
//! A fixture tree is built by the real redo, then edited (a source changed, touched,
//! deleted; a .do edited; an ifcreate file created; an always target), and every applet's
//! exact output is checked. `redo-ood` must agree with what a build then rebuilds.

use crate::sandbox::*;
use std::path::Path;

// ---- fixture --------------------------------------------------------------------------

/// The name with a newline in it.
const NL: &str = "new\nline";

/// A tree with C-like objects, a generated header guarded by an ifcreate, and targets
/// with a space, unicode, a leading dash and a newline in their names. Every .do appends
/// `$1` to `built.log` in the project root (the `LOG` variable), to compare `redo-ood`
/// with what a build really rebuilds.
fn fixture() -> Sandbox {
    let sb = Sandbox::new();
    let log = sb.abs("built.log");
    let sb = sb.env("LOG", &log);
    sb.write("a.c", "A\n");
    sb.write("sub/b.c", "B\n");
    sb.write(
        "default.o.do",
        "echo \"$1\" >>\"$LOG\"\nredo-ifchange \"$2.c\"\ncat \"$2.c\"\n",
    );
    sb.write(
        "prog.do",
        "echo \"$1\" >>\"$LOG\"\nredo-ifchange a.o sub/b.o\ncat a.o sub/b.o\n",
    );
    sb.write(
        "gen.h.do",
        "echo \"$1\" >>\"$LOG\"\nredo-ifcreate override.h\necho gen\n",
    );
    sb.write("with space.do", "echo \"$1\" >>\"$LOG\"\necho s\n");
    sb.write("uni-é.do", "echo \"$1\" >>\"$LOG\"\necho u\n");
    sb.write("default.x.do", "echo \"$1\" >>\"$LOG\"\necho x\n");
    sb.write(format!("{NL}.do"), "echo \"$1\" >>\"$LOG\"\necho n\n");
    sb.write(
        "all.do",
        "echo \"$1\" >>\"$LOG\"\n\
         redo-ifchange prog gen.h \"with space\" uni-é ./-dash.x \"$(printf 'new\\nline')\"\n\
         echo all\n",
    );
    sb.run(&["redo", "all"]).success();
    sb.remove("built.log");
    sb
}

const TARGETS: &[&str] = &[
    "-dash.x",
    "a.o",
    "all",
    "gen.h",
    NL,
    "prog",
    "sub/b.o",
    "uni-é",
    "with space",
];

const SOURCES: &[&str] = &[
    "a.c",
    "all.do",
    "default.o.do",
    "default.x.do",
    "gen.h.do",
    "new\nline.do",
    "prog.do",
    "sub/b.c",
    "uni-é.do",
    "with space.do",
];

/// NUL-terminated entries of a `-0` listing.
fn zlist(out: &Output) -> Vec<String> {
    let b = out.stdout_bytes();
    assert!(
        b.is_empty() || b.ends_with(b"\0"),
        "not NUL-terminated: {b:?}"
    );
    b.split(|&c| c == 0)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8(e.to_vec()).expect("utf-8"))
        .collect()
}

/// Newline-terminated lines of stdout.
fn lines(out: &Output) -> Vec<String> {
    out.stdout().lines().map(str::to_string).collect()
}

/// `redo-ood -d -0` as (target, reason) pairs.
/// The rows `redo-ood -d` gives when `a.o` is out of date for `reason`:
/// `a.o`, then `all` and `prog` through it (sorted by target).
fn through_prog(reason: &str) -> Vec<(String, String)> {
    vec![
        ("a.o".into(), reason.into()),
        (
            "all".into(),
            format!("prog is out of date: a.o is out of date: {reason}"),
        ),
        ("prog".into(), format!("a.o is out of date: {reason}")),
    ]
}

fn why(sb: &Sandbox) -> Vec<(String, String)> {
    let out = sb.run(&["redo-ood", "-d", "-0"]);
    out.success();
    zlist(&out)
        .into_iter()
        .map(|e| {
            let (t, r) = e
                .split_once('\t')
                .unwrap_or_else(|| panic!("no tab in {e:?}"));
            (t.to_string(), r.to_string())
        })
        .collect()
}

/// Targets the next build rebuilds (sorted), from `built.log`.
fn rebuilt(sb: &Sandbox) -> Vec<String> {
    sb.remove("built.log");
    sb.run(&["redo-ifchange", "all"]).success();
    if !sb.exists("built.log") {
        return Vec::new();
    }
    // $1 of the newline target spans two lines of the log
    let text = sb.read("built.log").replace("new\nline", "new\\nline");
    let mut v: Vec<String> = text.lines().map(|l| l.replace("new\\nline", NL)).collect();
    v.sort();
    v
}

fn names(v: &[(String, String)]) -> Vec<String> {
    v.iter().map(|(t, _)| t.clone()).collect()
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- lists after a build -------------------------------------------------------------

#[test]
fn targets_sources_ood_after_a_build() {
    let sb = fixture();
    assert_eq!(zlist(&sb.run(&["redo-targets", "-0"])), owned(TARGETS));
    assert_eq!(zlist(&sb.run(&["redo-sources", "-0"])), owned(SOURCES));
    sb.run(&["redo-ood"]).success().stdout_is("");
    // without -0 the same list, one per line (the newline name spans two lines)
    let plain = sb.run(&["redo-targets"]);
    plain.success();
    assert_eq!(
        plain.stdout(),
        TARGETS.iter().map(|t| format!("{t}\n")).collect::<String>()
    );
    // goredo spellings of the flags
    sb.run(&["redo-ood", "-why"]).success().stdout_is("");
    sb.run(&["redo-targets", "--version"]).success();
}

#[test]
fn operands_give_their_dependency_closure() {
    let sb = fixture();
    sb.run(&["redo-targets", "prog"])
        .success()
        .stdout_is("a.o\nprog\nsub/b.o\n");
    sb.run(&["redo-sources", "prog"])
        .success()
        .stdout_is("a.c\ndefault.o.do\nprog.do\nsub/b.c\n");
    sb.run(&["redo-targets", "a.c"]).success().stdout_is("");
    // relative to the cwd, targets outside it included
    sb.cmd(&["redo-targets"])
        .cwd("sub")
        .run()
        .success()
        .stdout_is("b.o\n");
    sb.cmd(&["redo-targets", "../prog"])
        .cwd("sub")
        .run()
        .success()
        .stdout_is("../a.o\n../prog\nb.o\n");
    sb.cmd(&["redo-sources"])
        .cwd("sub")
        .run()
        .success()
        .stdout_is("../default.o.do\nb.c\n");
    // odd names as operands; a leading dash after --
    sb.run(&["redo-targets", "with space", "uni-é"])
        .success()
        .stdout_is("uni-é\nwith space\n");
    sb.run(&["redo-sources", "--", "-dash.x"])
        .success()
        .stdout_is("default.x.do\n");
    let out = sb.run(&["redo-sources", "-0", NL]);
    assert_eq!(zlist(&out), [format!("{NL}.do")]);
}

// ---- redo-ood after edits -----------------------------------------------------------------

#[test]
fn ood_source_content_changed() {
    let sb = fixture();
    sb.write("a.c", "Z\n"); // same size: only the hash tells
    let w = why(&sb);
    assert_eq!(w, through_prog("a.c changed: content differs"));
    assert_eq!(lines(&sb.run(&["redo-ood"])), names(&w));
    assert_eq!(
        rebuilt(&sb),
        names(&w),
        "redo-ood must list what a build rebuilds"
    );
    sb.run(&["redo-ood"]).success().stdout_is("");

    sb.write("a.c", "longer\n");
    assert_eq!(
        why(&sb)[0],
        ("a.o".into(), "a.c changed: size differs".into())
    );
}

#[test]
fn ood_source_touched_without_change_is_up_to_date() {
    let sb = fixture();
    let before = sb.metadata("a.c");
    sb.touch("a.c");
    sb.touch("default.o.do");
    let after = sb.metadata("a.c");
    use std::os::unix::fs::MetadataExt;
    assert!((after.ctime(), after.ctime_nsec()) != (before.ctime(), before.ctime_nsec()));
    sb.run(&["redo-ood"]).success().stdout_is("");
    sb.cmd(&["redo-ood"])
        .env("REDO_INODE_TRUST", "none")
        .run()
        .success()
        .stdout_is("");
    sb.cmd(&["redo-ood"])
        .env("REDO_INODE_TRUST", "mtime")
        .run()
        .success()
        .stdout_is("");
    assert_eq!(rebuilt(&sb), Vec::<String>::new());
}

#[test]
fn ood_source_deleted() {
    let sb = fixture();
    sb.remove("sub/b.c");
    assert_eq!(
        why(&sb),
        [
            (
                "all".into(),
                "prog is out of date: sub/b.o is out of date: sub/b.c is missing".into()
            ),
            (
                "prog".into(),
                "sub/b.o is out of date: sub/b.c is missing".into()
            ),
            ("sub/b.o".into(), "sub/b.c is missing".into()),
        ]
    );
    // from the subdirectory, paths are relative to it
    sb.cmd(&["redo-ood", "-d"])
        .cwd("sub")
        .run()
        .success()
        .stdout_is("b.o\tb.c is missing\n");
}

#[test]
fn ood_do_file_edited() {
    let sb = fixture();
    sb.write(
        "default.o.do",
        "echo \"$1\" >>\"$LOG\"\nredo-ifchange \"$2.c\"\ncat \"$2.c\" \"$2.c\"\n",
    );
    let w = why(&sb);
    let mut expect = through_prog("default.o.do (.do) changed: size differs");
    expect.push((
        "sub/b.o".into(),
        "default.o.do (.do) changed: size differs".into(),
    ));
    assert_eq!(w, expect);
    assert_eq!(rebuilt(&sb), names(&w));
}

#[test]
fn ood_ifcreate_file_appeared() {
    let sb = fixture();
    sb.run(&["redo-affects", "override.h"])
        .success()
        .stdout_is("all\ngen.h\n");
    sb.write("override.h", "mine\n");
    assert_eq!(
        why(&sb),
        [
            (
                "all".into(),
                "gen.h is out of date: override.h appeared (ifcreate)".into()
            ),
            ("gen.h".into(), "override.h appeared (ifcreate)".into()),
        ]
    );
    // a more specific .do appearing is an ifcreate dependency too
    sb.remove("override.h");
    sb.write(
        "a.o.do",
        "echo \"$1\" >>\"$LOG\"\nredo-ifchange a.c\necho special\n",
    );
    let w = why(&sb);
    assert_eq!(w, through_prog("a.o.do appeared (ifcreate)"));
    assert_eq!(rebuilt(&sb), names(&w));
    sb.run(&["redo-ood"]).success().stdout_is("");
}

#[test]
fn ood_target_deleted_and_never_built_operand() {
    let sb = fixture();
    sb.remove("with space");
    sb.remove("-dash.x");
    let w = why(&sb);
    assert_eq!(
        w,
        [
            ("-dash.x".into(), "target does not exist".into()),
            ("all".into(), "with space is missing".into()),
            ("with space".into(), "target does not exist".into()),
        ]
    );
    sb.run(&["redo-ood", "-d", "--", "-dash.x"])
        .success()
        .stdout_is("-dash.x\ttarget does not exist\n");
    // an operand redo never built is out of date, a source is not
    sb.run(&["redo-ood", "-d", "fresh.x", "a.c"])
        .success()
        .stdout_is("fresh.x\tnever built\n");
    assert_eq!(rebuilt(&sb), ["-dash.x", "all", "with space"]);
}

#[test]
fn ood_always_target_and_its_dependants() {
    let sb = Sandbox::new()
        .file("always.do", "redo-always\necho tick\n")
        .file("user.do", "redo-ifchange always\ncat always\n")
        .file("other.do", "echo o\n")
        .file("all.do", "redo-ifchange user other\necho all\n");
    sb.run(&["redo", "all"]).success();
    assert_eq!(
        why(&sb),
        [
            (
                "all".into(),
                "user is out of date: always is out of date: always rebuilt (redo-always)".into()
            ),
            ("always".into(), "always rebuilt (redo-always)".into()),
            (
                "user".into(),
                "always is out of date: always rebuilt (redo-always)".into()
            ),
        ]
    );
}

#[test]
fn ood_honours_the_build_run_uuid() {
    let sb = fixture();
    sb.write("a.c", "Z\n");
    let rec = sb.run(&["redo-dep2rec", "a.o"]);
    rec.success();
    let uuid = rec
        .stdout()
        .lines()
        .next()
        .unwrap()
        .strip_prefix("Build: ")
        .unwrap()
        .to_string();
    // inside that build run, everything built in it counts as up to date
    sb.cmd(&["redo-ood"])
        .env("REDO_BUILD_UUID", &uuid)
        .run()
        .success()
        .stdout_is("");
    sb.cmd(&["redo-ood"])
        .env("REDO_BUILD_UUID", "nope")
        .run()
        .code(1)
        .stderr_contains("REDO_BUILD_UUID");
}

#[test]
fn ood_writes_nothing() {
    let sb = fixture();
    sb.write("a.c", "Z\n");
    let before = tree(&sb);
    sb.run(&["redo-ood"]).success();
    sb.run(&["redo-sources"]).success();
    sb.run(&["redo-dot"]).success();
    assert_eq!(tree(&sb), before);
}

/// Every path with its size and mtime, to see that nothing changed.
fn tree(sb: &Sandbox) -> Vec<(String, u64, i64, i64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64, i64, i64)>) {
        use std::os::unix::fs::MetadataExt;
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, m.len(), m.mtime(), m.mtime_nsec()));
            if m.is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut v = Vec::new();
    walk(sb.root(), sb.root(), &mut v);
    v.sort();
    v
}

// ---- redo-affects -------------------------------------------------------------------------

#[test]
fn affects() {
    let sb = fixture();
    sb.run(&["redo-affects", "a.c"])
        .success()
        .stdout_is("a.o\nall\nprog\n");
    sb.run(&["redo-affects", "default.o.do"])
        .success()
        .stdout_is("a.o\nall\nprog\nsub/b.o\n");
    sb.run(&["redo-affects", "a.c", "prog"])
        .success()
        .stdout_is("a.o\nall\nprog\n");
    sb.run(&["redo-affects", "prog"])
        .success()
        .stdout_is("all\n");
    sb.run(&["redo-affects", "all"]).success().stdout_is("");
    sb.run(&["redo-affects", "--", "-dash.x"])
        .success()
        .stdout_is("all\n");
    let out = sb.run(&["redo-affects", "-0", &format!("{NL}.do")]);
    assert_eq!(zlist(&out), ["all", NL]);
    // only the tree below the cwd is searched for dependants
    sb.cmd(&["redo-affects", "b.c"])
        .cwd("sub")
        .run()
        .success()
        .stdout_is("b.o\n");
    sb.run(&["redo-affects"]).code(2);
}

// ---- redo-whichdo --------------------------------------------------------------------------

#[test]
fn whichdo_lists_candidates_then_the_found_do() {
    let sb = fixture();
    let top = sb.abs("");
    let w = |cwd: &str, t: &str| {
        sb.cmd(&["redo-whichdo", t])
            .cwd(cwd)
            .env("REDO_TOP_DIR", &top)
            .run()
    };
    w("", "sub/c.o")
        .success()
        .stdout_is("sub/c.o.do\nsub/default.o.do\nsub/default.do\ndefault.o.do\n");
    w("sub", "c.o")
        .success()
        .stdout_is("c.o.do\ndefault.o.do\ndefault.do\n../default.o.do\n");
    w("", "prog").success().stdout_is("prog.do\n");
    w("", "nope/x.q")
        .code(1)
        .stdout_is("nope/x.q.do\nnope/default.q.do\nnope/default.do\ndefault.q.do\ndefault.do\n");
    // .redo/top stops the search too
    sb.write("sub/.redo/top", "");
    sb.run(&["redo-whichdo", "sub/x.q"])
        .code(1)
        .stdout_is("sub/x.q.do\nsub/default.q.do\nsub/default.do\n");
    sb.cmd(&["redo-whichdo", "--", "-x"])
        .env("REDO_TOP_DIR", &top)
        .run()
        .code(1)
        .stdout_is("-x.do\ndefault.do\n");
}

#[test]
fn whichdo_from_root_has_no_dot_slash() {
    let sb = Sandbox::new();
    let out = sb
        .cmd(&["redo-whichdo", "__nonexist/a/x.y.z"])
        .cwd("/")
        .run();
    let want = "__nonexist/a/x.y.z.do\n__nonexist/a/default.y.z.do\n__nonexist/a/default.z.do\n\
                __nonexist/a/default.do\n__nonexist/default.y.z.do\n__nonexist/default.z.do\n\
                __nonexist/default.do\ndefault.y.z.do\ndefault.z.do\ndefault.do\n";
    out.code(1).stdout_is(want);
}

// ---- redo-dot ---------------------------------------------------------------------------------

#[test]
fn dot_text_and_graphviz_accepts_it() {
    let sb = fixture();
    sb.run(&["redo-dot", "prog"]).success().stdout_is(
        "digraph d {\n\trankdir=LR;\n\tnode [shape=box];\n\
         \t\"a.o\" -> \"a.o.do\" [style=dotted];\n\t\"a.o\" -> \"default.o.do\";\n\t\"a.o\" -> \"a.c\";\n\
         \t\"prog\" -> \"prog.do\";\n\t\"prog\" -> \"a.o\";\n\t\"prog\" -> \"sub/b.o\";\n\
         \t\"sub/b.o\" -> \"sub/b.o.do\" [style=dotted];\n\t\"sub/b.o\" -> \"sub/default.o.do\" [style=dotted];\n\
         \t\"sub/b.o\" -> \"sub/default.do\" [style=dotted];\n\t\"sub/b.o\" -> \"default.o.do\";\n\
         \t\"sub/b.o\" -> \"sub/b.c\";\n}\n",
    );
    let gen = sb.run(&["redo-dot", "gen.h"]);
    gen.success();
    assert!(
        gen.stdout()
            .contains("\t\"gen.h\" -> \"override.h\" [style=dotted];\n"),
        "{}",
        gen.stdout()
    );
    // the whole tree with every odd name, and names with quotes and backslashes
    sb.write("q\"uo\\te.do", "echo q\n");
    sb.run(&["redo-ifchange", "q\"uo\\te"]).success();
    let all = sb.run(&["redo-dot"]);
    all.success();
    let text = all.stdout();
    assert!(text.contains("\"new\\nline\""), "{text}");
    assert!(
        text.contains("\"q\\\"uo\\\\te\" -> \"q\\\"uo\\\\te.do\";"),
        "{text}"
    );
    let dot = require_tool("dot");
    let svg = sb
        .cmd(&[dot.to_str().unwrap(), "-Tsvg"])
        .stdin(all.stdout_bytes())
        .run();
    svg.success().stdout_contains("<svg").stderr_is("");
}

#[test]
fn names_not_utf8_stay_apart_in_redo_dot_and_redo_dep2rec() {
    // Two targets whose names differ in a byte that is not UTF-8.
    let sb = Sandbox::new().file("default.do", "echo \"$1\"\n").file(
        "all.do",
        "redo-ifchange \"$(printf 'x\\377')\" \"$(printf 'x\\376')\"\n",
    );
    sb.run(&["redo", "all"]).success();
    let dot = sb.run(&["redo-dot", "all"]);
    dot.success();
    let text = dot.stdout();
    for edge in ["\"all\" -> \"x\\xff\";", "\"all\" -> \"x\\xfe\";"] {
        assert!(text.contains(edge), "{edge} not in {text}");
    }
    let svg = sb
        .cmd(&[require_tool("dot").to_str().unwrap(), "-Tsvg"])
        .stdin(dot.stdout_bytes())
        .run();
    svg.success().stdout_contains("<svg").stderr_is("");
    let rec = sb.run(&["redo-dep2rec", "all"]);
    rec.success();
    for name in [&b"Target: x\xff\n"[..], b"Target: x\xfe\n"] {
        let out = rec.stdout_bytes();
        assert!(out.windows(name.len()).any(|w| w == name), "{out:?}");
    }
}

// ---- redo-log ------------------------------------------------------------------------------------

fn is_label(s: &str) -> bool {
    s.len() == 25 && s.starts_with('@') && s[1..].bytes().all(|c| c.is_ascii_hexdigit())
}

/// Lines without their TAI64N label; every line must have one.
fn unlabelled(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            assert!(
                l.len() > 26 && is_label(&l[..25]) && &l[25..26] == " ",
                "no label: {l:?}"
            );
            l[26..].to_string()
        })
        .collect()
}

#[test]
fn log_plain_invocation_and_recursive() {
    let sb = Sandbox::new()
        .file("default.o.do", "redo-ifchange \"$2.c\"\necho \"compiling $2\" >&2\ncat \"$2.c\"\n")
        .file("a.c", "a\n")
        .file("sub/b.c", "b\n")
        // Lines are labelled when redo reads them from the .do's stderr (as
        // in goredo): the pause keeps a loaded machine from labelling
        // "linking" after the nested build of a.o has started.
        .file("prog.do", "echo linking >&2\nsleep 0.2\nredo-ifchange a.o\nredo-ifchange sub/b.o\necho done >&2\ncat a.o sub/b.o\n");
    sb.run(&["redo", "-k", "prog"]).success();
    let out = sb.run(&["redo-log", "prog"]);
    out.success();
    assert_eq!(unlabelled(&out.stdout()), ["linking", "done"]);

    let c = sb.run(&["redo-log", "-c", "sub/b.o"]);
    c.success();
    let text = c.stdout();
    let (head, log) = text
        .split_once("\n\n")
        .expect("empty line after the invocation");
    let keys: Vec<&str> = head
        .lines()
        .map(|l| l.split_once(": ").expect("field").0)
        .collect();
    assert_eq!(keys[0], "Cmd");
    for k in ["Arg", "Cwd", "Started", "Finished", "Duration"] {
        assert!(keys.contains(&k), "{k} missing in {head}");
    }
    assert!(
        !keys.contains(&"Env") && !keys.contains(&"ExitCode"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Cwd: {}\n", sb.root().display())),
        "{head}"
    );
    assert_eq!(unlabelled(log), ["compiling sub/b"]);

    let r = sb.run(&["redo-log", "-r", "prog"]);
    r.success();
    let got: Vec<String> = unlabelled(&r.stdout())
        .into_iter()
        .map(|l| match l.find(" (") {
            Some(i) if l.starts_with("done ") => format!("{} (T)", &l[..i]),
            _ => l,
        })
        .collect();
    assert_eq!(
        got,
        [
            "linking",
            "redo a.o",
            "  compiling a",
            "done a.o (T)",
            "redo sub/b.o",
            "  compiling sub/b",
            "done sub/b.o (T)",
            "done"
        ]
    );
    let r = sb.cmd(&["redo-log", "-r", "../prog"]).cwd("sub").run();
    r.success();
    assert!(
        r.stdout().contains(" redo ../a.o\n") && r.stdout().contains(" redo b.o\n"),
        "{}",
        r.stdout()
    );

    // a target built without -k has no log
    sb.write("plain.do", "echo p\n");
    sb.run(&["redo", "plain"]).success();
    sb.run(&["redo-log", "plain"])
        .code(1)
        .stdout_is("")
        .stderr_contains("plain")
        .stderr_contains("redo -k");
    sb.run(&["redo-log"]).code(2);
}

// ---- redo-cleanup -----------------------------------------------------------------------------

#[test]
fn cleanup_dry_run_lists_exactly_and_removes_nothing() {
    let sb = fixture();
    sb.run(&["redo", "-k", "a.o", "sub/b.o", "prog"]).success();
    sb.write(".redo.prog.1234", "tmp");
    sb.write("sub/.redo/.redo.b.o.dep.77", "tmp");
    sb.write("sub/.redo.dir/inner", "tmp");
    sb.write("keep.log", "not a redo log");
    sb.write("sub/.redox", "not redo's");
    let before = tree(&sb);
    sb.run(&["redo-cleanup", "-n", "tmp"])
        .success()
        .stdout_is(".redo.prog.1234\nsub/.redo.dir\nsub/.redo/.redo.b.o.dep.77\n");
    sb.run(&["redo-cleanup", "-n", "log"]).success().stdout_is(
        ".redo/a.o.log\n.redo/a.o.log-rec\n.redo/prog.log\n.redo/prog.log-rec\n\
         sub/.redo/b.o.log\nsub/.redo/b.o.log-rec\n",
    );
    sb.run(&["redo-cleanup", "-n", "full"])
        .success()
        .stdout_is(".redo\n.redo.prog.1234\nsub/.redo\nsub/.redo.dir\n");
    sb.cmd(&["redo-cleanup", "-n", "full"])
        .cwd("sub")
        .run()
        .success()
        .stdout_is(".redo\n.redo.dir\n");
    assert_eq!(tree(&sb), before, "-n removed something");

    sb.run(&["redo-cleanup", "bogus"]).code(2).stdout_is("");
    sb.run(&["redo-cleanup"]).code(2);
    assert_eq!(tree(&sb), before);

    sb.run(&["redo-cleanup", "log", "tmp"]).success();
    assert!(
        !sb.exists(".redo/prog.log")
            && !sb.exists(".redo.prog.1234")
            && !sb.exists("sub/.redo.dir")
    );
    assert!(sb.exists(".redo/prog.dep") && sb.exists("keep.log") && sb.exists("sub/.redox"));
    sb.run(&["redo-ood"]).success().stdout_is("");
    sb.run(&["redo-cleanup", "full"])
        .success()
        .stdout_is(".redo\nsub/.redo\n");
    sb.run(&["redo-targets"]).success().stdout_is("");
    for f in [
        "a.c",
        "prog",
        "a.o",
        "sub/b.o",
        "keep.log",
        "sub/.redox",
        "default.o.do",
    ] {
        assert!(sb.exists(f), "{f} was removed");
    }
}

// ---- redo-dep2rec and redo-depfix --------------------------------------------------------------

/// A .dep written byte by byte after spec §4.2.
fn known_dep() -> Vec<u8> {
    let mut b = b"GOREDO\x01".to_vec();
    b.extend_from_slice(&[
        0x80, 0x14, 0x3f, 0x04, 0xbf, 0xff, 0x46, 0x73, 0x95, 0x0c, 0x08, 0x1d, 0x71, 0x2f, 0x57,
        0x3d,
    ]);
    let chunk = |b: &mut Vec<u8>, typ: u8, payload: &[u8]| {
        b.extend_from_slice(&((payload.len() + 3) as u16).to_be_bytes());
        b.push(typ);
        b.extend_from_slice(payload);
    };
    chunk(&mut b, 1, b"foo.o.do");
    let mut ic = Vec::new();
    for v in [123u64, 2345, 1605721341, 253305000, 1645606823, 369936700] {
        ic.extend_from_slice(&v.to_be_bytes());
    }
    ic.extend_from_slice(&[0xab; 32]);
    ic.extend_from_slice(b"default.o.do");
    chunk(&mut b, 2, &ic);
    chunk(&mut b, 3, b"");
    chunk(&mut b, 4, &[0x01; 32]);
    chunk(&mut b, 5, b"two\nlines");
    b
}

const KNOWN_REC: &str = "Build: 80143f04-bfff-4673-950c-081d712f573d

Type: ifcreate
Target: foo.o.do

Type: ifchange
Target: default.o.do
Size: 123
InodeNum: 2345
CtimeSec: 1605721341
CtimeNsec: 253305000
MtimeSec: 1645606823
MtimeNsec: 369936700
Hash: abababababababababababababababababababababababababababababababab

Type: always

Type: stamp
Hash: 0101010101010101010101010101010101010101010101010101010101010101

Type: ifchange-nonexistent
Target: two
+ lines
";

#[test]
fn dep2rec_of_a_known_dep() {
    let sb = Sandbox::new();
    sb.write("d/.redo/foo.o.dep", known_dep());
    sb.run(&["redo-dep2rec", "d/foo.o"])
        .success()
        .stdout_is(KNOWN_REC);
    sb.cmd(&["redo-dep2rec", "foo.o"])
        .cwd("d")
        .run()
        .success()
        .stdout_is(KNOWN_REC);
    sb.run(&["redo-dep2rec", "d/.redo/foo.o.dep"])
        .success()
        .stdout_is(KNOWN_REC);
    sb.run(&["redo-dep2rec", "d/none"])
        .code(1)
        .stdout_is("")
        .stderr_contains("d/.redo/none.dep");
    sb.write("d/.redo/bad.dep", &known_dep()[..30]);
    sb.run(&["redo-dep2rec", "d/bad"])
        .code(1)
        .stdout_is("")
        .stderr_contains("d/.redo/bad.dep");
}

/// `InodeNum` values of `redo-dep2rec T`, by Target.
fn inode_nums(sb: &Sandbox, cwd: &str, target: &str) -> Vec<(String, u64)> {
    let out = sb.cmd(&["redo-dep2rec", target]).cwd(cwd).run();
    out.success();
    let mut v = Vec::new();
    for rec in out.stdout().split("\n\n") {
        let field = |k: &str| {
            rec.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_string))
        };
        if let (Some(t), Some(i)) = (field("Target"), field("InodeNum")) {
            v.push((t, i.parse().unwrap()));
        }
    }
    v
}

#[test]
fn depfix_after_copying_a_tree() {
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new()
        .file(
            "orig/default.o.do",
            "redo-ifchange \"$2.c\"\ncat \"$2.c\"\n",
        )
        .file("orig/a.c", "a\n")
        .file("orig/sub/b.c", "b\n")
        .file(
            "orig/prog.do",
            "redo-ifchange a.o sub/b.o\ncat a.o sub/b.o\n",
        );
    sb.cmd(&["redo", "prog"]).cwd("orig").run().success();
    sb.sh("cp -a orig copy").success();
    // new inodes everywhere: still up to date (by hash), but every check hashes
    let stale = inode_nums(&sb, "copy", "prog");
    assert!(stale
        .iter()
        .any(|(t, i)| *i != sb.metadata(format!("copy/{t}")).ino()));
    sb.cmd(&["redo-ood"])
        .cwd("copy")
        .run()
        .success()
        .stdout_is("");
    let out = sb.cmd(&["redo-depfix"]).cwd("copy").run();
    out.success().stdout_is("");
    assert_eq!(
        out.stderr(),
        "redo-depfix: .redo/a.o.dep: 3 records refreshed\n\
         redo-depfix: .redo/prog.dep: 4 records refreshed\n\
         redo-depfix: sub/.redo/b.o.dep: 3 records refreshed\n"
    );
    for (t, i) in inode_nums(&sb, "copy", "prog") {
        assert_eq!(i, sb.metadata(format!("copy/{t}")).ino(), "{t}");
    }
    for (t, i) in inode_nums(&sb, "copy/sub", "b.o") {
        assert_eq!(i, sb.metadata(format!("copy/sub/{t}")).ino(), "{t}");
    }
    // nothing left to fix, nothing to rebuild, no temporaries
    sb.cmd(&["redo-depfix"])
        .cwd("copy")
        .run()
        .success()
        .stderr_is("");
    sb.cmd(&["redo-ood"])
        .cwd("copy")
        .run()
        .success()
        .stdout_is("");
    sb.sh("find copy -name '.redo.*' | grep . && exit 1 || exit 0")
        .success();
    // A refreshed .dep keeps the mode a build gives one (0666 less the umask).
    use std::os::unix::fs::PermissionsExt;
    sb.sh("touch copy/a.c && cd copy && umask 027 && redo-depfix")
        .success();
    assert_eq!(
        sb.metadata("copy/.redo/a.o.dep").permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn depfix_converts_legacy_rec_files() {
    use std::os::unix::fs::MetadataExt;
    let sb = Sandbox::new();
    sb.write("x.do", "echo x\n");
    sb.write("x", "x\n");
    sb.write(
        ".redo/x.rec",
        "Build: 80143f04-bfff-4673-950c-081d712f573d\n\nType: ifchange\nTarget: x.do\nSize: 7\n\n\
         Type: ifcreate\nTarget: y.do\n\nType: ifchange\nTarget: x\n",
    );
    let out = sb.run(&["redo-depfix"]);
    out.success()
        .stderr_is("redo-depfix: .redo/x.rec: converted to .redo/x.dep\n");
    assert!(!sb.exists(".redo/x.rec") && sb.exists(".redo/x.dep"));
    let rec = sb.run(&["redo-dep2rec", "x"]);
    rec.success();
    let text = rec.stdout();
    assert!(text.starts_with("Build: 80143f04-bfff-4673-950c-081d712f573d\n\nType: ifchange\nTarget: x.do\nSize: 7\n"), "{text}");
    assert!(
        text.contains("\n\nType: ifcreate\nTarget: y.do\n\n"),
        "{text}"
    );
    assert_eq!(
        inode_nums(&sb, "", "x"),
        [
            ("x.do".to_string(), sb.metadata("x.do").ino()),
            ("x".to_string(), sb.metadata("x").ino())
        ]
    );
    sb.run(&["redo-ood"]).success().stdout_is("");
}

// ---- problems: corrupt .dep, unreadable dir, dangling symlink --------------------------------

#[test]
fn corrupt_dep_is_named_the_rest_still_printed_exit_1() {
    let sb = fixture();
    let dep = sb.read_bytes("sub/.redo/b.o.dep");
    sb.write("sub/.redo/b.o.dep", &dep[..10]);
    let t = sb.run(&["redo-targets", "-0"]);
    t.code(1).stderr_contains(
        "sub/.redo/b.o.dep: shorter than the 23-byte header: unusable, so a build rebuilds sub/b.o",
    );
    assert_eq!(zlist(&t), owned(TARGETS));
    let s = sb.run(&["redo-sources", "-0"]);
    s.code(1).stderr_contains("sub/.redo/b.o.dep");
    let want: Vec<String> = SOURCES
        .iter()
        .filter(|s| **s != "sub/b.c")
        .map(|s| s.to_string())
        .collect();
    assert_eq!(zlist(&s), want);
    let o = sb.run(&["redo-ood"]);
    o.code(1)
        .stdout_is("all\nprog\nsub/b.o\n")
        .stderr_contains("sub/.redo/b.o.dep");
    assert_eq!(
        o.stderr().matches("b.o.dep").count(),
        1,
        "reported once: {}",
        o.stderr()
    );
    sb.write("sub/.redo/b.o.dep", [&dep[..], b"\x00\x05\x02ab"].concat());
    sb.run(&["redo-targets"])
        .code(1)
        .stderr_contains("sub/.redo/b.o.dep: bad chunk at byte");
    sb.run(&["redo-dot"])
        .code(1)
        .stdout_contains("digraph d {")
        .stderr_contains("sub/.redo/b.o.dep");
    sb.run(&["redo-affects", "a.c"])
        .code(1)
        .stdout_is("a.o\nall\nprog\n");
}

#[test]
fn dangling_symlink_source_is_named() {
    let sb = fixture();
    sb.remove("sub/b.c");
    std::os::unix::fs::symlink("nowhere", sb.path("sub/b.c")).unwrap();
    let s = sb.run(&["redo-sources", "-0"]);
    s.code(1).stderr_contains("sub/b.c: dangling symlink");
    let want: Vec<String> = SOURCES
        .iter()
        .filter(|s| **s != "sub/b.c")
        .map(|s| s.to_string())
        .collect();
    assert_eq!(zlist(&s), want);
    sb.run(&["redo-ood", "-d", "sub/b.o"])
        .success()
        .stdout_is("sub/b.o\tsub/b.c is missing\n");
}

#[test]
fn unreadable_redo_dir_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let sb = fixture();
    // as root, run the applets as nobody so that permissions apply
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        for d in [sb.root().parent().unwrap(), sb.root()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    std::fs::set_permissions(sb.path("sub/.redo"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = |args: &[&str]| {
        let mut v: Vec<&str> = Vec::new();
        if root {
            v.extend([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]);
        }
        v.extend(args);
        sb.run(&v)
    };
    let t = run(&["redo-targets"]);
    let o = run(&["redo-ood"]);
    std::fs::set_permissions(sb.path("sub/.redo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // sub/b.o is still reached as a dependency of prog; its .dep cannot be read
    t.code(1)
        .stdout_is(&TARGETS.iter().map(|t| format!("{t}\n")).collect::<String>())
        .stderr_contains("cannot read directory sub/.redo: Permission denied")
        .stderr_contains("sub/.redo/b.o.dep: Permission denied");
    o.code(1)
        .stdout_is("all\nprog\nsub/b.o\n")
        .stderr_contains("sub/.redo/b.o.dep: Permission denied");
}

// ---- logical cwd --------------------------------------------------------------------------------

#[test]
fn cwd_through_a_symlink_is_logical() {
    let sb = fixture();
    std::os::unix::fs::symlink(sb.path("sub"), sb.path("lnk")).unwrap();
    let pwd = sb.abs("lnk");
    let q = |args: &[&str]| sb.cmd(args).cwd("lnk").env("PWD", &pwd).run();
    q(&["redo-targets"]).success().stdout_is("b.o\n");
    q(&["redo-targets", "../prog"])
        .success()
        .stdout_is("../a.o\n../prog\n../sub/b.o\n");
    q(&["redo-ood"]).success().stdout_is("");
    sb.write("sub/b.c", "Q\n");
    q(&["redo-ood", "-d"])
        .success()
        .stdout_is("b.o\tb.c changed: content differs\n");
    q(&["redo-sources"])
        .success()
        .stdout_is("../default.o.do\nb.c\n");
}

/// The walk of redo-targets and redo-ood goes down from the names the `.dep` caches
/// remember of a directory while it keeps its stamp: a directory made since, with a
/// target built in it, and one removed since are seen all the same.
#[test]
fn the_walk_sees_directories_made_and_removed_since_the_caches() {
    let sb = Sandbox::new();
    sb.write("all.do", "redo-ifchange p/q/a p/r/b\necho all\n");
    sb.write("default.do", "echo \"$2\"\n");
    sb.run(&["redo", "all"]).success();
    // Quiet, then no-ops: the caches are written, remembering the names listed.
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        sb.run(&["redo-ifchange", "all"]).success();
        sb.run(&["redo-targets"]).success();
    }
    let targets = |sb: &Sandbox| lines(sb.run(&["redo-targets"]).success());
    assert_eq!(targets(&sb), owned(&["all", "p/q/a", "p/r/b"]));
    sb.mkdir("p/s");
    sb.run(&["redo", "p/s/c"]).success();
    assert_eq!(targets(&sb), owned(&["all", "p/q/a", "p/r/b", "p/s/c"]));
    sb.run(&["redo-ood"]).success().stdout_is("");
    sb.remove("p/r");
    assert_eq!(targets(&sb), owned(&["all", "p/q/a", "p/s/c"]));
    sb.run(&["redo-ood"]).success().stdout_is("all\n");
}
