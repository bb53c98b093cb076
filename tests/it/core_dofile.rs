//! .do lookup and execution (spec/goredo.md §3.2-§3.4): search order, `$1 $2 $3`,
//! cwd, stdin, `REDO_TOP_DIR` and `.redo/top`, executable .do files, `sh -e`, names.

use crate::core_common::*;

/// A .do that prints which .do ran (its path relative to the project root is passed in).
fn which(tag: &str) -> String {
    format!("echo {tag}\n")
}

#[test]
fn search_order_most_specific_do_wins_and_new_candidates_trigger_rebuild() {
    // Start with only the parent directory's default.do, then add ever more specific
    // candidates: each one created later must be used by the next `redo-ifchange` (the
    // candidates tried before the chosen one are ifcreate deps).
    let sb = new_sb().file("default.do", which("top/default.do"));
    let t = "d/x.a.b";
    sb.mkdir("d");
    let steps = [
        ("default.b.do", "top/default.b.do"),
        ("default.a.b.do", "top/default.a.b.do"),
        ("d/default.do", "d/default.do"),
        ("d/default.b.do", "d/default.b.do"),
        ("d/default.a.b.do", "d/default.a.b.do"),
        ("d/x.a.b.do", "d/x.a.b.do"),
    ];
    sb.run(&["redo-ifchange", t]).success();
    assert_eq!(sb.read(t), "top/default.do\n");
    for (file, tag) in steps {
        sb.write(file, which(tag));
        sb.run(&["redo-ifchange", t]).success();
        assert_eq!(sb.read(t), format!("{tag}\n"), "after creating {file}");
    }
}

#[test]
fn exact_do_is_only_looked_for_in_the_targets_directory() {
    let sb = new_sb()
        .file("x.y.do", which("parent exact"))
        .file("default.y.do", which("parent default.y.do"))
        .dir("sub");
    sb.run(&["redo", "sub/x.y"]).success();
    assert_eq!(sb.read("sub/x.y"), "parent default.y.do\n");
}

#[test]
fn leading_dot_counts_as_an_empty_component() {
    // `.x.y` tries default.x.y.do, default.y.do, default.do.
    let sb = new_sb()
        .file("default.x.y.do", "echo \"xy $1 $2\"\n")
        .file("default.do", "echo \"plain $1 $2\"\n");
    sb.run(&["redo", ".x.y"]).success();
    assert_eq!(sb.read(".x.y"), "xy .x.y \n");
}

#[test]
fn args_for_an_exact_do() {
    let sb = new_sb().file(
        "a.b.c.do",
        "printf '%s\\n' \"$1\" \"$2\" \"$3\" \"$(pwd)\" >args\necho ok\n",
    );
    sb.run(&["redo", "a.b.c"]).success();
    let args: Vec<String> = sb.read("args").lines().map(String::from).collect();
    assert_eq!(args[0], "a.b.c");
    assert_eq!(args[1], "a.b.c");
    assert!(
        args[2].starts_with(".redo.a.b.c.") && args[2].ends_with(".3") && !args[2].contains('/'),
        "$3 = {:?}",
        args[2]
    );
    assert_eq!(args[3], sb.root().display().to_string());
    assert_eq!(sb.read("a.b.c"), "ok\n");
}

#[test]
fn args_for_nested_default_dos() {
    let sb = new_sb()
        .file("default.x.y.do", "echo \"xy $1 $2\"\n")
        .file("default.y.do", "echo \"y $1 $2\"\n")
        .file("default.do", "echo \"any $1 $2\"\n");
    sb.run(&["redo", "t.x.y", "t.q.y", "a.b.c"]).success();
    assert_eq!(sb.read("t.x.y"), "xy t.x.y t\n");
    assert_eq!(sb.read("t.q.y"), "y t.q.y t.q\n");
    assert_eq!(sb.read("a.b.c"), "any a.b.c a.b.c\n");
}

#[test]
fn args_cwd_and_result_location_for_a_parent_directory_default() {
    // a/b/file.z built by a/default.z.do: $1=b/file.z $2=b/file, $3 relative to a/ and
    // in a/b/; the .do runs in a/.
    let sb = new_sb().dir("a/b").file(
        "a/default.z.do",
        "printf '%s\\n' \"$1\" \"$2\" \"$3\" \"$(pwd)\" >args\necho via3 >\"$3\"\n",
    );
    sb.run(&["redo", "a/b/file.z"]).success();
    let args: Vec<String> = sb.read("a/args").lines().map(String::from).collect();
    assert_eq!(args.len(), 4, "{args:?}");
    assert_eq!(args[0], "b/file.z");
    assert_eq!(args[1], "b/file");
    assert!(
        args[2].starts_with("b/.redo.file.z.") && args[2].ends_with(".3"),
        "$3 = {:?}",
        args[2]
    );
    assert_eq!(args[3], sb.abs("a"));
    assert_eq!(sb.read("a/b/file.z"), "via3\n");
    assert!(!sb.exists("a/file.z") && !sb.exists("file.z"));
    assert!(
        sb.exists("a/b/.redo/file.z.dep"),
        "the .dep lives beside the target"
    );
    assert_no_temp_files(&sb);
}

#[test]
fn dotdo_runs_from_a_subdirectory_cwd_too() {
    // Invoked from a/b with a relative operand: same $1/$2, same cwd.
    let sb = new_sb()
        .dir("a/b")
        .file("a/default.z.do", "echo \"$1 $2 $(pwd)\"\n");
    sb.cmd(&["redo", "file.z"]).cwd("a/b").run().success();
    assert_eq!(
        sb.read("a/b/file.z"),
        format!("b/file.z b/file {}\n", sb.abs("a"))
    );
}

#[test]
fn stdin_of_a_dotdo_is_dev_null() {
    let sb = new_sb().file(
        "t.do",
        "if read line; then echo \"got $line\"; else echo eof; fi\n",
    );
    sb.cmd(&["redo", "t"])
        .stdin("secret input\n")
        .run()
        .success();
    assert_eq!(sb.read("t"), "eof\n");
}

#[test]
fn redo_top_dir_stops_the_search() {
    let sb = new_sb().file("default.do", "echo top\n").dir("sub");
    let out = sb
        .cmd(&["redo", "sub/t"])
        .env("REDO_TOP_DIR", sb.abs("sub"))
        .run();
    out.failure().stderr_contains("no .do found");
    assert!(
        lines_with(&out.stderr(), "no .do found")
            .iter()
            .any(|l| l.contains("sub/t")),
        "the error must name the target\n{out:?}"
    );
    assert!(!sb.exists("sub/t"));
    // The same build without the limit finds ../default.do.
    sb.run(&["redo", "sub/t"]).success();
    assert_eq!(sb.read("sub/t"), "top\n");
}

#[test]
fn redo_top_file_stops_the_search() {
    let sb = new_sb()
        .file("default.do", "echo top\n")
        .file("sub/.redo/top", "");
    sb.run(&["redo", "sub/t"])
        .failure()
        .stderr_contains("no .do found");
    assert!(!sb.exists("sub/t"));
    // A default.do in the top directory itself is still found.
    sb.write("sub/default.do", "echo sub\n");
    sb.run(&["redo", "sub/t"]).success();
    assert_eq!(sb.read("sub/t"), "sub\n");
}

#[test]
fn no_do_found_is_an_error_naming_the_target() {
    let sb = new_sb().file(".redo/top", "");
    let out = sb.run(&["redo", "nothing"]);
    out.failure();
    let l = lines_with(&out.stderr(), "no .do found");
    assert!(
        l.iter().any(|l| l.contains("nothing")),
        "expected `nothing: no .do found`\n{out:?}"
    );
    sb.run(&["redo-ifchange", "nothing"])
        .failure()
        .stderr_contains("no .do found");
    // A source file without a .do is fine for redo-ifchange.
    sb.write("src", "x");
    sb.run(&["redo-ifchange", "src"]).success();
}

#[test]
fn executable_dotdo_is_executed_directly() {
    // A Python script: /bin/sh could not run it.
    let sb = new_sb().exec_file(
        "t.do",
        "#!/usr/bin/env python3\nimport sys, os\nprint('py', sys.argv[1], sys.argv[2], os.path.basename(os.getcwd()))\n",
    );
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "py t t work\n");
    // The same script without the executable bit goes to /bin/sh and fails.
    sb.write("u.do", sb.read("t.do"));
    sb.run(&["redo", "u"]).failure();
    assert!(!sb.exists("u"));
}

#[test]
fn plain_dotdo_runs_with_sh_e() {
    let sb = new_sb().file("t.do", "echo before\nfalse\necho after\n");
    sb.run(&["redo", "t"]).failure();
    assert!(
        !sb.exists("t"),
        "a failing command in the middle fails the build"
    );
}

#[test]
fn names_with_spaces_unicode_and_leading_dash() {
    let names = ["a b", "ünï cödé", "-x"];
    let mut sb = new_sb()
        .file(
            "default.out.do",
            "redo-ifchange -- \"$2.in\"\ncat <\"$2.in\"\n",
        )
        .file(
            "all.do",
            "redo-ifchange \"a b.out\" \"ünï cödé.out\" ./-x.out\ncat \"a b.out\" \"ünï cödé.out\" ./-x.out\n",
        );
    for n in names {
        sb = sb.file(format!("{n}.in"), format!("{n}\n"));
    }
    sb.run(&["redo", "all"]).success();
    assert_eq!(sb.read("all"), "a b\nünï cödé\n-x\n");
    // The deps were recorded under those names.
    let dep = sb.read_bytes(".redo/all.dep");
    for n in names {
        let want = format!("{n}.out");
        assert!(
            dep.windows(want.len()).any(|w| w == want.as_bytes()),
            "{want:?} not in all.dep"
        );
    }
    sb.write("ünï cödé.in", "changed\n");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(sb.read("all"), "a b\nchanged\n-x\n");
    // A target named like a flag is reachable after `--`.
    sb.write("-x.in", "dash\n");
    sb.run(&["redo", "--", "-x.out"]).success();
    assert_eq!(sb.read("-x.out"), "dash\n");
}

#[test]
fn executable_dotdo_without_header_runs_under_sh_and_a_missing_interpreter_fails() {
    // exec says ENOEXEC: the spawn is made again under /bin/sh, as execvp does.
    let sb = new_sb()
        .exec_file("t.do", "echo \"plain $2\"\n")
        .exec_file("u.do", "#!/nonexistent/interpreter\necho never\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "plain t\n");
    sb.run(&["redo", "u"])
        .failure()
        .stderr_contains("No such file");
    assert!(!sb.exists("u"));
    // Nothing of the failed spawn is left waiting: the next build is normal.
    sb.run(&["redo", "t"]).success();
}

#[test]
fn a_do_named_like_an_option_of_sh_runs() {
    // `sh -e -y.do` and `sh -e +z.do` would take the name for an option.
    let sb = new_sb()
        .file("-y.do", "echo \"dash $1\"\n")
        .file("+z.do", "echo \"plus $1\"\n");
    sb.run(&["redo", "--", "-y", "+z"]).success();
    assert_eq!(sb.read("-y"), "dash -y\n");
    assert_eq!(sb.read("+z"), "plus +z\n");
}
