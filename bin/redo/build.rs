//! `redo` and `redo-ifchange`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};
use ferredo::engine::{self, Options};
use ferredo::env::Context;
use ferredo::error::Error;
use ferredo::jobserver::{Jobserver, Request, Style};
use ferredo::sys::signals;
use ferredo::target::Target;

use crate::output::Terminal;

/// The clap definition of `redo` or `redo-ifchange` (argv parsing, manual page, completions).
pub fn command(applet: &'static str) -> Command {
    let mut c = Command::new(applet)
        .version(env!("CARGO_PKG_VERSION"))
        .about(if applet == "redo" {
            "Build the targets (default: all) even if up to date, one after another."
        } else {
            "Build the targets if out of date, in parallel, and record them as dependencies."
        })
        .arg(
            Arg::new("jobs")
                .short('j')
                .value_name("N")
                .help("job slots for the whole tree (0 = unlimited; REDO_JOBS)"),
        )
        .arg(
            Arg::new("x")
                .short('x')
                .action(ArgAction::SetTrue)
                .help("trace the .do files this run starts (sh -x)"),
        )
        .arg(
            Arg::new("xx")
                .long("xx")
                .action(ArgAction::SetTrue)
                .help("trace every .do below (REDO_TRACE=1)"),
        )
        .arg(
            Arg::new("k")
                .short('k')
                .action(ArgAction::SetTrue)
                .help("keep job stderr in .redo/T.log (REDO_LOGS=1)"),
        )
        .arg(
            Arg::new("s")
                .short('s')
                .action(ArgAction::SetTrue)
                .help("do not show job stderr (REDO_SILENT=1)"),
        )
        .arg(
            Arg::new("d")
                .short('d')
                .action(ArgAction::SetTrue)
                .help("debug: out-of-date reasons, pids, waits (REDO_DEBUG=1)"),
        )
        .arg(
            Arg::new("log-pid")
                .long("log-pid")
                .action(ArgAction::SetTrue)
                .help("prefix job stderr with its pid (REDO_LOG_PID=1)"),
        )
        .arg(
            Arg::new("no-progress")
                .long("no-progress")
                .action(ArgAction::SetTrue)
                .help("no completion lines (REDO_NO_PROGRESS=1)"),
        )
        .arg(
            Arg::new("no-status")
                .long("no-status")
                .action(ArgAction::SetTrue)
                .help("no status line (REDO_NO_STATUS=1)"),
        )
        .arg(
            Arg::new("jobserver-style")
                .long("jobserver-style")
                .value_name("STYLE")
                .value_parser(["pipe", "fifo"])
                .help("jobserver to serve at top level (REDO_JOBSERVER_STYLE; default pipe)"),
        )
        .arg(
            Arg::new("timings")
                .long("timings")
                .value_name("PATH")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("")
                .value_parser(clap::value_parser!(OsString))
                .help("at top level, write a timeline of the build to PATH.html and PATH.json (default .redo/timings-DATE; REDO_TIMINGS)"),
        )
        .arg(
            Arg::new("targets")
                .value_name("TARGET")
                .num_args(0..)
                .value_parser(clap::value_parser!(OsString))
                .trailing_var_arg(true),
        );
    c = goredo_log_args(c);
    if applet == "redo-ifchange" {
        c = c.arg(
            Arg::new("f")
                .short('f')
                .action(ArgAction::SetTrue)
                .help("rebuild even if up to date"),
        );
    } else {
        c = redo_only_args(c);
    }
    c
}

pub fn main(applet: &'static str, mut argv: Vec<OsString>) -> i32 {
    // Flags come before operands (args.rs): when the first word is an
    // operand, all are, and clap need not walk the thousands of them an
    // `all.do`'s redo-ifchange may pass.
    let operands: Option<Vec<OsString>> = match argv.get(1) {
        Some(a) if !a.as_encoded_bytes().starts_with(b"-") => Some(argv.split_off(1)),
        _ => None,
    };
    let m = match command(applet).try_get_matches_from(crate::args::normalise(argv)) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if applet == "redo" {
        if let Some(code) = not_a_build(&m) {
            return code;
        }
    }
    let (ctx, cwd) = match context(&m) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let term = Terminal::new(&ctx);
    let request = match request(&m, &ctx, &term) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let targets = operand_paths(&m, operands.as_deref(), &cwd);
    let targets = if targets.is_empty() {
        if applet == "redo" && ctx.top_level {
            vec![Target::new(cwd.join("all"))]
        } else {
            return 0;
        }
    } else {
        targets
    };
    run(applet, &m, &ctx, &term, &request, &targets)
}

/// goredo's `-log-wait`, `-log-lock`, `-log-js`: accepted, hidden, all
/// meaning `-d`.
fn goredo_log_args(c: Command) -> Command {
    c.arg(
        Arg::new("log-wait")
            .long("log-wait")
            .action(ArgAction::SetTrue)
            .hide(true),
    )
    .arg(
        Arg::new("log-lock")
            .long("log-lock")
            .action(ArgAction::SetTrue)
            .hide(true),
    )
    .arg(
        Arg::new("log-js")
            .long("log-js")
            .action(ArgAction::SetTrue)
            .hide(true),
    )
}

/// `redo`'s own options that are not builds: applet links, the manual and
/// completions, the completion scripts' target list.
fn redo_only_args(c: Command) -> Command {
    c.arg(
        Arg::new("install-symlinks")
            .long("install-symlinks")
            .alias("symlinks")
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value(".")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help("create the applet symlinks in DIR (default: current directory) and exit"),
    )
    .arg(
        Arg::new("generate")
            .long("generate")
            .value_name("WHAT")
            .value_parser(crate::generate::WHAT)
            .help(
                "write the manual pages into DIR (man DIR), or print a completion script, and exit",
            ),
    )
    .arg(
        Arg::new("complete-targets")
            .long("complete-targets")
            .action(ArgAction::SetTrue)
            .hide(true),
    )
    .arg(
        Arg::new("warranty")
            .long("warranty")
            .action(ArgAction::SetTrue)
            .hide(true),
    )
}

/// `redo`'s options that do something other than a build: the exit code.
fn not_a_build(m: &clap::ArgMatches) -> Option<i32> {
    if m.contains_id("install-symlinks") && m.value_source("install-symlinks").is_some() {
        let dir = m
            .get_one::<PathBuf>("install-symlinks")
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        return Some(crate::install::symlinks(&dir));
    }
    if let Some(what) = m.get_one::<String>("generate") {
        let dir = m.get_many::<OsString>("targets").and_then(|mut v| v.next());
        return Some(crate::generate::main(what, dir.map(Path::new)));
    }
    if m.get_flag("complete-targets") {
        return Some(crate::generate::targets::main());
    }
    if m.get_flag("warranty") {
        println!("ferredo is free software under the GNU GPL version 3; it comes with ABSOLUTELY NO WARRANTY.");
        return Some(0);
    }
    None
}

/// The engine's context from the environment, with the command line's
/// flags over it, and the logical cwd; or the exit code of an error
/// already shown.
fn context(m: &clap::ArgMatches) -> Result<(Context, PathBuf), i32> {
    let cwd = crate::logical_cwd().map_err(|e| {
        eprintln!("redo: cannot read the current directory: {e}");
        1
    })?;
    let mut ctx = Context::from_env(&crate::env_get, cwd.clone()).map_err(|e| {
        eprintln!("redo: {e}");
        e.exit_code()
    })?;
    let f = &mut ctx.flags;
    f.trace_all |= m.get_flag("xx");
    f.logs |= m.get_flag("k");
    f.silent |= m.get_flag("s");
    f.debug |=
        m.get_flag("d") || m.get_flag("log-wait") || m.get_flag("log-lock") || m.get_flag("log-js");
    f.log_pid |= m.get_flag("log-pid");
    f.no_progress |= m.get_flag("no-progress");
    f.no_status |= m.get_flag("no-status") || f.no_progress;
    Ok((ctx, cwd))
}

/// What the jobserver is asked for (`-j`, the style); or the exit code of
/// an error already shown.
fn request(m: &clap::ArgMatches, ctx: &Context, term: &Terminal) -> Result<Request, i32> {
    let explicit_jobs = match m.get_one::<String>("jobs") {
        None => None,
        Some(s) => Some(s.parse::<u32>().map_err(|_| {
            term.error(&format!(
                "-j {s:?}: not a number of job slots (use -j N, 0 for unlimited)"
            ));
            2
        })?),
    };
    let style = match m
        .get_one::<String>("jobserver-style")
        .cloned()
        .or_else(|| {
            crate::env_get(ferredo::env::JOBSERVER_STYLE).map(|v| v.to_string_lossy().into_owned())
        })
        .as_deref()
    {
        None | Some("") | Some("pipe") => Style::Pipe,
        Some("fifo") => Style::Fifo,
        Some(other) => {
            term.error(&format!(
                "unknown jobserver style {other:?}: use pipe or fifo"
            ));
            return Err(2);
        }
    };
    Ok(Request {
        explicit_jobs,
        top_level: ctx.top_level,
        style,
    })
}

/// The operands, absolute, a `..` after a symlink applied as the OS does.
fn operand_paths(m: &clap::ArgMatches, operands: Option<&[OsString]>, cwd: &Path) -> Vec<Target> {
    let resolve = |t: &OsString| Target::new(ferredo::paths::resolve_join(cwd, Path::new(t)));
    match operands {
        Some(v) => v.iter().map(resolve).collect(),
        None => m
            .get_many::<OsString>("targets")
            .map(|v| v.map(resolve).collect())
            .unwrap_or_default(),
    }
}

/// Join or serve the jobserver, build, and report; the exit code.
fn run(
    applet: &'static str,
    m: &clap::ArgMatches,
    ctx: &Context,
    term: &Terminal,
    request: &Request,
    targets: &[Target],
) -> i32 {
    let (js, warnings) = match Jobserver::from_env(&crate::env_get, request) {
        Ok(x) => x,
        Err(e) => {
            term.error(&format!("cannot set up the jobserver: {e}"));
            return 1;
        }
    };
    // After the jobserver is validated: our own fds must not be mistaken
    // for inherited jobserver fds.
    signals::install();
    ferredo::sys::spawn::raise_open_files_limit();
    for w in warnings {
        term.warning(&w.0);
    }
    let mut opts = Options {
        force: applet == "redo" || (applet == "redo-ifchange" && m.get_flag("f")),
        sequential: applet == "redo",
        trace: m.get_flag("x"),
        extra_env: Vec::new(),
        extra_fds: Vec::new(),
        inherited_env: std::env::vars_os().collect(),
        // main exits with our status code right after.
        process_exits_after: true,
    };
    if ctx.top_level {
        if let Some(path) = crate::install::child_path() {
            opts.extra_env.push(("PATH".into(), Some(path)));
        }
    }
    let (status_var, status_fd) = term.start_status(ctx, crate::env_get(ferredo::env::STATUS_FD));
    opts.extra_env.push(status_var);
    opts.extra_fds.extend(status_fd);
    let asked = m.get_one::<OsString>("timings").map(|v| Some(v.clone()));
    let timings = crate::timings::Session::start(ctx, asked, term, js.slots());
    opts.extra_env.extend(timings.child_var());
    let reporter = timings.tee(term);
    let result = timings.sampling(&js, || engine::build(ctx, &js, &reporter, targets, &opts));
    term.finish_status();
    for w in js.take_warnings() {
        term.warning(&w.0);
    }
    if let Some(w) = js.finish() {
        term.warning(&w.0);
    }
    timings.finish(term, &ctx.cwd);
    match result {
        Ok(()) => 0,
        Err(e) => {
            match &e {
                Error::BuildFailed(_) | Error::Interrupted(_) => {}
                other => term.error(&other.to_string()),
            }
            e.exit_code()
        }
    }
}
