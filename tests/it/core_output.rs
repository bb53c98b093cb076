//! Output rules (spec/goredo.md §3.5): stdout, `$3` (wins even empty), nothing, both,
//! a touched `$1`, file modes under the umask.

use crate::core_common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn stdout_is_the_result() {
    let sb = new_sb().file("t.do", "echo hello\necho world\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "hello\nworld\n");
    assert_no_temp_files(&sb);
}

#[test]
fn dollar3_is_the_result() {
    let sb = new_sb().file("t.do", "printf 'via $3' >\"$3\"\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "via $3");
    assert_no_temp_files(&sb);
}

#[test]
fn empty_dollar3_wins_over_nothing() {
    // `touch $3` gives an empty target, and replaces an old non-empty one.
    let sb = new_sb().file("t.do", "echo old\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "old\n");
    sb.write("t.do", "touch \"$3\"\n");
    sb.run(&["redo", "t"]).success();
    assert!(sb.exists("t"), "touch $3 must give a target");
    assert_eq!(sb.read("t"), "");
    assert_no_temp_files(&sb);
}

#[test]
fn nothing_written_gives_no_file() {
    let sb = new_sb().file("t.do", "echo to stderr only >&2\n");
    sb.run(&["redo", "t"]).success();
    assert!(!sb.exists("t"), "no output must give no file");
    assert_no_temp_files(&sb);
}

#[test]
fn nothing_written_deletes_an_old_target() {
    let sb = new_sb().file("t.do", "echo old\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "old\n");
    sb.write("t.do", ":\n");
    sb.run(&["redo", "t"]).success();
    assert!(!sb.exists("t"), "the old target must be deleted");
    // The self-record is an ifcreate of the target now.
    let dep = read_dep(&sb, "t");
    assert_eq!(dep.recs.last(), Some(&Rec::Ifcreate("t".into())), "{dep:?}");
    assert_no_temp_files(&sb);
}

#[test]
fn both_stdout_and_dollar3_is_an_error_and_keeps_the_old_target() {
    let sb = new_sb().file("t.do", "echo old\n");
    sb.run(&["redo", "t"]).success();
    let dep = sb.read_bytes(".redo/t.dep");
    sb.write("t.do", "echo to-stdout\necho to-3 >\"$3\"\n");
    let out = sb.run(&["redo", "t"]);
    out.failure();
    assert!(
        lines_with(&out.stderr(), "t")
            .iter()
            .any(|l| l.contains("$3") || l.contains("both") || l.contains("stdout")),
        "the error must say both outputs were written\n{out:?}"
    );
    assert_eq!(sb.read("t"), "old\n");
    assert_eq!(sb.read_bytes(".redo/t.dep"), dep);
    assert_no_temp_files(&sb);
}

#[test]
fn writing_dollar1_directly_is_an_error() {
    let sb = new_sb().file("t.do", "echo old\n");
    sb.run(&["redo", "t"]).success();
    sb.write("t.do", "echo direct >\"$1\"\n");
    sb.run(&["redo", "t"])
        .failure()
        .stderr_contains("$1 was explicitly touched");
    assert_no_temp_files(&sb);
}

#[test]
fn writing_dollar1_directly_on_a_first_build_is_an_error() {
    let sb = new_sb().file("t.do", "echo direct >\"$1\"\n");
    sb.run(&["redo", "t"])
        .failure()
        .stderr_contains("$1 was explicitly touched");
    assert_no_temp_files(&sb);
}

#[test]
fn reading_dollar1_is_fine() {
    // Reading the old target (atime) is not touching it.
    let sb = new_sb().file("t.do", "echo v1\n");
    sb.run(&["redo", "t"]).success();
    sb.write("t.do", "cat \"$1\"\necho v2\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "v1\nv2\n");
}

fn mode_under(umask: &str, script: &str) -> u32 {
    let sb = new_sb().file("t.do", script);
    sb.sh(&format!("umask {umask}; exec redo t")).success();
    sb.metadata("t").permissions().mode() & 0o7777
}

#[test]
fn umask_022_gives_0644_for_a_stdout_result() {
    assert_eq!(mode_under("022", "echo x\n"), 0o644);
}

#[test]
fn umask_027_gives_0640_for_a_stdout_result() {
    assert_eq!(mode_under("027", "echo x\n"), 0o640);
}

#[test]
fn dollar3_result_keeps_the_mode_the_dotdo_gave_it() {
    assert_eq!(
        mode_under("022", "echo x >\"$3\"\nchmod 0750 \"$3\"\n"),
        0o750
    );
}

#[test]
fn a_directory_left_at_3_stands_in_the_way_of_no_later_build() {
    // $3 has a fixed name: a directory the .do made there must be removed with the
    // other temps, whether the .do failed or succeeded.
    let sb = new_sb().file("t.do", "mkdir \"$3\"\necho f >\"$3/f\"\nexit 1\n");
    sb.run(&["redo", "t"]).failure();
    sb.write("t.do", "echo ok\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "ok\n");
    sb.write("t.do", "mkdir \"$3\"\n");
    sb.run(&["redo", "t"])
        .failure()
        .stderr_contains("Is a directory");
    sb.write("t.do", "echo again\n");
    sb.run(&["redo", "t"]).success();
    assert_eq!(sb.read("t"), "again\n");
    assert_no_temp_files(&sb);
}
