//! A client built on the `jobserver` crate (the one cargo, rustc and cc-rs use) joins the
//! jobserver that `redo -jN` serves, pipe style (the default) and fifo style, takes every
//! token it can, and gives every one back.
//!
//! How the client runs: it must be a real process started by a `.do`, with the fds and
//! variables redo gives that `.do`. The `.do` re-executes this test binary
//! (`std::env::current_exe()`) as `<it> --exact <name of jobserver_crate_client>
//! --nocapture`, with `FERREDO_IT_JS_CLIENT=<report file>` in its environment: the
//! `jobserver_crate_client` test below is the client when that variable is set, and returns
//! at once otherwise (in an ordinary test run). This needs no other build target: an
//! example is not built by `cargo test --test it`, and a `[[bin]]` cannot use
//! dev-dependencies.
//!
//! The client writes what it saw to the report; the test checks it from outside, with the
//! `.do`'s `jsctl count` and redo's stderr:
//! 1. `Client::from_env_ext(true)` (checking that the fds are pipes) connects, through
//!    `CARGO_MAKEFLAGS` (the crate's first choice), to the advertised style;
//! 2. greedy: `try_acquire` until nothing is left gives exactly N-1 tokens (the `.do` runs
//!    on its implicit slot), and none are left in the jobserver;
//! 3. blocking: N+1 threads `acquire()` once each and hold their token 100 ms: at most,
//!    and at some point exactly, N-1 are held at once;
//! 4. every token goes back (the crate writes it back on drop): `jsctl count` after the
//!    client says N-1, redo's end-of-run check is silent, and no fifo is left in TMPDIR.

use crate::interop_common::*;
use crate::sandbox::*;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Set (to the report's path) only in the client process the `.do` starts.
const CLIENT_VAR: &str = "FERREDO_IT_JS_CLIENT";

/// How long each blocking-phase thread holds its token.
const HOLD: Duration = Duration::from_millis(100);

/// The client (see the module docs): a no-op unless [`CLIENT_VAR`] is set.
#[test]
fn jobserver_crate_client() {
    let Some(report) = std::env::var_os(CLIENT_VAR) else {
        return;
    };
    // SAFETY: the crate takes ownership of the fd numbers named in the environment; they
    // are the jobserver ends redo left open for this process, and nothing else here owns
    // or closes them.
    let from_env = unsafe { jobserver::Client::from_env_ext(true) };
    let (var, value) = from_env.var.expect("a jobserver variable");
    let client = from_env.client.expect("the jobserver crate connects");
    let style = if value.to_string_lossy().contains("--jobserver-auth=fifo:") {
        "fifo"
    } else {
        "pipe"
    };
    let mut greedy = Vec::new();
    while let Some(token) = client.try_acquire().expect("try_acquire") {
        greedy.push(token);
    }
    let left = client.available().expect("available");
    let taken = greedy.len();
    drop(greedy);
    let max_held = hold_concurrently(&client, if taken > 0 { taken + 2 } else { 0 });
    let mut text = String::new();
    for (k, v) in [
        ("var", var.to_string()),
        ("style", style.to_string()),
        ("greedy", taken.to_string()),
        ("left", left.to_string()),
        ("max_held", max_held.to_string()),
    ] {
        writeln!(text, "{k}={v}").unwrap();
    }
    std::fs::write(report, text).expect("write the report");
}

/// `threads` threads each `acquire()` one token and hold it for [`HOLD`]; returns the
/// most held at once.
fn hold_concurrently(client: &jobserver::Client, threads: usize) -> usize {
    let held = AtomicUsize::new(0);
    let max = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let token = client.acquire().expect("acquire");
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(HOLD);
                held.fetch_sub(1, Ordering::SeqCst);
                drop(token);
            });
        }
    });
    max.load(Ordering::SeqCst)
}

/// The client's test name as libtest knows it (module path without the crate name).
fn client_test_name() -> String {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    format!("{module}::jobserver_crate_client")
}

/// `crate.do` runs the client, then counts the tokens back in the jobserver.
fn client_project() -> Sandbox {
    let sb = Sandbox::new().timeout(Duration::from_secs(60));
    let exe = std::env::current_exe().expect("the test binary's path");
    sb.write(
        "crate.do",
        format!(
            "{CLIENT_VAR}='{}' '{}' --exact '{}' --nocapture >/dev/null\n\
             jsctl count >crate.count\n",
            sb.abs("report"),
            exe.display(),
            client_test_name()
        ),
    );
    sb
}

fn report(sb: &Sandbox) -> HashMap<String, String> {
    sb.read("report")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run the client under `redo -jN` (plus `extra` arguments and variables) and check it.
fn check(n: usize, style: &str, args: &[&str], vars: &[(&str, &str)]) {
    let sb = client_project();
    let jobs = format!("-j{n}");
    let mut argv = vec!["redo", jobs.as_str()];
    argv.extend(args);
    argv.push("crate");
    let mut cmd = sb.cmd(&argv);
    for (k, v) in vars {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run();
    let what = format!("redo {} crate, {style}", argv[1..].join(" "));
    out.success();
    assert_no_trouble(&out, &[]);
    let got = report(&sb);
    let tokens = (n - 1).to_string();
    let expected = [
        ("var", "CARGO_MAKEFLAGS"),
        ("style", style),
        ("greedy", tokens.as_str()),
        ("left", "0"),
        ("max_held", tokens.as_str()),
    ];
    for (k, v) in expected {
        assert_eq!(
            got.get(k).map(String::as_str),
            Some(v),
            "{what}: {k}\n{got:?}"
        );
    }
    assert_eq!(
        sb.read("crate.count").trim(),
        format!("count={tokens}"),
        "{what}"
    );
    assert_tmp_clean(&sb);
}

#[test]
fn interop_jobserver_crate_pipe() {
    for n in [1, 2, 4] {
        check(n, "pipe", &[], &[]);
    }
}

#[test]
fn interop_jobserver_crate_fifo() {
    check(1, "fifo", &["--jobserver-style=fifo"], &[]);
    check(2, "fifo", &[], &[("REDO_JOBSERVER_STYLE", "fifo")]);
    check(4, "fifo", &["--jobserver-style=fifo"], &[]);
}
