//! Builds across machines: `redo -j4` with `CC="distcc cc"` against a real `distccd`
//! (Debian's distcc) listening on 127.0.0.1 (issue #14). Named by address in
//! `DISTCC_HOSTS`, not `localhost`, so every compile goes over TCP as to another machine.
//! Checks that distccd served every compile, that at most 4 compilers ran at once in
//! the whole tree, that every jobserver token came back, and that when distccd goes
//! away in the middle of a build, distcc's local fallback lets the build finish.

use crate::interop_common::*;
use crate::sandbox::*;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// C files in the project (plus main.c).
const FILES: usize = 36;

/// A `distccd --no-detach --daemon` in its own process group, its log (stderr) kept in
/// the test's directory; the group is killed on drop, also when the test panics.
struct Distccd {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Distccd {
    fn start(log: PathBuf) -> Distccd {
        let distccd = require_tool("distccd");
        let port = free_port();
        let err = fs::File::create(&log).expect("distccd log");
        let child = Command::new(distccd)
            .args([
                "--no-detach",
                "--daemon",
                "--log-stderr",
                "--log-level",
                "info",
            ])
            .args([
                "--listen",
                "127.0.0.1",
                "--allow",
                "127.0.0.1",
                "--jobs",
                "4",
            ])
            .args(["--port", &port.to_string()])
            // Run as root, distccd becomes user distccd: it needs a TMPDIR it can write.
            .env("TMPDIR", std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start distccd");
        let d = Distccd {
            child: Some(child),
            port,
            log,
        };
        d.wait_listening();
        d
    }

    fn wait_listening(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "distccd not listening:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sources of the compiles distccd completed, in log order.
    fn served(&self) -> Vec<String> {
        served(&self.log_text())
    }

    /// SIGTERM to the whole group (the master and its preforked children), then SIGKILL.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = -(child.id() as libc::pid_t);
        // SAFETY: plain syscalls on the process group we created with process_group(0).
        unsafe { libc::kill(group, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(5);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = child.wait();
    }
}

impl Drop for Distccd {
    fn drop(&mut self) {
        self.stop();
    }
}

use std::os::unix::process::CommandExt;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Sources in distccd's `COMPILE_OK` job summaries, e.g.
/// `(dcc_job_summary) client: 127.0.0.1:47488 COMPILE_OK exit:0 ... x86_64-linux-gnu-gcc f1.c`.
fn served(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" COMPILE_OK "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

/// The C project: f1.c..fN.c, main.c calling them all, one header; `default.o.do`
/// compiles with `$CC`; the link stays local (distcc does not move links).
fn project(sb: &Sandbox) {
    let mut header = String::from("#define BASE 1000\n");
    let mut calls = String::new();
    for i in 1..=FILES {
        header += &format!("int f{i}(void);\n");
        calls += &format!("    s += f{i}();\n");
        sb.write(
            format!("f{i}.c"),
            format!("#include \"fns.h\"\nint f{i}(void) {{ return BASE + {i}; }}\n"),
        );
    }
    sb.write("fns.h", header);
    sb.write(
        "main.c",
        format!(
            "#include <stdio.h>\n#include \"fns.h\"\n\
             int main(void) {{\n    long s = 0;\n{calls}    printf(\"%ld\\n\", s);\n    return 0;\n}}\n"
        ),
    );
    let objs: Vec<String> = (1..=FILES).map(|i| format!("f{i}.o")).collect();
    sb.write(
        "prog.do",
        format!(
            "objs=\"main.o {}\"\nredo-ifchange $objs\ncc -o \"$3\" $objs\n",
            objs.join(" ")
        ),
    );
    sb.write(
        "default.o.do",
        "redo-ifchange \"$2.c\" fns.h\n$CC -c -o \"$3\" \"$2.c\"\n",
    );
    sb.write("all.do", "redo-ifchange prog\njsctl count >all.count\n");
}

/// What ./prog prints with `BASE` = base.
fn expected(base: usize) -> String {
    format!("{}\n", (1..=FILES).map(|i| base + i).sum::<usize>())
}

fn sandbox(d: &Distccd) -> Sandbox {
    let logjob = repo_root().join("compat/demo/logjob");
    let sb = Sandbox::new().timeout(Duration::from_secs(120));
    let (cc_log, state) = (sb.path("cc.log"), sb.path("distcc-state"));
    let sb = sb
        .env("CC", format!("{} distcc cc", logjob.display()))
        .env("DEMO_LOG", cc_log)
        .env("DISTCC_HOSTS", format!("127.0.0.1:{}/4", d.port))
        .env("DISTCC_DIR", state)
        .env("DISTCC_FALLBACK", "1");
    // distcc does not create its state directory: without it, it compiles locally.
    sb.mkdir("distcc-state");
    project(&sb);
    sb
}

#[test]
fn interop_distcc_serves_every_compile_within_four_slots_and_falls_back_when_it_stops() {
    require_tool("distcc");
    require_tool("cc");
    let dir = tempfile::tempdir().expect("temp dir for distccd's log");
    let mut d = Distccd::start(dir.path().join("distccd.log"));
    let sb = sandbox(&d);

    let out = sb.run(&["redo", "-j4", "all"]);
    out.success().stderr_lacks("distcc[");
    assert_no_trouble(&out, &[]);
    let served = d.served();
    let mut want: Vec<String> = (1..=FILES).map(|i| format!("f{i}.c")).collect();
    want.push("main.c".into());
    let mut got = served.clone();
    got.sort();
    want.sort();
    assert_eq!(
        got,
        want,
        "distccd did not serve exactly every compile:\n{}",
        d.log_text()
    );
    let (most, compiles) = sb.max_overlap("cc.log");
    assert_eq!(compiles, FILES + 1, "{}", sb.read("cc.log"));
    assert!(most <= 4, "{most} compilers at once under redo -j4");
    assert!(most >= 2, "compiles never overlapped: {most}");
    assert_eq!(sb.read("all.count").trim(), "count=3", "a token is missing");
    sb.run(&["./prog"]).success().stdout_is(&expected(1000));
    eprintln!(
        "distcc: {} compiles served by distccd, at most {most} at once",
        served.len()
    );

    // Every object depends on fns.h: all recompile. distccd stops after a few.
    sb.write("fns.h", sb.read("fns.h").replace("BASE 1000", "BASE 2000"));
    fs::remove_file(sb.path("cc.log")).unwrap();
    let before = served.len();
    let build = sb.cmd(&["redo", "-j4", "all"]).spawn();
    let end = Instant::now() + Duration::from_secs(60);
    while d.served().len() < before + 3 {
        assert!(
            Instant::now() < end,
            "no compile reached distccd:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    d.stop();
    let remote = d.served().len() - before;
    let out = build.wait();
    out.success();
    let local = lines_containing(&out, "running locally instead").len();
    assert!(
        local >= 1,
        "no compile fell back to local:\n{}",
        out.stderr()
    );
    let (most, compiles) = sb.max_overlap("cc.log");
    assert_eq!(compiles, FILES + 1, "{}", sb.read("cc.log"));
    assert!(
        most <= 4,
        "{most} compilers at once under redo -j4 (fallback)"
    );
    assert!(
        remote < FILES + 1,
        "distccd stopped too late to test the fallback"
    );
    assert_eq!(sb.read("all.count").trim(), "count=3", "a token is missing");
    sb.run(&["./prog"]).success().stdout_is(&expected(2000));
    eprintln!(
        "distcc fallback: {remote} of {} compiles served before distccd stopped, \
         {local} fell back to local, at most {most} at once",
        FILES + 1
    );
    assert_tmp_clean(&sb);
}

/// `ccache` in front, distcc behind it (`CC="ccache cc"`, `CCACHE_PREFIX=distcc`), with
/// no set-up beyond a cache directory: the first build misses and distccd serves every
/// compile; after a change to a comment in the header every object is rebuilt by redo
/// and ccache answers them all (same preprocessed text), so distccd sees none.
#[test]
fn interop_distcc_behind_ccache() {
    require_tool("distcc");
    let ccache = require_tool("ccache");
    let dir = tempfile::tempdir().expect("temp dir for distccd's log");
    let d = Distccd::start(dir.path().join("distccd.log"));
    let sb = sandbox(&d);
    let cache = sb.path("ccache");
    let sb = sb
        .env("CC", "ccache cc")
        .env("CCACHE_PREFIX", "distcc")
        .env("CCACHE_DIR", &cache);
    sb.run(&["redo", "-j4", "all"])
        .success()
        .stderr_lacks("distcc[");
    assert_eq!(d.served().len(), FILES + 1, "{}", d.log_text());
    sb.run(&["./prog"]).success().stdout_is(&expected(1000));

    sb.write(
        "fns.h",
        sb.read("fns.h").replace("1000\n", "1000 /* a comment */\n"),
    );
    sb.run(&["redo", "-j4", "all"]).success();
    let stats = sb
        .cmd(&[ccache.to_str().unwrap(), "--print-stats"])
        .env("CCACHE_DIR", &cache)
        .run();
    let hits: usize = stats
        .stdout()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(k, _)| k.ends_with("_cache_hit"))
        .filter_map(|(_, v)| v.trim().parse::<usize>().ok())
        .sum();
    assert_eq!(hits, FILES + 1, "{}", stats.stdout());
    assert_eq!(
        d.served().len(),
        FILES + 1,
        "ccache missed:\n{}",
        d.log_text()
    );
    assert_eq!(sb.read("all.count").trim(), "count=3", "a token is missing");
    sb.run(&["./prog"]).success().stdout_is(&expected(1000));
}
