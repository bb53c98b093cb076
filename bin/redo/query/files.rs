//! `redo-cleanup`, `redo-depfix`, `redo-dep2rec`: the state files themselves.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};
use ferredo::query::{self, cleanup::Mode, Here, Problems};

use super::{command, env, operands, operands_arg, parse, zero_arg, Out};

pub fn cleanup_command(applet: &'static str) -> Command {
    command(
        applet,
        "Remove redo's temporary files, logs, or whole state below the current directory.",
    )
    .arg(
        Arg::new("n")
            .short('n')
            .action(ArgAction::SetTrue)
            .help("dry run: only print what would be removed"),
    )
    .arg(zero_arg())
    .arg(
        Arg::new("operands")
            .value_name("MODE")
            .num_args(1..)
            .required(true)
            .value_parser(["tmp", "log", "full"]),
    )
    .after_help(
        "tmp:  every file or directory named .redo.* (temporary outputs and .deps)\n\
             log:  every *.log and *.log-rec inside .redo directories\n\
             full: every .redo directory (all state: deps, locks, logs), plus tmp\n\
             Prints each path removed, relative to the current directory, sorted.\n\
             Symlinked directories are not followed; nothing else is touched.",
    )
}

pub fn cleanup(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let m = match parse(cleanup_command(applet), argv) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let modes: Vec<Mode> = m
        .get_many::<String>("operands")
        .into_iter()
        .flatten()
        .filter_map(|s| Mode::parse(s))
        .collect();
    let mut problems = Problems::default();
    let here = Here::new(e.cwd.clone());
    let plan = query::cleanup::plan(&here, &modes, &mut problems);
    let done = if m.get_flag("n") {
        plan
    } else {
        query::cleanup::remove(&plan, &here, &mut problems)
    };
    let mut out = Out::new();
    for p in done {
        out.entry(&here.show(&p), m.get_flag("zero"));
    }
    out.finish(applet, &problems)
}

pub fn depfix_command(applet: &'static str) -> Command {
    command(
        applet,
        "Refresh every .dep below the current directory from the files as they are now.",
    )
    .after_help(
        "Every ifchange record of an existing file gets the file's current inode data and hash\n\
         (after copying a tree, nothing then needs rehashing). Legacy .redo/X.rec files are\n\
         converted to .redo/X.dep. Each change is reported on stderr.",
    )
}

pub fn depfix(applet: &'static str, argv: Vec<OsString>) -> i32 {
    if let Err(code) = parse(depfix_command(applet), argv) {
        return code;
    }
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut problems = Problems::default();
    let here = Here::new(e.cwd.clone());
    for c in query::depfix::depfix(&here, !e.ctx.flags.no_sync, &mut problems) {
        eprintln!("{applet}: {}: {}", here.show(&c.file).display(), c.what);
    }
    Out::new().finish(applet, &problems)
}

pub fn dep2rec_command(applet: &'static str) -> Command {
    command(applet, "Print a target's .dep as recfile text.")
        .arg(operands_arg("TARGET", 1, Some(1)))
        .after_help("TARGET is a target (its .redo/TARGET.dep is read) or a .redo/X.dep file.")
}

pub fn dep2rec(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let m = match parse(dep2rec_command(applet), argv) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let here = Here::new(e.cwd.clone());
    let op = operands(&m, &here).remove(0);
    let file = query::dep2rec::dep_file(&op);
    match query::dep2rec::dep2rec(&file, &here.show(&file)) {
        Ok(text) => {
            let mut out = Out::new();
            out.bytes(&text);
            out.finish(applet, &Problems::default())
        }
        Err(msg) => {
            eprintln!("{applet}: {msg}");
            1
        }
    }
}
