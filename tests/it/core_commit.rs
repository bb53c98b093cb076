//! Atomic commit (spec/goredo.md §3.5, §4.2): same content keeps the file, a failure
//! keeps the old target and the old .dep, no temp file survives.

use crate::core_common::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn same_content_rebuild_keeps_the_inode() {
    let sb = new_sb().file("t.do", "echo same\n");
    sb.run(&["redo", "t"]).success();
    let ino = sb.metadata("t").ino();
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "same\n");
    assert_eq!(
        sb.metadata("t").ino(),
        ino,
        "identical content must keep the old file"
    );
    // The self-record describes the kept file.
    let dep = read_dep(&sb, "t");
    match dep.recs.last() {
        Some(Rec::Ifchange { inode, path, .. }) => {
            assert_eq!(path, "t");
            assert_eq!(*inode, Inode::of(&sb.metadata("t")));
        }
        other => panic!("self-record: {other:?}"),
    }
    assert_no_temp_files(&sb);
}

#[test]
fn same_content_via_dollar3_keeps_the_inode() {
    let sb = new_sb().file("t.do", "echo same >\"$3\"\n");
    sb.run(&["redo", "t"]).success();
    let ino = sb.metadata("t").ino();
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.metadata("t").ino(), ino);
    assert_no_temp_files(&sb);
}

#[test]
fn new_content_replaces_the_target() {
    let sb = new_sb().file("t.do", "echo one\n");
    sb.run(&["redo", "t"]).success();
    sb.write("t.do", "echo two\n");
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(sb.read("t"), "two\n");
    assert_no_temp_files(&sb);
}

#[test]
fn failure_keeps_old_target_and_old_dep_and_no_temp_files() {
    let failing = [
        ("stdout then exit 1", "echo new\nexit 1\n"),
        ("$3 then exit 1", "echo new >\"$3\"\nexit 1\n"),
        ("both then false", "echo new\necho new >\"$3\"\nfalse\n"),
        ("nothing then exit 7", "exit 7\n"),
    ];
    let sb = new_sb()
        .file("sub/default.o.do", "redo-ifchange src\ncat src\n")
        .file("sub/src", "old\n");
    sb.run(&["redo", "sub/t.o"]).success();
    let dep = sb.read_bytes("sub/.redo/t.o.dep");
    let ino = sb.metadata("sub/t.o").ino();
    for (what, script) in failing {
        sb.write("sub/default.o.do", script);
        sb.run(&["redo", "sub/t.o"]).failure();
        assert_eq!(
            sb.read("sub/t.o"),
            "old\n",
            "{what}: the old target must stay"
        );
        assert_eq!(
            sb.metadata("sub/t.o").ino(),
            ino,
            "{what}: the old file must stay"
        );
        assert_eq!(
            sb.read_bytes("sub/.redo/t.o.dep"),
            dep,
            "{what}: the old .dep must stay byte for byte"
        );
        assert_no_temp_files(&sb);
    }
}

#[test]
fn failure_of_a_dependency_keeps_the_dependant() {
    let sb = new_sb()
        .file("all.do", "redo-ifchange dep\ncat dep\n")
        .file("dep.do", "echo v1\n");
    sb.run(&["redo", "all"]).success();
    let all_dep = sb.read_bytes(".redo/all.dep");
    sb.write("dep.do", "echo v2\nexit 1\n");
    sb.run(&["redo-ifchange", "all"]).failure();
    assert_eq!(sb.read("all"), "v1\n");
    assert_eq!(sb.read("dep"), "v1\n");
    assert_eq!(sb.read_bytes(".redo/all.dep"), all_dep);
    assert_no_temp_files(&sb);
}
