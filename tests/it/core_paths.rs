//! Operand paths: a `..` after a symlinked directory names what the operating system
//! would open (as apenwarr's redo, redo-rs and redo-c do), a `..` elsewhere is lexical.

use crate::core_common::*;
use crate::sandbox::*;

/// A project with `y/x -> .` and an `f.do` at both places `y/x/x/x/../f` may name:
/// beside `y` (what the OS opens) and in `y` (the lexical reading). Each counts its runs.
fn self_link_sb() -> Sandbox {
    let sb = new_sb()
        .file("f.do", "echo run >>f.runs\necho beside-y\n")
        .file("y/f.do", "echo run >>f.runs\necho in-y\n");
    std::os::unix::fs::symlink(".", sb.path("y/x")).expect("symlink y/x");
    sb
}

#[track_caller]
fn assert_built_beside_y(sb: &Sandbox) {
    assert_eq!(sb.read("f"), "beside-y\n");
    assert_eq!(count(sb, "f.runs"), 1, "built once");
    assert!(!sb.exists("y/f") && !sb.exists("y/f.runs"), "y/f was built");
}

#[test]
fn absolute_dotdot_after_a_self_symlink_builds_what_the_os_opens() {
    let sb = self_link_sb();
    // `cd` keeps the logical $PWD, so the operand spells the symlinks out.
    let script = "cd y/x/x/x && redo-ifchange \"$PWD/../f\" && cat \"$PWD/../f\"";
    sb.sh(script).success().stdout_is("beside-y\n");
    assert_built_beside_y(&sb);
    sb.sh(script).success().stdout_is("beside-y\n");
    assert_eq!(count(&sb, "f.runs"), 1, "the second run is a no-op");
    sb.run(&["redo-sources", "y/x/x/x/../f"])
        .success()
        .stdout_is("f.do\n");
}

#[test]
fn relative_dotdot_after_a_self_symlink_builds_what_the_os_opens() {
    let sb = self_link_sb();
    let logical = sb.abs("y/x/x/x");
    let ifchange = |pwd: Option<&str>| {
        let c = sb.cmd(&["redo-ifchange", "../f"]).cwd("y/x/x/x");
        match pwd {
            Some(p) => c.env("PWD", p).run(),
            None => c.env_remove("PWD").run(),
        }
    };
    ifchange(Some(&logical)).success();
    assert_built_beside_y(&sb);
    ifchange(Some(&logical)).success();
    ifchange(None).success();
    assert_eq!(count(&sb, "f.runs"), 1, "later runs are no-ops");
}

#[test]
fn dependency_through_a_self_symlink_is_recorded_and_rechecked() {
    // y/t depends on x/x/x/../f, physically the f beside y: its .dep must lead there.
    let sb = self_link_sb().file(
        "y/t.do",
        "echo run >>t.runs\nredo-ifchange x/x/x/../f\ncat x/x/x/../f\n",
    );
    sb.run(&["redo-ifchange", "y/t"]).success();
    assert_eq!(sb.read("y/t"), "beside-y\n");
    assert_built_beside_y(&sb);
    sb.run(&["redo-ifchange", "y/t"]).success();
    assert_eq!(count(&sb, "y/t.runs"), 1, "the second run is a no-op");
    sb.write("f.do", "echo changed\n");
    sb.run(&["redo-ifchange", "y/t"]).success();
    assert_eq!(sb.read("y/t"), "changed\n");
    assert_eq!(count(&sb, "y/t.runs"), 2);
}

#[test]
fn dependency_from_a_logically_named_target_is_rechecked() {
    // Targets named through the link keep that name; their recorded `..`s lead back.
    let sb = self_link_sb().file(
        "y/t.do",
        "echo run >>t.runs\nredo-ifchange ../f\ncat ../f\n",
    );
    let redo = |args: &[&str]| {
        let pwd = sb.abs("y/x/x/x");
        sb.cmd(args).cwd("y/x/x/x").env("PWD", pwd).run()
    };
    redo(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.read("y/t"), "beside-y\n");
    assert_built_beside_y(&sb);
    redo(&["redo-ifchange", "t"]).success();
    assert_eq!(count(&sb, "y/t.runs"), 1, "the second run is a no-op");
    sb.write("f.do", "echo changed\n");
    redo(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.read("y/t"), "changed\n");
}

#[test]
fn dotdot_without_a_symlink_is_lexical() {
    let sb = new_sb()
        .dir("a/b")
        .file("f.do", "echo run >>f.runs\necho top\n")
        .file("a/f.do", "echo in-a\n");
    sb.cmd(&[
        "redo-ifchange",
        "../../f",
        "../../nosuch/../f",
        "../b/../../f",
    ])
    .cwd("a/b")
    .run()
    .success();
    assert_eq!(sb.read("f"), "top\n");
    assert!(!sb.exists("a/f"));
    let abs = sb.abs("a/b/../../f");
    sb.run(&["redo-ifchange", &abs, "a/../f"]).success();
    assert_eq!(count(&sb, "f.runs"), 1, "one target, built once");
    sb.run(&["redo-sources", "a/b/../../f"])
        .success()
        .stdout_is("f.do\n");
}
