//! On-disk state (spec/goredo.md §4.2, §3.6): the .dep layout decoded independently,
//! corrupt .dep files, externally modified targets.

use crate::core_common::*;
use std::fs;
use std::time::Duration;

fn blake3_of(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

#[test]
fn dep_decodes_as_goredos_published_layout() {
    // sub/t.o is built by the root's default.o.do, which records every kind of dep.
    let sb = new_sb()
        .file(".redo/top", "")
        .file("src.h", "#define X 1\n")
        .file("empty.do", ":\n")
        .file(
            "default.o.do",
            "echo \"$REDO_BUILD_UUID\" >uuid\n\
             redo-ifchange src.h\n\
             redo-ifcreate nothere\n\
             redo-ifchange empty\n\
             redo-always\n\
             echo stamped | redo-stamp\n\
             echo \"object $2\"\n",
        )
        .dir("sub");
    sb.run(&["redo", "sub/t.o"]).success();
    let raw = sb.read_bytes("sub/.redo/t.o.dep");
    let dep = decode_dep(&raw).unwrap_or_else(|e| panic!("{e}\n{raw:?}"));

    // Header: the build UUID the .do saw.
    assert_eq!(dep.uuid_text(), sb.read("uuid").trim());

    let recs = &dep.recs;
    // Tried candidates (relative to sub/), then the chosen .do.
    let want_tried = ["t.o.do", "default.o.do", "default.do"];
    for (i, want) in want_tried.iter().enumerate() {
        assert_eq!(
            recs[i],
            Rec::Ifcreate(want.to_string()),
            "record {i}: {recs:?}"
        );
    }
    let do_meta = sb.metadata("default.o.do");
    let do_content = sb.read_bytes("default.o.do");
    match &recs[3] {
        Rec::Ifchange { inode, hash, path } => {
            assert_eq!(path, "../default.o.do");
            assert_eq!(*inode, Inode::of(&do_meta));
            assert_eq!(*hash, blake3_of(&do_content));
        }
        r => panic!("record 3 should be the .do: {r:?}"),
    }
    // The deps, in the order the .do recorded them.
    match &recs[4] {
        Rec::Ifchange { inode, hash, path } => {
            assert_eq!(path, "../src.h");
            assert_eq!(*inode, Inode::of(&sb.metadata("src.h")));
            assert_eq!(*hash, blake3_of(b"#define X 1\n"));
        }
        r => panic!("record 4 should be src.h: {r:?}"),
    }
    assert_eq!(recs[5], Rec::Ifcreate("../nothere".into()));
    assert_eq!(recs[6], Rec::IfchangeNonexistent("../empty".into()));
    assert_eq!(recs[7], Rec::Always);
    assert_eq!(recs[8], Rec::Stamp(blake3_of(b"stamped\n")));
    // The self-record, last, describes the committed file.
    assert_eq!(recs.len(), 10, "{recs:?}");
    let content = sb.read_bytes("sub/t.o");
    assert_eq!(content, b"object sub/t\n");
    match &recs[9] {
        Rec::Ifchange { inode, hash, path } => {
            assert_eq!(path, "t.o");
            assert_eq!(*inode, Inode::of(&sb.metadata("sub/t.o")));
            assert_eq!(inode.size, content.len() as u64);
            assert_eq!(*hash, blake3_of(&content));
        }
        r => panic!("last record should be the self-record: {r:?}"),
    }
}

#[test]
fn dep_chunk_lengths_are_exact() {
    // An ifchange chunk is 83 bytes + the path, an always chunk 3 bytes (spec §4.2).
    let sb = new_sb().file("t.do", "redo-always\necho x\n");
    sb.run(&["redo", "t"]).success();
    let raw = sb.read_bytes(".redo/t.dep");
    let mut at = 23;
    let mut seen = Vec::new();
    while at < raw.len() {
        let len = u16::from_be_bytes([raw[at], raw[at + 1]]) as usize;
        seen.push((raw[at + 2], len));
        at += len;
    }
    assert_eq!(at, raw.len());
    // ifchange t.do, always, self ifchange t.
    assert_eq!(seen, vec![(2, 83 + 4), (3, 3), (2, 83 + 1)], "{raw:?}");
}

#[test]
fn dep_of_a_nested_directory_dependency_is_relative_to_the_target() {
    // Deps recorded by a .do that cd's elsewhere stay relative to the target's dir.
    let sb = new_sb()
        .file(".redo/top", "")
        .file("a/b/src", "s\n")
        .file("a/t.do", "(cd b && redo-ifchange src)\ncat b/src\n");
    sb.run(&["redo", "a/t"]).success();
    let dep = read_dep(&sb, "a/t");
    assert!(
        dep.recs
            .iter()
            .any(|r| matches!(r, Rec::Ifchange { path, .. } if path == "b/src")),
        "{dep:?}"
    );
}

fn corrupt_rebuilds(garbage: &[u8]) {
    let sb = new_sb().file("t.do", "echo run >>count\necho v\n");
    sb.run(&["redo-ifchange", "t"]).success();
    assert_eq!(count(&sb, "count"), 1);
    sb.write(".redo/t.dep", garbage);
    let out = sb.run(&["redo-ifchange", "t"]);
    out.success().stderr_lacks("panicked");
    assert!(
        out.stderr().contains("t.dep"),
        "a warning must name the corrupt file\n{out:?}"
    );
    assert_eq!(
        count(&sb, "count"),
        2,
        "the target must be rebuilt\n{out:?}"
    );
    assert_eq!(sb.read("t"), "v\n");
    read_dep(&sb, "t"); // a fresh, valid .dep
    sb.run(&["redo-ifchange", "t"])
        .success()
        .stderr_lacks("t.dep");
    assert_eq!(count(&sb, "count"), 2);
}

#[test]
fn truncated_dep_warns_and_rebuilds() {
    let sb = new_sb().file("t.do", "echo x\n");
    sb.run(&["redo", "t"]).success();
    let raw = sb.read_bytes(".redo/t.dep");
    // Cut in the middle of the last chunk.
    corrupt_rebuilds(&raw[..raw.len() - 10]);
}

#[test]
fn truncated_header_warns_and_rebuilds() {
    corrupt_rebuilds(b"GOREDO\x01\x00\x01");
}

#[test]
fn garbage_dep_warns_and_rebuilds() {
    corrupt_rebuilds(b"this is not a dep file at all, just text\n\xff\xfe");
}

#[test]
fn bad_chunk_length_warns_and_rebuilds() {
    let mut raw = b"GOREDO\x01".to_vec();
    raw.extend_from_slice(&[7u8; 16]);
    raw.extend_from_slice(&[0xff, 0xff, 2, 0, 0]); // LEN beyond the end
    corrupt_rebuilds(&raw);
    let mut raw = b"GOREDO\x01".to_vec();
    raw.extend_from_slice(&[7u8; 16]);
    raw.extend_from_slice(&[0, 1, 2]); // LEN shorter than its own header
    corrupt_rebuilds(&raw);
}

#[test]
fn externally_modified_target_is_not_redone() {
    let sb = new_sb().file("t.do", "echo run >>count\necho built\n");
    sb.run(&["redo", "t"]).success();
    sb.write("t", "edited by hand\n");
    let out = sb.run(&["redo", "t"]);
    out.success()
        .stderr_contains("t externally modified: not redoing");
    assert_eq!(sb.read("t"), "edited by hand\n");
    assert_eq!(count(&sb, "count"), 1);
    assert_no_temp_files(&sb);
}

#[test]
fn externally_modified_target_is_an_error_with_stop_if_modified() {
    let sb = new_sb().file("t.do", "echo run >>count\necho built\n");
    sb.run(&["redo", "t"]).success();
    sb.write("t", "edited by hand\n");
    let out = sb
        .cmd(&["redo", "t"])
        .env("REDO_STOP_IF_MODIFIED", "1")
        .run();
    out.failure().stderr_contains("externally modified");
    assert_eq!(sb.read("t"), "edited by hand\n");
    assert_eq!(count(&sb, "count"), 1);
}

#[test]
fn an_edited_target_is_seen_by_redo_ifchange_and_redo_ood() {
    // goredo's redo-ifchange: a target modified externally is warned about and left
    // as it is (an error with REDO_STOP_IF_MODIFIED); redo-ood lists it. A dependant
    // is rebuilt once for the new content, not on every run.
    let sb = new_sb()
        .file("t.do", "redo-ifchange s\necho run >>count\ncat s\n")
        .file("all.do", "redo-ifchange t\necho all >>count\ncat t\n")
        .file("s", "s\n");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.run(&["redo-ood"]).success().stdout_is("");
    sb.write("t", "edited by hand\n");
    sb.run(&["redo-ood"]).success().stdout_is("all\nt\n");
    sb.cmd(&["redo-ifchange", "t"])
        .env("REDO_STOP_IF_MODIFIED", "1")
        .run()
        .failure()
        .stderr_contains("t externally modified");
    sb.run(&["redo-ifchange", "all"])
        .success()
        .stderr_contains("t externally modified: not redoing");
    assert_eq!(sb.read("t"), "edited by hand\n");
    assert_eq!(sb.read("all"), "edited by hand\n");
    assert_eq!(count(&sb, "count"), 3, "t built once, all twice");
    sb.run(&["redo-ifchange", "all"]).success();
    assert_eq!(count(&sb, "count"), 3, "all is not rebuilt again");
    sb.run(&["redo-ood"]).success().stdout_is("t\n");
    // Touched only (same content): nothing to say.
    sb.remove("t");
    sb.run(&["redo-ifchange", "all"]).success();
    sb.touch("t");
    sb.run(&["redo-ifchange", "t"])
        .success()
        .stderr_lacks("externally modified");
    sb.run(&["redo-ood"]).success().stdout_is("");
}

#[test]
fn deleted_target_is_simply_rebuilt() {
    let sb = new_sb().file("t.do", "echo run >>count\necho built\n");
    sb.run(&["redo", "t"]).success();
    sb.remove("t");
    sb.run(&["redo-ifchange", "t"])
        .success()
        .stderr_lacks("externally modified");
    assert_eq!(sb.read("t"), "built\n");
    assert_eq!(count(&sb, "count"), 2);
}

#[test]
fn stop_if_modified_error_reads_as_goredo() {
    // Issue 11: goredo's message is `T externally modified`.
    let sb = new_sb().file("sub/t.do", "echo built\n");
    sb.run(&["redo", "sub/t"]).success();
    sb.write("sub/t", "edited by hand\n");
    sb.cmd(&["redo", "sub/t"])
        .env("REDO_STOP_IF_MODIFIED", "1")
        .run()
        .failure()
        .stderr_contains("sub/t externally modified");
    assert_eq!(sb.read("sub/t"), "edited by hand\n");
}

/// Where in `.dep` bytes the hash of the ifchange record of `path` is.
fn hash_at(dep: &[u8], path: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut off = 23;
    while off + 3 <= dep.len() {
        let len = u16::from_be_bytes([dep[off], dep[off + 1]]) as usize;
        if dep[off + 2] == 2 && &dep[off + 3 + 48 + 32..off + len] == path {
            return Some(off + 3 + 48..off + 3 + 48 + 32);
        }
        off += len;
    }
    None
}

/// A rebuild records a source whose inode data still match the target's
/// previous record with that record's hash, without reading it (as the
/// check trusts those inode data); a source that changed is read again.
#[test]
fn a_rebuild_takes_an_unchanged_sources_hash_from_its_previous_record() {
    let sb = new_sb()
        .file("a", "a\n")
        .file("b", "b\n")
        .file("w.do", "redo-ifchange a b\ncat a b\n");
    sb.run(&["redo", "w"]).success();
    // Mark b's recorded hash: only a record taken over from it carries it.
    let path = sb.path(dep_path("w"));
    let mut dep = fs::read(&path).unwrap();
    let at = hash_at(&dep, b"b").expect("an ifchange record of b");
    dep[at.clone()].copy_from_slice(&[0xab; 32]);
    sb.write(".redo/w.dep.new", &dep);
    fs::rename(sb.path(".redo/w.dep.new"), &path).unwrap();
    sb.write("a", "a2\n");
    sb.run(&["redo-ifchange", "w"]).success();
    let dep = fs::read(&path).unwrap();
    let at = hash_at(&dep, b"b").expect("an ifchange record of b");
    assert_eq!(
        dep[at], [0xab; 32],
        "b's hash was not taken from the previous record"
    );
    let at = hash_at(&dep, b"a").expect("an ifchange record of a");
    assert_eq!(dep[at], blake3_of(b"a2\n"));
    // b changes: its inode data no longer match, it is read.
    sb.write("b", "b2\n");
    sb.run(&["redo-ifchange", "w"]).success();
    let dep = fs::read(&path).unwrap();
    let at = hash_at(&dep, b"b").expect("an ifchange record of b");
    assert_eq!(dep[at], blake3_of(b"b2\n"));
}

#[test]
fn a_fifo_in_place_of_a_dep_file_blocks_nothing() {
    // Opening a fifo for reading waits for a writer: a .dep is read only if it is
    // a regular file, so the build and the queries go on.
    let sb = new_sb()
        .file("x.do", "echo run >>count\necho x\n")
        .timeout(Duration::from_secs(20));
    sb.run(&["redo-ifchange", "x"]).success();
    sb.remove(".redo/x.dep");
    sb.sh("mkfifo .redo/x.dep").success();
    sb.run(&["redo-dep2rec", "x"])
        .failure()
        .stderr_contains(".redo/x.dep: not a regular file");
    sb.run(&["redo-ood"]).success();
    sb.run(&["redo-ifchange", "x"]).success();
    assert_eq!(count(&sb, "count"), 2, "rebuilt");
    assert!(sb.metadata(".redo/x.dep").is_file());
}
