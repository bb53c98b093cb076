//! Helpers shared by the `interop_*` modules: the jobserver interop suite (issue 3 "The
//! interop suite", spec/jobserver.md §6). Every scenario runs real binaries (GNU make 4.3
//! = `$FERREDO_MAKE43`, make 4.4.1 and ninja from the venv, cargo from PATH) in a
//! `Sandbox`, and checks the §6.0 measurements:
//!
//! * **concurrency** from the `job` start/end log: the maximum overlap is exactly N when
//!   enough independent work is ready (`assert_max`: both `<= N` and `>= N`);
//! * **token conservation**: make on top prints no `INTERNAL: Exiting with`; redo on top
//!   prints no `exiting with` (its `finish()` check) and a `.do` that runs after the
//!   parallel part counts N-1 tokens (`jsctl count`); or `jsserve --strict` counts from
//!   outside;
//! * **no unexpected warnings** (`assert_no_trouble`, with explicit allowances);
//! * **no fifo or temp file left** in the sandbox `TMPDIR` (`assert_tmp_clean`).
#![allow(dead_code)]

use crate::sandbox::*;
use std::fs;
use std::time::{Duration, Instant};

/// stderr words that mean jobserver trouble (spec §6.0 "No warnings"), plus redo's
/// end-of-run token check and signs of surfaced syscall errors.
pub const TROUBLE: &[&str] = &[
    "jobserver",
    "Jobserver",
    "forced in submake",
    "forced in sub-redo",
    "INTERNAL",
    "Add '+'",
    "failed to connect",
    "Could not initialize",
    "exiting with",
    "Resource temporarily unavailable",
    "Interrupted system call",
    "EAGAIN",
    "EINTR",
];

/// What ninja prints when it joins a pipe jobserver (spec §4.1; accepted where ninja runs
/// under a pipe jobserver).
pub const NINJA_PIPE: &[&str] = &[
    "ninja: Jobserver mode detected",
    "Jobserver 'pipe' mode detected",
];

/// cargo's warning for `cargo build -jN` under a jobserver (spec §3.1).
pub const CARGO_J_IGNORED: &str =
    "a `-j` argument was passed to Cargo but Cargo is also configured with an external jobserver";

/// The lines of `stderr` that contain a `TROUBLE` word and none of the `allowed` strings.
pub fn trouble(stderr: &str, allowed: &[&str]) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| TROUBLE.iter().any(|t| l.contains(t)))
        .filter(|l| !allowed.iter().any(|a| l.contains(a)))
        .map(String::from)
        .collect()
}

/// No jobserver trouble on stderr except lines containing one of `allowed`.
#[track_caller]
pub fn assert_no_trouble(out: &Output, allowed: &[&str]) {
    let t = trouble(&out.stderr(), allowed);
    assert!(t.is_empty(), "unexpected warnings {t:#?}\n{out:?}");
}

/// Lines of stderr containing `s`.
pub fn lines_containing(out: &Output, s: &str) -> Vec<String> {
    out.stderr()
        .lines()
        .filter(|l| l.contains(s))
        .map(String::from)
        .collect()
}

/// Exactly one stderr line contains `s`.
#[track_caller]
pub fn assert_once(out: &Output, s: &str) {
    let n = lines_containing(out, s).len();
    assert_eq!(
        n, 1,
        "expected exactly one line with {s:?}, got {n}\n{out:?}"
    );
}

/// `max_overlap` of the log is exactly `(n, jobs)`.
#[track_caller]
pub fn assert_max(sb: &Sandbox, log: &str, n: usize, jobs: usize, what: &str) {
    let got = sb.max_overlap(log);
    assert_eq!(
        got,
        (n, jobs),
        "{what}: (max overlap, jobs) of {log}\n{}",
        sb.read(log)
    );
}

/// `(max overlap, jobs)` over the log lines whose job id starts with `prefix`.
#[track_caller]
pub fn overlap_of(sb: &Sandbox, log: &str, prefix: &str) -> (usize, usize) {
    let text = sb.read(log);
    let sub: String = text
        .lines()
        .filter(|l| {
            l.rsplit(' ')
                .next()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    parse_overlap(&sub).unwrap_or_else(|e| panic!("{log} ({prefix}*): {e}\n{text}"))
}

/// Nothing left in the sandbox TMPDIR (make's `GMfifo*`, our `ferredo-fifo-*`, temp files).
#[track_caller]
pub fn assert_tmp_clean(sb: &Sandbox) {
    let left = sb.tmp_leftovers();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

/// A `.do` body that runs one logged job: `job ID SECS <root>/LOG`.
pub fn job_line(sb: &Sandbox, id: &str, secs: f64, log: &str) -> String {
    job_cmd(id, secs, sb.path(log))
}

/// Add `N` leaf targets `PREFIX1.job` .. `PREFIXn.job` built by `default.job.do` (one
/// logged job of `secs` each, into `log`), and `TARGET.do` that builds them in parallel
/// with `redo-ifchange`, then writes `jsctl count` (the tokens back in the jobserver once
/// the parallel part is over: N-1 for a server of N slots) to `TARGET.count`. It also
/// records what it was given: `jsctl info` in `TARGET.info` (validates the advertised
/// jobserver: fds open, both ends of one pipe, or a fifo) and `$MAKEFLAGS` in
/// `TARGET.makeflags`.
pub fn leaves(sb: &Sandbox, target: &str, prefix: &str, n: usize, secs: f64, log: &str) {
    let names: Vec<String> = (1..=n).map(|i| format!("{prefix}{i}.job")).collect();
    sb.write(
        format!("{target}.do"),
        format!(
            "jsctl info >{target}.info 2>&1 || true\n\
             redo-ifchange {}\n\
             jsctl count >{target}.count 2>{target}.count.err || true\n\
             echo \"$MAKEFLAGS\" >{target}.makeflags\n",
            names.join(" ")
        ),
    );
    sb.write(
        "default.job.do",
        format!("{}\necho \"$2\"\n", job_line(sb, "$2", secs, log)),
    );
}

/// The `count=K` a `leaves` target recorded.
#[track_caller]
pub fn recorded_count(sb: &Sandbox, target: &str) -> String {
    sb.read(format!("{target}.count")).trim().to_string()
}

/// The GNU make flavours of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Make {
    /// GNU make 4.3 (pipe jobserver).
    M43,
    /// GNU make 4.4.1 with `--jobserver-style=pipe`.
    M44Pipe,
    /// GNU make 4.4.1 default (fifo jobserver in `$TMPDIR`).
    M44Fifo,
}

impl Make {
    pub const ALL: [Make; 3] = [Make::M43, Make::M44Pipe, Make::M44Fifo];

    /// The make binary.
    pub fn bin(self) -> String {
        let p = match self {
            Make::M43 => tool_make43(),
            Make::M44Pipe | Make::M44Fifo => tool_make44(),
        };
        p.to_str().expect("utf-8 path").to_string()
    }

    /// The command line up to the job count: `[bin, (--jobserver-style=pipe)]`.
    pub fn argv(self) -> Vec<String> {
        let mut v = vec![self.bin()];
        if self == Make::M44Pipe {
            v.push("--jobserver-style=pipe".into());
        }
        v
    }

    pub fn label(self) -> &'static str {
        match self {
            Make::M43 => "make 4.3",
            Make::M44Pipe => "make 4.4.1 pipe",
            Make::M44Fifo => "make 4.4.1 fifo",
        }
    }
}

/// Run `make -jN ARGS...` (flavour `m`) in the sandbox.
pub fn run_make(sb: &Sandbox, m: Make, jobs: usize, args: &[&str]) -> Output {
    let mut argv = m.argv();
    argv.push(format!("-j{jobs}"));
    argv.extend(args.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    sb.run(&argv)
}

/// Processes (other than zombies) whose command line mentions `needle`: orphan hunting
/// by the sandbox path, which every job of a scenario names in its arguments.
pub fn procs_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('Z')))
            .unwrap_or(true);
        if !zombie && cmd.contains(needle) {
            out.push((pid, cmd.trim().to_string()));
        }
    }
    out
}

/// Wait (up to `grace`) until no process mentions `needle`; panic with the survivors.
#[track_caller]
pub fn assert_no_orphans(needle: &str, grace: Duration) {
    let end = Instant::now() + grace;
    loop {
        let p = procs_mentioning(needle);
        if p.is_empty() {
            return;
        }
        if Instant::now() > end {
            panic!("processes left running: {p:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until `log` holds at least `n` `start` lines.
#[track_caller]
pub fn wait_for_starts(sb: &Sandbox, log: &str, n: usize, timeout: Duration, r: &Running) {
    let end = Instant::now() + timeout;
    loop {
        let starts = fs::read_to_string(sb.path(log))
            .map(|t| t.lines().filter(|l| l.starts_with("start ")).count())
            .unwrap_or(0);
        if starts >= n {
            return;
        }
        assert!(
            Instant::now() < end,
            "only {starts} of {n} jobs started in {timeout:?}\n{}",
            r.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the cargo fixture (compat/fixtures/cargo-ws) ------------------------------------------

/// The fixture workspace in the repository.
pub fn cargo_ws_src() -> std::path::PathBuf {
    repo_root().join("compat/fixtures/cargo-ws")
}

/// Copy the cargo fixture to `cw/` and set the sandbox up for offline builds with a
/// private target dir (`cw-target/`, outside the copied tree). Then build it once with
/// no log (the build scripts return at once), so that a measured run only reruns the six
/// build scripts, all ready at the same time.
pub fn with_cargo_ws(sb: Sandbox) -> Sandbox {
    require_tool("cargo");
    let target = sb.abs("cw-target");
    let sb = sb
        .copy_tree(cargo_ws_src(), "cw", |p| !p.starts_with("target"))
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("CARGO_BUILD_JOBS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("FERREDO_CW_LOG")
        .env_remove("FERREDO_CW_RUN")
        .env_remove("FERREDO_CW_SECS");
    sb.cmd(&["cargo", "build", "-q"])
        .cwd("cw")
        .timeout(Duration::from_secs(180))
        .run()
        .success();
    sb
}

/// The environment of one measured cargo run: its log and a fresh nonce, so that every
/// build script runs again.
pub fn cargo_run_env(sb: &Sandbox, log: &str, nonce: &str) -> Vec<(String, String)> {
    vec![
        ("FERREDO_CW_LOG".into(), sb.abs(log)),
        ("FERREDO_CW_RUN".into(), nonce.into()),
        ("FERREDO_CW_SECS".into(), "0.8".into()),
    ]
}

/// A `.do` that builds the fixture: `cd cw && cargo build ARGS >&2`.
pub fn cargo_do(sb: &Sandbox, name: &str, args: &str) {
    sb.write(
        format!("{name}.do"),
        format!("cd \"{}\" && cargo build {args} >&2\n", sb.abs("cw")),
    );
}

/// Build scripts ran six times, `n` at most at once, and at least `n` at once.
#[track_caller]
pub fn assert_cargo_max(sb: &Sandbox, log: &str, n: usize, what: &str) {
    assert_max(sb, log, n, 6, what);
}

/// Write a Makefile-like fixture whose recipes are given as (target, recipe lines).
pub fn makefile(sb: &Sandbox, name: &str, rules: &[(&str, &[&str])]) {
    let mut s = String::new();
    let phony: Vec<&str> = rules.iter().map(|(t, _)| *t).collect();
    s.push_str(&format!(".PHONY: {}\n", phony.join(" ")));
    for (t, lines) in rules {
        s.push_str(&format!("{t}:\n"));
        for l in *lines {
            s.push_str(&format!("\t{l}\n"));
        }
    }
    sb.write(name, s);
}

/// The sandbox path every job names: used to hunt orphans.
pub fn needle(sb: &Sandbox) -> String {
    sb.root().to_string_lossy().into_owned()
}
