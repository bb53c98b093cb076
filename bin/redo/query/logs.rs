//! `redo-log [-c] [-r] TARGET`.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};
use ferredo::query::{self, Here, Problems};

use super::{command, env, operands, operands_arg, parse, Out};

const AFTER: &str = "\
Prints .redo/TARGET.log, kept by builds run with -k (REDO_LOGS=1): each line
`@<TAI64N label> <text>` (pipe through tai64nlocal for local times).

-c: first the Cmd, Arg, Cwd, Started, Finished, Duration (ns) and ExitCode
fields of .redo/TARGET.log-rec, as recfile lines, then an empty line.

-r: also the logs of the dependencies built in the same build run, each where
it started, its lines indented two spaces per depth after the label, framed by
`@<label> redo DEP` and `@<label> done DEP (1.234s)` or `@<label> err DEP (code: N)`.";

pub fn command_of(applet: &'static str) -> Command {
    command(applet, "Show the kept stderr log of a target's last build.")
        .arg(
            Arg::new("c")
                .short('c')
                .action(ArgAction::SetTrue)
                .help("show how the .do was invoked"),
        )
        .arg(
            Arg::new("r")
                .short('r')
                .action(ArgAction::SetTrue)
                .help("include the logs of dependencies built in the same run"),
        )
        .arg(operands_arg("TARGET", 1, Some(1)))
        .after_help(AFTER)
}

pub fn main(applet: &'static str, argv: Vec<OsString>) -> i32 {
    let m = match parse(command_of(applet), argv) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let e = match env(applet) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let here = Here::new(e.cwd.clone());
    let target = ferredo::target::Target::new(operands(&m, &here).remove(0));
    let opts = query::log::Options {
        invocation: m.get_flag("c"),
        recursive: m.get_flag("r"),
    };
    let mut problems = Problems::default();
    match query::log::render(&target, &here, opts, &mut problems) {
        Ok(text) => {
            let mut out = Out::new();
            out.bytes(&text);
            out.finish(applet, &problems)
        }
        Err(msg) => {
            eprintln!("{applet}: {msg}");
            1
        }
    }
}
