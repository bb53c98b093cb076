//! The query applets' command line: argv (clap, after goredo's single-dash
//! spellings are normalised), the environment, and stdout/stderr. The
//! answers themselves come from `ferredo::query`.
//!
//! Shared conventions:
//! * lists go to stdout, one path per line relative to the current
//!   directory, sorted bytewise; `-0` ends each entry with NUL instead of a
//!   newline (names may contain newlines);
//! * problems (an unreadable `.dep` or directory, a dangling symlink) go to
//!   stderr as `<applet>: <message naming the file>` after the rest of the
//!   answer, and make the exit status 1;
//! * a usage error exits 2; operands after `--` (or after the first
//!   operand) are never flags, so a target named `-x` is `-- -x`.

mod files;
mod lists;
mod logs;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};
use ferredo::env::Context;
use ferredo::query::{Here, Problems};

/// The static applet name clap needs.
fn static_name(applet: &str) -> &'static str {
    crate::APPLETS
        .iter()
        .find(|a| **a == applet)
        .copied()
        .unwrap_or("redo-query")
}

pub fn main(applet: &str, argv: Vec<OsString>) -> i32 {
    let name = static_name(applet);
    match name {
        "redo-targets" | "redo-sources" | "redo-ood" | "redo-affects" => lists::main(name, argv),
        "redo-whichdo" => lists::whichdo(name, argv),
        "redo-dot" => lists::dot(name, argv),
        "redo-log" => logs::main(name, argv),
        "redo-cleanup" => files::cleanup(name, argv),
        "redo-depfix" => files::depfix(name, argv),
        "redo-dep2rec" => files::dep2rec(name, argv),
        _ => {
            eprintln!("redo: unknown applet {applet}");
            2
        }
    }
}

/// The clap definition of a query applet (argv parsing, manual page, completions).
pub fn command_of(applet: &'static str) -> Command {
    match applet {
        "redo-whichdo" => lists::whichdo_command(applet),
        "redo-dot" => lists::dot_command(applet),
        "redo-log" => logs::command_of(applet),
        "redo-cleanup" => files::cleanup_command(applet),
        "redo-depfix" => files::depfix_command(applet),
        "redo-dep2rec" => files::dep2rec_command(applet),
        _ => lists::list_command(applet),
    }
}

/// A clap command with the version flag, for `applet`.
pub(crate) fn command(applet: &'static str, about: &'static str) -> Command {
    Command::new(applet)
        .version(env!("CARGO_PKG_VERSION"))
        .about(about)
}

/// The `-0` flag.
pub(crate) fn zero_arg() -> Arg {
    Arg::new("zero")
        .short('0')
        .action(ArgAction::SetTrue)
        .help("end each entry with NUL instead of a newline")
}

/// Operands, as raw OS strings.
pub(crate) fn operands_arg(name: &'static str, min: usize, max: Option<usize>) -> Arg {
    // `args::normalise` puts a `--` before the first operand, so later words
    // are operands even when they start with a dash.
    let a = Arg::new("operands")
        .value_name(name)
        .value_parser(clap::value_parser!(OsString));
    match max {
        Some(m) => a.num_args(min..=m).required(min > 0),
        None => a.num_args(min..).required(min > 0),
    }
}

/// Parse argv; Err is the exit code (usage error 2, help/version 0).
pub(crate) fn parse(cmd: Command, argv: Vec<OsString>) -> Result<ArgMatches, i32> {
    cmd.try_get_matches_from(crate::args::normalise(argv))
        .map_err(|e| {
            let _ = e.print();
            if e.use_stderr() {
                2
            } else {
                0
            }
        })
}

/// The invocation's directory and REDO_* context.
pub(crate) struct Env {
    pub cwd: PathBuf,
    pub ctx: Context,
}

pub(crate) fn env(applet: &str) -> Result<Env, i32> {
    let cwd = crate::logical_cwd().map_err(|e| {
        eprintln!("{applet}: cannot read the current directory: {e}");
        1
    })?;
    let ctx = Context::from_env(&crate::env_get, cwd.clone()).map_err(|e| {
        eprintln!("{applet}: {e}");
        1
    })?;
    Ok(Env { cwd, ctx })
}

/// Operands as clean paths of `here`'s form.
pub(crate) fn operands(m: &ArgMatches, here: &Here) -> Vec<PathBuf> {
    m.get_many::<OsString>("operands")
        .map(|v| v.map(|o| here.resolve(Path::new(o))).collect())
        .unwrap_or_default()
}

/// Buffered stdout; a write failure (a closed pipe) ends quietly with 1.
pub(crate) struct Out {
    w: std::io::BufWriter<std::io::StdoutLock<'static>>,
    failed: Option<std::io::Error>,
}

impl Out {
    pub fn new() -> Out {
        Out {
            w: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
            failed: None,
        }
    }

    pub fn bytes(&mut self, b: &[u8]) {
        if self.failed.is_none() {
            if let Err(e) = self.w.write_all(b) {
                self.failed = Some(e);
            }
        }
    }

    /// One list entry: the path, then NUL or newline.
    pub fn entry(&mut self, p: &Path, zero: bool) {
        self.bytes(p.as_os_str().as_bytes());
        self.bytes(if zero { b"\0" } else { b"\n" });
    }

    /// Flush; print the problems; the exit status.
    pub fn finish(mut self, applet: &str, problems: &Problems) -> i32 {
        if self.failed.is_none() {
            if let Err(e) = self.w.flush() {
                self.failed = Some(e);
            }
        }
        for p in &problems.0 {
            eprintln!("{applet}: {p}");
        }
        match self.failed {
            Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 1,
            Some(e) => {
                eprintln!("{applet}: writing the output: {e}");
                1
            }
            None if problems.is_empty() => 0,
            None => 1,
        }
    }
}
