//! The GNU make jobserver, as ferredo speaks it: joining one (pipe or fifo), serving one,
//! and what every `.do` child is told about it.
//!
//! # The protocol
//!
//! A jobserver is a counting semaphore made of bytes in a pipe or a named fifo. One byte
//! is one *token*: the right to run one job **in addition to** the one every process may
//! always run on its *implicit token*. A client reads one byte before starting each extra
//! job and writes the same byte back when it ends; it never writes back the implicit
//! token. The process that creates the jobserver for `-jN` puts `N-1` bytes in it (its own
//! implicit token is the N-th). The implicit token is passed down: a `.do` runs on the
//! slot its parent spent on it, so a nested redo runs its first job without reading.
//!
//! The jobserver is advertised in `MAKEFLAGS` as `--jobserver-auth=R,W` (inherited pipe
//! fds; `--jobserver-fds=R,W` before make 4.2) or `--jobserver-auth=fifo:PATH` (make 4.4's
//! default). A negative pair (make 4.4's `-2,-2`) means "not for you". The last auth word
//! before the `--` word wins; words after `--` are variable definitions. Parsing and
//! formatting live in [`makeflags`] (pure).
//!
//! # Where an inherited jobserver is looked for
//!
//! `MAKEFLAGS` first (what make and ninja read). `CARGO_MAKEFLAGS` only if `MAKEFLAGS`
//! carries no auth word at all: cargo passes its jobserver to build scripts only there,
//! and an empty `CARGO_MAKEFLAGS` never hides a valid `MAKEFLAGS` (the `jobserver` crate
//! takes the first *present* variable; we do not copy that). A disabled or broken auth in
//! `MAKEFLAGS` is not overridden by `CARGO_MAKEFLAGS`: make's kill switch must win. Last,
//! goredo's `REDO_JS_FD=R,W`.
//!
//! # How this process gets its job slots ([`Jobserver::from_env`])
//!
//! 1. Explicit `-jN` on our command line: we serve a new jobserver of N slots for our
//!    subtree (N = 0: unlimited, none advertised). If a usable jobserver was inherited we
//!    say so, like make's `-jN forced in submake: resetting jobserver mode.`:
//!    `-jN forced in sub-redo: starting new jobserver`. This holds for a top-level redo
//!    run from a make recipe too (it is a "sub-make" of that make). An unusable or
//!    disabled inherited auth is ignored silently here: the user told us what to do.
//! 2. An inherited auth: validated and joined; on any failure exactly one warning in
//!    make's words and a serial run on the implicit token (make's "using -j1"). A joined
//!    jobserver wins over a stale `REDO_JOBS=NO` (a make between two redos is nearer).
//! 3. No auth, not top level, `REDO_JOBS=NO`: the parent redo runs unlimited; so do we.
//! 4. No auth, top level: serve `REDO_JOBS` slots (a number; `NO` = 0 = unlimited, as
//!    goredo; empty = unset; anything else is an error), default 1. A `-jN` found in a
//!    foreign `MAKEFLAGS` without an auth (`MAKEFLAGS=' -j2' redo`) is **not** our `-j`:
//!    goredo reads only `-j`/`REDO_JOBS`, and we match it.
//! 5. No auth, not top level (a wrapper scrubbed the variables): serial, silently, like
//!    apenwarr's t/204-makeflags requires.
//!
//! # Warnings (the CLI prints each once as `redo: warning: <text>`)
//!
//! * `jobserver unavailable: using -j1.  Add '+' to parent make rule.` — make's exact
//!   sentence, for inherited pipe fds that are negative (`-2,-2`), closed, not pipes, not
//!   the same pipe, or open in the wrong direction. make 4.4 warns on `-2,-2` too (cargo
//!   and ninja are silent); we follow make, since the remedy it names is the right one.
//! * `cannot open jobserver PATH: <strerror>; using -j1` — a `fifo:` that is missing, not a
//!   fifo (`not a named pipe (fifo)`), or unopenable. make prints its `cannot open` line
//!   followed by the "unavailable" line; we fold both into one warning.
//! * `invalid --jobserver-auth string 'X'; using -j1` (`invalid REDO_JS_FD string …` when
//!   it came from there) — make 4.4's words.
//! * `-jN forced in sub-redo: starting new jobserver` (see above).
//! * Later, from [`Jobserver::take_warnings`]: end-of-file on the jobserver (every writer
//!   gone), or a token that could not be written back.
//! * From [`Jobserver::finish`]: `exiting with N jobserver tokens available; should be M`
//!   — make's `INTERNAL: Exiting with N jobserver tokens available; should be M!` with the
//!   same numbers: N counts the tokens in the pipe **plus** our implicit one, M is `-j`.
//!   It does not change the exit status (make doesn't either).
//!
//! # Invariants
//!
//! * **Validate before touching.** Pipe fds: `F_GETFD` on both, `fstat` `S_ISFIFO` on
//!   both, same `st_dev`/`st_ino`, read end open for reading and write end for writing
//!   (`F_GETFL` access mode). `fifo:PATH`: `stat` must say FIFO *before* any open (opening
//!   some devices has side effects), then `O_RDONLY|O_NONBLOCK`, `fstat` again (the path
//!   may have been swapped), then `O_WRONLY|O_NONBLOCK`. We never read from or write to
//!   anything that failed this: a regular file named as a fifo stays byte-identical, fds
//!   0/1 named as a jobserver keep their flags (make 4.x scrambles both).
//! * **Private descriptions.** `O_NONBLOCK` lives on the open file *description*, shared by
//!   every process holding a dup of a pipe end. We never change the flags of a shared
//!   description (make <= 4.2 and other blocking readers die with `EAGAIN`). We reopen
//!   `/proc/self/fd/N` to get descriptions of our own and make only those non-blocking.
//!   Fifos are private by construction (we open the path). Without `/proc` we use the
//!   shared read description only if it is already non-blocking (every make >= 4.3 sets
//!   that); otherwise we warn and run serially rather than risk a blocking read. On a
//!   server we created, without `/proc`, we set the read end non-blocking, as make does.
//! * **Poll, then read; never block in read.** `acquire` polls our read description and
//!   the caller's interrupt fd. Readable then `EAGAIN` = another client sniped the token:
//!   poll again. `EINTR` is retried everywhere. A read of 0 = end of file = broken
//!   jobserver: warn once, then behave serially (only `Interrupted`), never spin.
//! * **Tokens are tied to bytes.** [`Token`] is neither `Clone` nor `Copy`; it holds the byte
//!   read and [`Jobserver::release`] writes exactly that byte back. Tokens we create are
//!   `+` (make's byte). This module never hands out or takes back the implicit token:
//!   the engine runs its first job without one.
//! * **Our fds are CLOEXEC and >= 10**, away from the 3–9 that shell scripts redirect.
//!   This includes what children inherit: when joining a pipe we advertise `F_DUPFD_CLOEXEC`
//!   copies (>= 10) of the inherited ends, which share the inherited descriptions, and set
//!   `FD_CLOEXEC` (an fd flag, private to us) on the inherited low numbers so that they do
//!   not leak into children under numbers nobody advertises. (Deviation from "children see
//!   the inherited numbers": a `.do` running `exec 3>log` would otherwise silently
//!   redirect every make/cargo below it to a log file.) [`Jobserver::child_fds`] lists the
//!   fds the engine must clear `FD_CLOEXEC` on in the child.
//! * **Never block on the pipe's capacity.** A server fills its `N-1` tokens with
//!   non-blocking writes after `F_SETPIPE_SZ` (enlarged to hold N bytes: N-1 tokens plus a
//!   byte of headroom). If it cannot, `from_env` fails at once with a message naming the
//!   limit and the fix. make -j70000 hangs forever here.
//! * **Never wait for end of file at exit.** [`Jobserver::finish`] counts with `FIONREAD`,
//!   which neither blocks nor consumes: a daemon started by a `.do` that still holds the
//!   write end cannot delay our exit (make's drain waits for it), and a straggler that
//!   still wants a token can still get one.
//! * **No panics on input from the environment; no `set_var`.** The environment is read
//!   only through the [`EnvGet`] the caller passes. A non-UTF-8 `MAKEFLAGS` is read lossily
//!   (make never writes one unless a variable definition holds such bytes).
//!
//! # What children get ([`Jobserver::child_env`])
//!
//! `MAKEFLAGS` keeps every foreign word of the inherited `MAKEFLAGS` (letters like `k`/`n`,
//! `-l4`, `--no-print-directory`, the ` -- VAR=value` tail) and replaces the `-j` and
//! auth words:
//!
//! | mode | `-j` word | auth | `REDO_JS_FD` | `REDO_JOBS` |
//! |---|---|---|---|---|
//! | served pipe | `-jN` | `R,W` (our fds >= 10) | `R,W` | removed |
//! | served fifo | `-jN` | `fifo:PATH` | removed | removed |
//! | joined pipe | make's `-jN` if it gave one, else bare `-j` | `R,W` (our >= 10 copies) | `R,W` | removed |
//! | joined fifo | as above | `fifo:PATH` unchanged | removed | removed |
//! | serial (broken/unusable, or none inherited below top) | `-j1` | none | removed | removed |
//! | unlimited (`-j0`) | bare `-j` (make's "unlimited") | none | removed | `NO` |
//!
//! `CARGO_MAKEFLAGS` is always set to the same string as `MAKEFLAGS` (never left stale:
//! cargo takes the first present of `CARGO_MAKEFLAGS`/`MAKEFLAGS`/`MFLAGS`). `MFLAGS` is
//! set in make's layout (dash on the letters word, no ` -- ` tail), so a stale auth there
//! cannot reach the `jobserver` crate either. `GNUMAKEFLAGS` is neither read nor
//! rewritten. The `-jN` word (not a bare `-j`) is what make 4.2 and later write; an older
//! make would start its own jobserver from it (spack #52814), a cost we accept.
//!
//! A `redo -j1` still advertises a jobserver, with 0 tokens, so that make, cargo and ninja
//! inside run one job at a time (apenwarr-like; make advertises none at `-j1`). A joined
//! fifo is passed on as it came (a make 4.3 below dies on it, exactly as under make 4.4.1
//! itself); goredo children (pipe only) then start their own. In serial mode we advertise
//! nothing: tools below run at their own `-j`, as under make's "using -j1".
//!
//! # Serving, and cleaning up
//!
//! Any jobserver we create (top level, or a nested `-jN`) is *ours*: like make's master,
//! we check its token count in [`Jobserver::finish`], after the engine has reaped every
//! child and released every token it took. A served fifo lives in `$TMPDIR` (when that is
//! an absolute path usable in a MAKEFLAGS word; else `/tmp`) as
//! `ferredo-fifo-<pid>-<random>`, mode 0600; if it cannot be created we warn and serve a
//! pipe (make does the same). `finish()` and `Drop` unlink it; the CLI gets the path from
//! [`Jobserver::cleanup_path`] ahead of time and unlinks it from its signal handlers.
//! SIGKILL leaves it behind, as with make.
//!
//! [`Jobserver`] is `Send + Sync`: `acquire`, `try_acquire` and `release` take `&self`.
//! [`Token`] has no `Drop`: a token that is dropped instead of released is lost for the
//! rest of the build (and reported by the top level's `finish`), so the engine must
//! release on every path. [`Jobserver::describe`] gives a one-line account of the mode
//! and why it was chosen, for debug output.
//!
//! # Why not the `jobserver` crate
//!
//! It validates nothing by default (`from_env` accepts `0,1` and a regular file as a fifo,
//! and corrupts the file), takes the first *present* variable so an empty
//! `CARGO_MAKEFLAGS` shadows `MAKEFLAGS`, ignores ` -- `, cannot serve a fifo, fills its
//! pipe with N bytes (not N-1) without enlarging it, and its blocking acquire cannot be
//! interrupted by our own child exits without a helper thread and `SIGUSR1`. The protocol
//! is small; with `nix`/`libc` we control every syscall.

mod client;
pub use client::to_high;
pub mod makeflags;
mod server;

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use client::{Channel, JoinError, Read};
use makeflags::{Auth, ParsedFlags};

/// Raw env lookup supplied by the caller (the engine never reads the process env itself).
pub type EnvGet<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// Style of a jobserver we create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Pipe,
    Fifo,
}

/// What this redo process was asked for.
#[derive(Clone, Debug)]
pub struct Request {
    /// `-j N` given on this process's command line (Some(0) = unlimited).
    pub explicit_jobs: Option<u32>,
    /// True when this is the top-level redo (no REDO_BUILD_UUID in env).
    pub top_level: bool,
    /// Style to serve when we create a jobserver (from --jobserver-style / REDO_JOBSERVER_STYLE).
    pub style: Style,
}

/// A warning for the user; the CLI prints it once, prefixed `redo: warning: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// make's sentence for an unusable inherited jobserver.
pub const UNAVAILABLE: &str = "jobserver unavailable: using -j1.  Add '+' to parent make rule.";

/// One acquired token: the byte we read (written back verbatim on release).
#[derive(Debug)]
#[must_use = "a token must be given back with Jobserver::release"]
pub struct Token {
    byte: u8,
    /// False for the dummy tokens of unlimited mode.
    real: bool,
}

impl Token {
    /// The byte read from the jobserver (goredo passes it to children as `REDO_JS_TOKEN`).
    pub fn byte(&self) -> u8 {
        self.byte
    }
}

/// Result of [`Jobserver::acquire`].
#[derive(Debug)]
pub enum Acquired {
    Token(Token),
    /// The interrupt fd became readable (or the jobserver broke): nothing was taken.
    Interrupted,
}

/// How children find the jobserver.
#[derive(Debug)]
enum Advert {
    /// Shared pipe ends (>= 10, CLOEXEC in us); children see these numbers.
    Pipe { r: OwnedFd, w: OwnedFd },
    /// The `fifo:PATH` value (without `--jobserver-auth=`).
    Fifo(String),
}

/// A jobserver we created.
#[derive(Debug)]
struct Owner {
    slots: u32,
    fifo: Option<PathBuf>,
    fifo_removed: AtomicBool,
}

#[derive(Debug)]
struct Active {
    chan: Channel,
    advert: Advert,
    /// `-j` word for children: Some(Some(n)) or Some(None) for a bare `-j`.
    jobs_word: Option<Option<u32>>,
    owner: Option<Owner>,
}

#[derive(Debug)]
enum Mode {
    /// No limit (`-j0` / `REDO_JOBS=NO`): dummy tokens, nothing advertised.
    Unlimited,
    /// Implicit token only.
    Serial,
    Active(Active),
}

/// This process's job slots: a joined or served jobserver, serial, or unlimited.
#[derive(Debug)]
pub struct Jobserver {
    mode: Mode,
    /// The inherited `MAKEFLAGS`, parsed: its foreign words are re-exported to children.
    base: ParsedFlags,
    /// How the mode was chosen, for [`Jobserver::describe`].
    note: String,
    broken: AtomicBool,
    warnings: Mutex<Vec<Warning>>,
}

/// Where the inherited auth came from.
struct Source {
    var: &'static str,
    /// The auth value as written, for diagnostics.
    text: String,
    auth: Auth,
    jobs: Option<Option<u32>>,
}

fn lossy(v: Option<OsString>) -> Option<String> {
    v.map(|v| v.to_string_lossy().into_owned())
}

fn find_source(base: &ParsedFlags, env: EnvGet<'_>) -> Option<Source> {
    if base.auth.is_present() {
        return Some(Source {
            var: "MAKEFLAGS",
            text: base.auth_word.clone().unwrap_or_default(),
            auth: base.auth.clone(),
            jobs: base.jobs,
        });
    }
    if let Some(c) = lossy(env("CARGO_MAKEFLAGS")) {
        let p = makeflags::parse(&c);
        if p.auth.is_present() {
            return Some(Source {
                var: "CARGO_MAKEFLAGS",
                text: p.auth_word.unwrap_or_default(),
                auth: p.auth,
                jobs: p.jobs,
            });
        }
    }
    match lossy(env("REDO_JS_FD")) {
        Some(v) if !v.trim().is_empty() => Some(Source {
            var: "REDO_JS_FD",
            text: v.trim().to_string(),
            auth: makeflags::parse_auth_value(v.trim()),
            jobs: None,
        }),
        _ => None,
    }
}

/// `REDO_JOBS` for a top-level server: None/"" → 1, "NO" → 0, a number, else an error.
fn redo_jobs(v: Option<String>) -> io::Result<u32> {
    let Some(v) = v else { return Ok(1) };
    let t = v.trim();
    if t.is_empty() {
        return Ok(1);
    }
    if t == "NO" {
        return Ok(0);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = t.parse::<u32>() {
            return Ok(n);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "REDO_JOBS={v:?} is not a number of jobs (use a non-negative integer, 0 for unlimited)"
        ),
    ))
}

/// `$TMPDIR` if it is usable in a `fifo:PATH` auth word (absolute, UTF-8, no blanks or
/// backslashes that would split or escape the MAKEFLAGS word), else `/tmp`.
fn fifo_dir(env: EnvGet<'_>) -> PathBuf {
    if let Some(t) = env("TMPDIR") {
        if let Some(s) = t.to_str() {
            if s.starts_with('/') && !s.contains([' ', '\t', '\n', '\\']) {
                return PathBuf::from(s);
            }
        }
    }
    PathBuf::from("/tmp")
}

impl Jobserver {
    fn new(mode: Mode, base: ParsedFlags, note: String) -> Jobserver {
        Jobserver {
            mode,
            base,
            note,
            broken: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Decide how this process gets job slots (see the module docs). Never fails for a
    /// broken inherited jobserver (warning + serial). Fails for a server that cannot be
    /// created (e.g. too many tokens for a pipe) or an invalid `REDO_JOBS`.
    pub fn from_env(env: EnvGet<'_>, req: &Request) -> io::Result<(Jobserver, Vec<Warning>)> {
        let base = makeflags::parse(&lossy(env("MAKEFLAGS")).unwrap_or_default());
        let source = find_source(&base, env);
        let mut warnings = Vec::new();

        if let Some(n) = req.explicit_jobs {
            if let Some(src) = &source {
                if join(&src.auth).is_ok() {
                    warnings.push(Warning(if n == 0 {
                        "-j0 forced in sub-redo: leaving the jobserver, running unlimited"
                            .to_string()
                    } else {
                        format!("-j{n} forced in sub-redo: starting new jobserver")
                    }));
                }
            }
            let js = Self::serve(n, req.style, env, base, &mut warnings, "-j")?;
            return Ok((js, warnings));
        }

        if let Some(src) = source {
            let (mode, note) = match join(&src.auth) {
                Ok((chan, advert)) => {
                    let note = format!(
                        "joined the jobserver from {} ({}; private fds {},{})",
                        src.var,
                        src.text,
                        chan.read.as_raw_fd(),
                        chan.write.as_raw_fd()
                    );
                    let mode = Mode::Active(Active {
                        chan,
                        advert,
                        jobs_word: match src.jobs {
                            Some(Some(n)) if n > 0 => Some(Some(n)),
                            _ => Some(None),
                        },
                        owner: None,
                    });
                    (mode, note)
                }
                Err(e) => {
                    let note = format!(
                        "serial: jobserver from {} ({}) unusable: {e}",
                        src.var, src.text
                    );
                    warnings.push(join_warning(&src, e));
                    (Mode::Serial, note)
                }
            };
            return Ok((Jobserver::new(mode, base, note), warnings));
        }

        let jobs_env = lossy(env("REDO_JOBS"));
        if !req.top_level {
            let (mode, note) = if jobs_env.as_deref().map(str::trim) == Some("NO") {
                (
                    Mode::Unlimited,
                    "unlimited: REDO_JOBS=NO from the parent redo",
                )
            } else {
                (
                    Mode::Serial,
                    "serial: no jobserver inherited below the top level",
                )
            };
            return Ok((Jobserver::new(mode, base, note.to_string()), warnings));
        }
        let n = redo_jobs(jobs_env)?;
        let js = Self::serve(n, req.style, env, base, &mut warnings, "REDO_JOBS/default")?;
        Ok((js, warnings))
    }

    fn serve(
        n: u32,
        style: Style,
        env: EnvGet<'_>,
        base: ParsedFlags,
        warnings: &mut Vec<Warning>,
        why: &str,
    ) -> io::Result<Jobserver> {
        if n == 0 {
            return Ok(Jobserver::new(
                Mode::Unlimited,
                base,
                format!("unlimited: {why} 0"),
            ));
        }
        let served = match style {
            Style::Pipe => server::serve_pipe(n)?,
            Style::Fifo => {
                let dir = fifo_dir(env);
                match server::serve_fifo(n, &dir) {
                    Ok(s) => s,
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
                    Err(e) => {
                        warnings.push(Warning(format!(
                            "cannot create jobserver fifo in {}: {}; using a pipe",
                            dir.display(),
                            client::strerror(&e)
                        )));
                        server::serve_pipe(n)?
                    }
                }
            }
        };
        let advert = match (served.pipe, &served.fifo) {
            (Some((r, w)), _) => Advert::Pipe { r, w },
            (None, Some(p)) => Advert::Fifo(format!("fifo:{}", p.display())),
            (None, None) => return Err(io::Error::other("jobserver server without an advert")),
        };
        let note = format!(
            "serving -j{n} ({why}): {} holding {} tokens; private fds {},{}",
            match &advert {
                Advert::Pipe { r, w } => format!("pipe {},{}", r.as_raw_fd(), w.as_raw_fd()),
                Advert::Fifo(f) => f.clone(),
            },
            n - 1,
            served.chan.read.as_raw_fd(),
            served.chan.write.as_raw_fd()
        );
        Ok(Jobserver::new(
            Mode::Active(Active {
                chan: served.chan,
                advert,
                jobs_word: Some(Some(n)),
                owner: Some(Owner {
                    slots: n,
                    fifo: served.fifo,
                    fifo_removed: AtomicBool::new(false),
                }),
            }),
            base,
            note,
        ))
    }

    fn active(&self) -> Option<&Active> {
        match &self.mode {
            Mode::Active(a) if !self.broken.load(Ordering::SeqCst) => Some(a),
            _ => None,
        }
    }

    /// Total slots if known (N for a server we made or a joined make whose MAKEFLAGS has
    /// -jN; 1 when serial), None if unlimited/unknown.
    pub fn slots(&self) -> Option<u32> {
        match &self.mode {
            Mode::Unlimited => None,
            Mode::Serial => Some(1),
            Mode::Active(_) if self.broken.load(Ordering::SeqCst) => Some(1),
            Mode::Active(a) => match &a.owner {
                Some(o) => Some(o.slots),
                None => a.jobs_word.flatten(),
            },
        }
    }

    /// One line saying how this process gets its slots and why (for `-d` debug output).
    pub fn describe(&self) -> String {
        if self.broken.load(Ordering::SeqCst) {
            format!("{} [broken: end of file; now serial]", self.note)
        } else {
            self.note.clone()
        }
    }

    pub fn is_unlimited(&self) -> bool {
        matches!(self.mode, Mode::Unlimited)
    }

    /// Non-blocking: Some(token) if one could be taken now. Unlimited mode always returns
    /// a dummy token; serial mode never returns one.
    pub fn try_acquire(&self) -> io::Result<Option<Token>> {
        if self.is_unlimited() {
            return Ok(Some(Token {
                byte: b'+',
                real: false,
            }));
        }
        let Some(a) = self.active() else {
            return Ok(None);
        };
        match a.chan.try_read()? {
            Read::Byte(byte) => Ok(Some(Token { byte, real: true })),
            Read::Empty => Ok(None),
            Read::Eof => {
                self.mark_broken();
                Ok(None)
            }
        }
    }

    /// Block until a token is read OR `interrupt` becomes readable (the caller's
    /// self-pipe). An interrupt that is already readable wins over an available token
    /// (the caller has a slot of its own to reuse). `EAGAIN` after a readable poll means
    /// another client took the token first: poll again. End of file on the jobserver:
    /// warning (see [`Self::take_warnings`]), `Interrupted`, and from then on only
    /// `Interrupted` (after waiting for the interrupt fd). The interrupt fd is not drained.
    pub fn acquire(&self, interrupt: BorrowedFd<'_>) -> io::Result<Acquired> {
        if self.is_unlimited() {
            return Ok(Acquired::Token(Token {
                byte: b'+',
                real: false,
            }));
        }
        let Some(a) = self.active() else {
            return wait_readable(interrupt).map(|()| Acquired::Interrupted);
        };
        loop {
            let mut fds = [
                PollFd::new(interrupt, PollFlags::POLLIN),
                PollFd::new(a.chan.read.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let irev = fds[0].revents().unwrap_or(PollFlags::empty());
            if irev.contains(PollFlags::POLLNVAL) {
                return Err(Errno::EBADF.into());
            }
            if !irev.is_empty() {
                return Ok(Acquired::Interrupted);
            }
            if fds[1].revents().unwrap_or(PollFlags::empty()).is_empty() {
                continue;
            }
            #[cfg(test)]
            a.chan.after_poll();
            match a.chan.try_read()? {
                Read::Byte(byte) => return Ok(Acquired::Token(Token { byte, real: true })),
                Read::Empty => continue,
                Read::Eof => {
                    self.mark_broken();
                    return Ok(Acquired::Interrupted);
                }
            }
        }
    }

    fn mark_broken(&self) {
        if !self.broken.swap(true, Ordering::SeqCst) {
            self.warn(
                "jobserver unavailable: end of file on the jobserver (all writers closed); \
                 continuing with -j1"
                    .to_string(),
            );
        }
    }

    fn warn(&self, w: String) {
        if let Ok(mut v) = self.warnings.lock() {
            v.push(Warning(w));
        }
    }

    /// Write the token's byte back (no-op for unlimited dummy tokens). Retries
    /// `EINTR`/`EAGAIN` (polling for writability). A failure becomes a warning.
    pub fn release(&self, token: Token) {
        if !token.real {
            return;
        }
        // Even after end of file, try: the token belongs to the pool.
        if let Mode::Active(a) = &self.mode {
            if let Err(e) = a.chan.write_byte(token.byte) {
                self.warn(format!(
                    "jobserver: cannot give a token back: {}",
                    client::strerror(&e)
                ));
            }
        }
    }

    /// Warnings that arose after `from_env` (e.g. end of file on the pipe). Drained.
    pub fn take_warnings(&self) -> Vec<Warning> {
        match self.warnings.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }

    /// Environment for every `.do` child: `(name, Some(value))` to set, `(name, None)` to
    /// remove. Covers MAKEFLAGS, CARGO_MAKEFLAGS, MFLAGS, REDO_JS_FD, REDO_JOBS.
    pub fn child_env(&self) -> Vec<(String, Option<String>)> {
        let (jobs, auth, js_fd): (_, Option<String>, Option<String>) =
            match (&self.mode, self.active()) {
                (Mode::Unlimited, _) => (Some(None), None, None),
                (_, Some(a)) => match &a.advert {
                    Advert::Pipe { r, w } => {
                        let rw = format!("{},{}", r.as_raw_fd(), w.as_raw_fd());
                        (a.jobs_word, Some(rw.clone()), Some(rw))
                    }
                    Advert::Fifo(f) => (a.jobs_word, Some(f.clone()), None),
                },
                _ => (Some(Some(1)), None, None),
            };
        let mf = makeflags::format(&self.base, jobs, auth.as_deref());
        let mflags = makeflags::format_mflags(&self.base, jobs, auth.as_deref());
        vec![
            ("MAKEFLAGS".to_string(), Some(mf.clone())),
            ("CARGO_MAKEFLAGS".to_string(), Some(mf)),
            ("MFLAGS".to_string(), Some(mflags)),
            ("REDO_JS_FD".to_string(), js_fd),
            (
                "REDO_JOBS".to_string(),
                self.is_unlimited().then(|| "NO".to_string()),
            ),
        ]
    }

    /// fds the child must inherit (the caller clears `FD_CLOEXEC` on them in the child).
    pub fn child_fds(&self) -> Vec<RawFd> {
        match self.active().map(|a| &a.advert) {
            Some(Advert::Pipe { r, w }) => vec![r.as_raw_fd(), w.as_raw_fd()],
            _ => Vec::new(),
        }
    }

    /// After every child is reaped: for a jobserver we created (top level, or a nested
    /// `-jN`), count the tokens without waiting for end of file (`FIONREAD`), remove our
    /// fifo, and return make's leak warning if the count is not N-1. Joined, serial and
    /// unlimited: None.
    pub fn finish(self) -> Option<Warning> {
        let Mode::Active(a) = &self.mode else {
            return None;
        };
        let owner = a.owner.as_ref()?;
        let counted = a.chan.available();
        self.remove_fifo();
        let expected = u64::from(owner.slots.saturating_sub(1));
        match counted {
            Ok(c) if c == expected => None,
            Ok(c) => Some(Warning(format!(
                "exiting with {} jobserver tokens available; should be {}",
                c + 1,
                owner.slots
            ))),
            Err(e) => Some(Warning(format!(
                "jobserver: cannot count tokens at exit: {}",
                client::strerror(&e)
            ))),
        }
    }

    /// The fifo we serve, if any: the CLI keeps it (e.g. as a `CString`) and unlinks it
    /// from its SIGINT/SIGTERM/SIGHUP handler. `finish()` and `Drop` remove it on the
    /// normal paths; this method removes nothing itself.
    pub fn cleanup_path(&self) -> Option<PathBuf> {
        match &self.mode {
            Mode::Active(Active { owner: Some(o), .. }) => o.fifo.clone(),
            _ => None,
        }
    }

    fn remove_fifo(&self) {
        if let Mode::Active(Active { owner: Some(o), .. }) = &self.mode {
            if let Some(p) = &o.fifo {
                if !o.fifo_removed.swap(true, Ordering::SeqCst) {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
}

impl Drop for Jobserver {
    fn drop(&mut self) {
        self.remove_fifo();
    }
}

/// Block until `fd` is readable (or hung up). `EINTR` is retried.
fn wait_readable(fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let rev = fds[0].revents().unwrap_or(PollFlags::empty());
                if rev.contains(PollFlags::POLLNVAL) {
                    return Err(Errno::EBADF.into());
                }
                if !rev.is_empty() {
                    return Ok(());
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Join a pipe or fifo auth.
fn join(auth: &Auth) -> Result<(Channel, Advert), JoinError> {
    match auth {
        Auth::Pipe(r, w) => {
            let j = client::join_pipe(*r, *w)?;
            Ok((
                j.chan,
                Advert::Pipe {
                    r: j.adv_r,
                    w: j.adv_w,
                },
            ))
        }
        Auth::Fifo(p) => {
            let chan = client::join_fifo(p)?;
            Ok((chan, Advert::Fifo(format!("fifo:{}", p.display()))))
        }
        Auth::Disabled(r, w) => Err(JoinError::Unusable(format!("disabled ({r},{w})"))),
        Auth::Invalid(s) => Err(JoinError::Unusable(format!("invalid '{s}'"))),
        Auth::None => Err(JoinError::Unusable("no jobserver".to_string())),
    }
}

fn join_warning(src: &Source, e: JoinError) -> Warning {
    Warning(match (&src.auth, e) {
        (Auth::Invalid(s), _) => {
            let what = if src.var == "REDO_JS_FD" {
                "REDO_JS_FD"
            } else {
                "--jobserver-auth"
            };
            format!("invalid {what} string '{s}'; using -j1")
        }
        (_, JoinError::CannotOpen { path, err }) => {
            format!("cannot open jobserver {path}: {err}; using -j1")
        }
        (_, JoinError::NoPrivateDescription(d)) => format!("jobserver unavailable: {d}; using -j1"),
        (_, JoinError::Unusable(_)) => UNAVAILABLE.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::{Seek, Write};
    use std::time::{Duration, Instant};

    type Env = HashMap<String, OsString>;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect()
    }

    fn start(e: &Env, jobs: Option<u32>, top: bool) -> io::Result<(Jobserver, Vec<Warning>)> {
        start_style(e, jobs, top, Style::Pipe)
    }

    fn start_style(
        e: &Env,
        jobs: Option<u32>,
        top: bool,
        style: Style,
    ) -> io::Result<(Jobserver, Vec<Warning>)> {
        let get = |k: &str| e.get(k).cloned();
        Jobserver::from_env(
            &get,
            &Request {
                explicit_jobs: jobs,
                top_level: top,
                style,
            },
        )
    }

    fn ok(e: &Env, jobs: Option<u32>, top: bool) -> Jobserver {
        let (js, w) = start(e, jobs, top).unwrap();
        assert!(w.is_empty(), "unexpected warnings {w:?}");
        js
    }

    fn cenv(js: &Jobserver) -> HashMap<String, Option<String>> {
        js.child_env().into_iter().collect()
    }

    fn mf(js: &Jobserver) -> String {
        cenv(js)["MAKEFLAGS"].clone().unwrap()
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
    }

    fn inode(fd: RawFd) -> client::Ino {
        client::ino(&client::fstat_raw(fd).unwrap())
    }

    /// A foreign jobserver pipe holding `tokens`, inheritable (no CLOEXEC) like one
    /// handed down by make.
    fn foreign(tokens: &[u8]) -> (OwnedFd, OwnedFd) {
        let (r, w) = pipe();
        for fd in [&r, &w] {
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
        }
        if !tokens.is_empty() {
            nix::unistd::write(&w, tokens).unwrap();
        }
        (r, w)
    }

    fn auth(r: &OwnedFd, w: &OwnedFd) -> String {
        format!("--jobserver-auth={},{}", r.as_raw_fd(), w.as_raw_fd())
    }

    fn take(js: &Jobserver) -> Token {
        js.try_acquire().unwrap().expect("a token")
    }

    /// Drain a pipe's read end (non-blocking private reopen) into a Vec.
    fn drain(r: &OwnedFd) -> Vec<u8> {
        let (_, w2) = pipe();
        let id = inode(r.as_raw_fd());
        let path = format!("/proc/self/fd/{}", r.as_raw_fd());
        let fd = client::open_high(Path::new(&path), libc::O_RDONLY | libc::O_NONBLOCK).unwrap();
        assert_eq!(inode(fd.as_raw_fd()), id);
        drop(w2);
        let mut out = Vec::new();
        let mut b = [0u8; 256];
        while let Ok(n @ 1..) = nix::unistd::read(&fd, &mut b) {
            out.extend_from_slice(&b[..n]);
        }
        out
    }

    fn assert_serial_env(js: &Jobserver) {
        let c = cenv(js);
        let m = c["MAKEFLAGS"].clone().unwrap();
        assert!(!m.contains("jobserver"), "{m}");
        assert!(m.contains("-j1"), "{m}");
        assert_eq!(c["CARGO_MAKEFLAGS"].as_deref(), Some(m.as_str()));
        assert!(!c["MFLAGS"].clone().unwrap().contains("jobserver"));
        assert_eq!(c["REDO_JS_FD"], None);
        assert!(js.child_fds().is_empty());
        assert_eq!(js.slots(), Some(1));
    }

    use std::path::Path;

    /// Run a test body that could hang if the code under test is wrong (a blocking
    /// acquire): fail after 20 s instead of hanging the test run.
    fn timed(f: fn()) {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(()) => h.join().unwrap(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("timed out: hang"),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(p) = h.join() {
                    std::panic::resume_unwind(p)
                }
            }
        }
    }

    #[test]
    fn jobserver_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Jobserver>();
        check::<Token>();
    }

    // ---- serving ----------------------------------------------------------------------

    #[test]
    fn top_level_serves_n_minus_1_tokens_and_advertises_them() {
        let js = ok(&env(&[("MAKEFLAGS", "k -j9 -- X=1")]), Some(3), true);
        assert_eq!(js.slots(), Some(3));
        assert!(!js.is_unlimited());
        assert!(
            js.describe().starts_with("serving -j3 (-j): pipe "),
            "{}",
            js.describe()
        );
        let fds = js.child_fds();
        assert_eq!(fds.len(), 2);
        for fd in &fds {
            assert!(*fd >= 10);
            assert_ne!(client::getfd(*fd).unwrap() & libc::FD_CLOEXEC, 0);
        }
        assert_eq!(inode(fds[0]), inode(fds[1]));
        assert_eq!(
            client::getfl(fds[0]).unwrap() & libc::O_ACCMODE,
            libc::O_RDONLY
        );
        assert_eq!(
            client::getfl(fds[1]).unwrap() & libc::O_ACCMODE,
            libc::O_WRONLY
        );
        let rw = format!("{},{}", fds[0], fds[1]);
        let c = cenv(&js);
        assert_eq!(
            c["MAKEFLAGS"].as_deref(),
            Some(&*format!("k -j3 --jobserver-auth={rw} -- X=1"))
        );
        assert_eq!(c["CARGO_MAKEFLAGS"], c["MAKEFLAGS"]);
        assert_eq!(
            c["MFLAGS"].as_deref(),
            Some(&*format!("-k -j3 --jobserver-auth={rw}"))
        );
        assert_eq!(c["REDO_JS_FD"].as_deref(), Some(rw.as_str()));
        assert_eq!(c["REDO_JOBS"], None);
        let (a, b) = (take(&js), take(&js));
        assert_eq!((a.byte(), b.byte()), (b'+', b'+'));
        assert!(js.try_acquire().unwrap().is_none());
        js.release(a);
        js.release(b);
        assert_eq!(js.cleanup_path(), None);
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn default_is_one_slot_with_a_zero_token_jobserver() {
        let js = ok(&env(&[]), None, true);
        assert_eq!(js.slots(), Some(1));
        assert!(js.try_acquire().unwrap().is_none());
        let m = mf(&js);
        assert!(m.starts_with(" -j1 --jobserver-auth="), "{m}");
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn redo_jobs_at_top_level() {
        assert_eq!(ok(&env(&[("REDO_JOBS", "4")]), None, true).slots(), Some(4));
        assert_eq!(ok(&env(&[("REDO_JOBS", "")]), None, true).slots(), Some(1));
        assert!(ok(&env(&[("REDO_JOBS", "0")]), None, true).is_unlimited());
        assert!(ok(&env(&[("REDO_JOBS", "NO")]), None, true).is_unlimited());
        // Explicit -j beats REDO_JOBS.
        assert_eq!(
            ok(&env(&[("REDO_JOBS", "4")]), Some(2), true).slots(),
            Some(2)
        );
        for bad in ["abc", "-1", "4x", "99999999999"] {
            let e = start(&env(&[("REDO_JOBS", bad)]), None, true).unwrap_err();
            assert!(e.to_string().contains("REDO_JOBS"), "{e}");
        }
        // A foreign -jN without an auth is not our -j (goredo reads only -j/REDO_JOBS).
        let js = ok(&env(&[("MAKEFLAGS", " -j2")]), None, true);
        assert_eq!(js.slots(), Some(1));
        assert!(mf(&js).starts_with(" -j1 --jobserver-auth="));
    }

    #[test]
    fn finish_reports_lost_and_extra_tokens_in_makes_words() {
        let js = ok(&env(&[]), Some(3), true);
        let lost = take(&js);
        drop(lost); // never released, as by a client that crashed holding it
        assert_eq!(
            js.finish(),
            Some(Warning(
                "exiting with 2 jobserver tokens available; should be 3".into()
            ))
        );
        let js = ok(&env(&[]), Some(2), true);
        let w = js.child_fds()[1];
        nix::unistd::write(unsafe { BorrowedFd::borrow_raw(w) }, b"+").unwrap();
        assert_eq!(
            js.finish(),
            Some(Warning(
                "exiting with 3 jobserver tokens available; should be 2".into()
            ))
        );
    }

    #[test]
    fn finish_does_not_wait_for_a_writer_that_outlives_us() {
        let js = ok(&env(&[]), Some(4), true);
        // A "daemon" keeps a copy of the write end (and of the read end) open.
        let daemon =
            client::dup_high(unsafe { BorrowedFd::borrow_raw(js.child_fds()[1]) }).unwrap();
        let t = Instant::now();
        assert_eq!(js.finish(), None);
        assert!(t.elapsed() < Duration::from_secs(1));
        drop(daemon);
    }

    #[test]
    fn unlimited_advertises_nothing_and_hands_out_dummies() {
        timed(unlimited_advertises_nothing_and_hands_out_dummies_body)
    }

    fn unlimited_advertises_nothing_and_hands_out_dummies_body() {
        let js = ok(
            &env(&[("MAKEFLAGS", "k -j3 --jobserver-auth=-2,-2")]),
            Some(0),
            true,
        );
        assert!(js.is_unlimited());
        assert_eq!(js.slots(), None);
        let t = take(&js);
        js.release(t);
        let (ir, _iw) = pipe();
        assert!(matches!(
            js.acquire(ir.as_fd()).unwrap(),
            Acquired::Token(_)
        ));
        let c = cenv(&js);
        assert_eq!(c["MAKEFLAGS"].as_deref(), Some("k -j"));
        assert_eq!(c["CARGO_MAKEFLAGS"].as_deref(), Some("k -j"));
        assert_eq!(c["MFLAGS"].as_deref(), Some("-k -j"));
        assert_eq!(c["REDO_JOBS"].as_deref(), Some("NO"));
        assert_eq!(c["REDO_JS_FD"], None);
        assert!(js.child_fds().is_empty());
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn redo_jobs_no_below_top_level_is_unlimited_unless_a_jobserver_is_inherited() {
        let js = ok(
            &env(&[("REDO_JOBS", "NO"), ("MAKEFLAGS", " -j")]),
            None,
            false,
        );
        assert!(js.is_unlimited());
        let (r, w) = foreign(b"+");
        let e = env(&[
            ("REDO_JOBS", "NO"),
            ("MAKEFLAGS", &format!(" -j2 {}", auth(&r, &w))),
        ]);
        let js = ok(&e, None, false);
        assert!(!js.is_unlimited());
        assert_eq!(cenv(&js)["REDO_JOBS"], None);
    }

    #[test]
    fn below_top_level_without_any_jobserver_is_silently_serial() {
        timed(below_top_level_without_any_jobserver_is_silently_serial_body)
    }

    fn below_top_level_without_any_jobserver_is_silently_serial_body() {
        let js = ok(&env(&[("REDO_JOBS", "8"), ("MAKEFLAGS", "s")]), None, false);
        assert_serial_env(&js);
        assert_eq!(mf(&js), "s -j1");
        assert!(js.try_acquire().unwrap().is_none());
        // Serial acquire waits for the interrupt; it does not return at once.
        let (ir, iw) = pipe();
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(60));
                nix::unistd::write(&iw, b"x").unwrap();
            });
            assert!(matches!(
                js.acquire(ir.as_fd()).unwrap(),
                Acquired::Interrupted
            ));
        });
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn fifo_style_serves_a_0600_fifo_in_tmpdir_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().to_str().unwrap();
        let e = env(&[("TMPDIR", tmp)]);
        let (js, w) = start_style(&e, Some(3), true, Style::Fifo).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let path = js.cleanup_path().unwrap();
        assert_eq!(path.parent().unwrap(), dir.path());
        assert!(js.child_fds().is_empty());
        let c = cenv(&js);
        assert_eq!(
            c["MAKEFLAGS"].as_deref(),
            Some(&*format!(" -j3 --jobserver-auth=fifo:{}", path.display()))
        );
        assert_eq!(c["REDO_JS_FD"], None);
        // A child joins through the path and shares the tokens.
        let child = ok(
            &env(&[("MAKEFLAGS", c["MAKEFLAGS"].as_deref().unwrap())]),
            None,
            false,
        );
        assert_eq!(child.slots(), Some(3));
        assert_eq!(cenv(&child)["MAKEFLAGS"], c["MAKEFLAGS"]);
        assert_eq!(child.cleanup_path(), None);
        let (a, b) = (take(&child), take(&js));
        assert!(child.try_acquire().unwrap().is_none());
        child.release(a);
        js.release(b);
        assert_eq!(child.finish(), None);
        assert!(path.exists());
        assert_eq!(js.finish(), None);
        assert!(!path.exists());
        // Drop removes it too.
        let (js, _) = start_style(&e, Some(2), true, Style::Fifo).unwrap();
        let path = js.cleanup_path().unwrap();
        assert!(path.exists());
        drop(js);
        assert!(!path.exists());
    }

    #[test]
    fn fifo_style_falls_back_to_a_pipe_when_tmpdir_is_unusable() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = env(&[("TMPDIR", missing.to_str().unwrap())]);
        let (js, w) = start_style(&e, Some(2), true, Style::Fifo).unwrap();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].0.starts_with("cannot create jobserver fifo in "),
            "{w:?}"
        );
        assert_eq!(js.child_fds().len(), 2);
        assert_eq!(js.cleanup_path(), None);
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn huge_j_works_or_fails_fast_never_hangs() {
        for n in [70_000u32, 200_000] {
            let t = Instant::now();
            match start(&env(&[]), Some(n), true) {
                Ok((js, _)) => {
                    assert_eq!(js.slots(), Some(n));
                    assert_eq!(js.finish(), None);
                }
                Err(e) => assert!(e.to_string().contains("pipe"), "{e}"),
            }
            assert!(t.elapsed() < Duration::from_secs(5));
        }
        let e = start(&env(&[]), Some(u32::MAX), true).unwrap_err();
        assert!(e.to_string().contains(&format!("-j{}", u32::MAX)), "{e}");
    }

    // ---- joining a pipe -------------------------------------------------------------

    #[test]
    fn joined_pipe_round_trips_the_same_byte_and_re_exports_foreign_flags() {
        let (r, w) = foreign(b"x");
        let (fr, fw) = (
            client::getfl(r.as_raw_fd()).unwrap(),
            client::getfl(w.as_raw_fd()).unwrap(),
        );
        let e = env(&[(
            "MAKEFLAGS",
            &format!(
                "k -j4 {} --jobserver-auth=-2,-2 {} -l3 -- V=--jobserver-auth=7,8",
                auth(&w, &r),
                auth(&r, &w)
            ),
        )]);
        let js = ok(&e, None, false);
        assert_eq!(js.slots(), Some(4));
        let t = take(&js);
        assert_eq!(t.byte(), b'x');
        assert!(js.try_acquire().unwrap().is_none());
        js.release(t);
        assert_eq!(drain(&r), b"x");
        // Children get our >= 10 copies of the same pipe; foreign words are kept.
        let fds = js.child_fds();
        assert!(fds.iter().all(|fd| *fd >= 10));
        assert_eq!(inode(fds[0]), inode(r.as_raw_fd()));
        assert_eq!(inode(fds[1]), inode(r.as_raw_fd()));
        let rw = format!("{},{}", fds[0], fds[1]);
        let c = cenv(&js);
        assert_eq!(
            c["MAKEFLAGS"].as_deref(),
            Some(&*format!(
                "k -j4 -l3 --jobserver-auth={rw} -- V=--jobserver-auth=7,8"
            ))
        );
        assert_eq!(c["CARGO_MAKEFLAGS"], c["MAKEFLAGS"]);
        assert_eq!(c["REDO_JS_FD"].as_deref(), Some(rw.as_str()));
        // The inherited descriptions' flags are untouched; the inherited fds are CLOEXEC.
        assert_eq!(client::getfl(r.as_raw_fd()).unwrap(), fr);
        assert_eq!(client::getfl(w.as_raw_fd()).unwrap(), fw);
        assert_ne!(client::getfd(r.as_raw_fd()).unwrap() & libc::FD_CLOEXEC, 0);
        // Joined: no leak check of our own.
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn joined_pipe_without_minus_j_advertises_bare_j() {
        let (r, w) = foreign(b"");
        let js = ok(
            &env(&[("MAKEFLAGS", &format!(" {}", auth(&r, &w)))]),
            None,
            true,
        );
        assert_eq!(js.slots(), None);
        assert!(mf(&js).starts_with(" -j --jobserver-auth="), "{}", mf(&js));
    }

    #[test]
    fn foreign_nonblocking_pipe_works_and_keeps_its_flags() {
        timed(foreign_nonblocking_pipe_works_and_keeps_its_flags_body)
    }

    fn foreign_nonblocking_pipe_works_and_keeps_its_flags_body() {
        let (r, w) = foreign(b"");
        let fl = client::getfl(r.as_raw_fd()).unwrap();
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) };
        let fl = client::getfl(r.as_raw_fd()).unwrap();
        let js = ok(
            &env(&[("MAKEFLAGS", &format!(" -j2 {}", auth(&r, &w)))]),
            None,
            false,
        );
        let (ir, _iw) = pipe();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                nix::unistd::write(&w, b"m").unwrap();
            });
            match js.acquire(ir.as_fd()).unwrap() {
                Acquired::Token(t) => {
                    assert_eq!(t.byte(), b'm');
                    js.release(t);
                }
                Acquired::Interrupted => panic!("interrupted"),
            }
        });
        assert_eq!(client::getfl(r.as_raw_fd()).unwrap(), fl);
        assert_eq!(drain(&r), b"m");
    }

    #[test]
    fn blocking_inherited_pipe_stays_blocking() {
        timed(blocking_inherited_pipe_stays_blocking_body)
    }

    fn blocking_inherited_pipe_stays_blocking_body() {
        let (r, w) = foreign(b"++");
        let js = ok(
            &env(&[("MAKEFLAGS", &format!(" -j3 {}", auth(&r, &w)))]),
            None,
            false,
        );
        let (ir, _iw) = pipe();
        let t1 = match js.acquire(ir.as_fd()).unwrap() {
            Acquired::Token(t) => t,
            Acquired::Interrupted => panic!(),
        };
        let t2 = take(&js);
        js.release(t1);
        js.release(t2);
        assert_eq!(client::getfl(r.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
        assert_eq!(client::getfl(w.as_raw_fd()).unwrap() & libc::O_NONBLOCK, 0);
        assert_eq!(drain(&r), b"++");
    }

    #[test]
    fn acquire_is_interrupted_by_the_callers_fd_and_the_interrupt_wins() {
        timed(acquire_is_interrupted_by_the_callers_fd_and_the_interrupt_wins_body)
    }

    fn acquire_is_interrupted_by_the_callers_fd_and_the_interrupt_wins_body() {
        let (r, w) = foreign(b"");
        let js = ok(
            &env(&[("MAKEFLAGS", &format!(" -j2 {}", auth(&r, &w)))]),
            None,
            false,
        );
        let (ir, iw) = pipe();
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(60));
                nix::unistd::write(&iw, b"!").unwrap();
            });
            assert!(matches!(
                js.acquire(ir.as_fd()).unwrap(),
                Acquired::Interrupted
            ));
        });
        assert!(t.elapsed() >= Duration::from_millis(50));
        // Interrupt readable and a token available: the interrupt wins, the token stays.
        nix::unistd::write(&w, b"+").unwrap();
        assert!(matches!(
            js.acquire(ir.as_fd()).unwrap(),
            Acquired::Interrupted
        ));
        assert_eq!(drain(&r), b"+");
    }

    #[test]
    fn a_sniped_token_means_poll_again() {
        timed(a_sniped_token_means_poll_again_body)
    }

    fn a_sniped_token_means_poll_again_body() {
        let (r, w) = foreign(b"+");
        let js = ok(
            &env(&[("MAKEFLAGS", &format!(" -j3 {}", auth(&r, &w)))]),
            None,
            false,
        );
        let (ir, _iw) = pipe();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(80));
                nix::unistd::write(&w, b"s").unwrap();
            });
            client::SNIPE.with(|c| c.set(true));
            match js.acquire(ir.as_fd()).unwrap() {
                Acquired::Token(t) => {
                    assert_eq!(t.byte(), b's', "the first token was sniped");
                    js.release(t);
                }
                Acquired::Interrupted => panic!("a snipe is not an interrupt"),
            }
            assert!(!client::SNIPE.with(|c| c.get()), "the hook ran");
        });
        assert!(js.take_warnings().is_empty());
        assert_eq!(drain(&r), b"s");
    }

    #[test]
    fn acquire_blocks_until_a_token_is_released_by_someone_else() {
        timed(acquire_blocks_until_a_token_is_released_by_someone_else_body)
    }

    fn acquire_blocks_until_a_token_is_released_by_someone_else_body() {
        let js = ok(&env(&[]), Some(2), true);
        let held = take(&js);
        let (ir, _iw) = pipe();
        std::thread::scope(|s| {
            let h = s.spawn(|| js.acquire(ir.as_fd()).unwrap());
            std::thread::sleep(Duration::from_millis(50));
            assert!(!h.is_finished());
            js.release(held);
            match h.join().unwrap() {
                Acquired::Token(t) => js.release(t),
                Acquired::Interrupted => panic!(),
            }
        });
        assert_eq!(js.finish(), None);
    }

    #[test]
    fn competing_clients_conserve_tokens() {
        timed(competing_clients_conserve_tokens_body)
    }

    fn competing_clients_conserve_tokens_body() {
        // One server with a single token (-j2) and four clients joined through the
        // advertised fds, racing for it: wake-ups that find the pipe empty again must
        // just mean "poll again" (the deterministic version is a_sniped_token_means_poll_again),
        // never Interrupted, an error, a changed byte or a lost token.
        let server = ok(&env(&[]), Some(2), true);
        let m = mf(&server);
        let clients: Vec<Jobserver> = (0..4)
            .map(|_| ok(&env(&[("MAKEFLAGS", &m)]), None, false))
            .collect();
        let (ir, _iw) = pipe();
        std::thread::scope(|s| {
            for c in &clients {
                let ir = ir.as_fd();
                s.spawn(move || {
                    for i in 0..400 {
                        match c.acquire(ir).unwrap() {
                            Acquired::Token(t) => {
                                assert_eq!(t.byte(), b'+');
                                if i % 7 == 0 {
                                    std::thread::yield_now();
                                }
                                c.release(t)
                            }
                            Acquired::Interrupted => panic!("interrupted without interrupt"),
                        }
                        if let Some(t) = c.try_acquire().unwrap() {
                            c.release(t);
                        }
                    }
                });
            }
        });
        for c in clients {
            assert!(c.take_warnings().is_empty());
            assert_eq!(c.finish(), None);
        }
        assert_eq!(server.finish(), None);
    }

    #[test]
    fn cargo_makeflags_is_used_only_when_makeflags_has_no_auth() {
        let (r, w) = foreign(b"c");
        let cargo = format!(
            "-j --jobserver-fds={0},{1} --jobserver-auth={0},{1}",
            r.as_raw_fd(),
            w.as_raw_fd()
        );
        let js = ok(
            &env(&[("MAKEFLAGS", "k"), ("CARGO_MAKEFLAGS", &cargo)]),
            None,
            false,
        );
        assert_eq!(take(&js).byte(), b'c');
        let fds = js.child_fds();
        let m = mf(&js);
        assert_eq!(m, format!("k -j --jobserver-auth={},{}", fds[0], fds[1]));
        assert_eq!(cenv(&js)["CARGO_MAKEFLAGS"].as_deref(), Some(m.as_str()));
        // An auth-less CARGO_MAKEFLAGS is no source: REDO_JS_FD is still consulted.
        let (r3, w3) = foreign(b"e");
        let e = env(&[
            ("MAKEFLAGS", " -j2"),
            ("CARGO_MAKEFLAGS", "-j4"),
            (
                "REDO_JS_FD",
                &format!("{},{}", r3.as_raw_fd(), w3.as_raw_fd()),
            ),
        ]);
        assert_eq!(take(&ok(&e, None, false)).byte(), b'e');
        // An empty CARGO_MAKEFLAGS does not shadow a valid MAKEFLAGS.
        let (r2, w2) = foreign(b"d");
        let e = env(&[
            ("MAKEFLAGS", &format!(" -j2 {}", auth(&r2, &w2))),
            ("CARGO_MAKEFLAGS", ""),
        ]);
        assert_eq!(take(&ok(&e, None, false)).byte(), b'd');
        // make's kill switch in MAKEFLAGS is not overridden by a valid CARGO_MAKEFLAGS.
        let e = env(&[
            ("MAKEFLAGS", " -j2 --jobserver-auth=-2,-2"),
            ("CARGO_MAKEFLAGS", &cargo),
        ]);
        let (js, w) = start(&e, None, false).unwrap();
        assert_eq!(w, vec![Warning(UNAVAILABLE.into())]);
        assert_serial_env(&js);
    }

    #[test]
    fn goredo_redo_js_fd_is_joined_last() {
        let (r, w) = foreign(b"g");
        let e = env(&[(
            "REDO_JS_FD",
            &format!("{},{}", r.as_raw_fd(), w.as_raw_fd()),
        )]);
        let js = ok(&e, None, false);
        assert_eq!(take(&js).byte(), b'g');
        let fds = js.child_fds();
        assert_eq!(
            cenv(&js)["REDO_JS_FD"],
            Some(format!("{},{}", fds[0], fds[1]))
        );
        let (js, w) = start(&env(&[("REDO_JS_FD", "junk")]), None, false).unwrap();
        assert_eq!(
            w,
            vec![Warning(
                "invalid REDO_JS_FD string 'junk'; using -j1".into()
            )]
        );
        assert_serial_env(&js);
    }

    #[test]
    fn explicit_j_under_a_usable_jobserver_starts_a_new_one_with_a_warning() {
        let (r, w) = foreign(b"++");
        let e = env(&[("MAKEFLAGS", &format!(" -j3 {}", auth(&r, &w)))]);
        let (js, warn) = start(&e, Some(2), false).unwrap();
        assert_eq!(
            warn,
            vec![Warning(
                "-j2 forced in sub-redo: starting new jobserver".into()
            )]
        );
        assert_eq!(js.slots(), Some(2));
        let fds = js.child_fds();
        assert_ne!(inode(fds[0]), inode(r.as_raw_fd()));
        assert!(mf(&js).starts_with(" -j2 --jobserver-auth="));
        assert_eq!(drain(&r), b"++", "the inherited pool is untouched");
        assert_eq!(js.finish(), None);
        // Same at top level (redo run from a make recipe), and for -j0.
        let (js, warn) = start(&e, Some(0), true).unwrap();
        assert_eq!(warn.len(), 1);
        assert!(warn[0].0.starts_with("-j0 forced in sub-redo"));
        assert!(js.is_unlimited());
        // An unusable or disabled inherited auth: the -j is simply obeyed, silently.
        for m in [
            " -j3 --jobserver-auth=-2,-2",
            " -j3 --jobserver-auth=2000000000,2000000001",
            " -j3 --jobserver-auth=zz",
        ] {
            let (js, warn) = start(&env(&[("MAKEFLAGS", m)]), Some(2), false).unwrap();
            assert!(warn.is_empty(), "{m}: {warn:?}");
            assert_eq!(js.slots(), Some(2));
        }
    }

    // ---- bogus inherited jobservers (S14, S19) --------------------------------------

    fn bogus(makeflags: &str) -> (Jobserver, Vec<Warning>) {
        let (js, w) = start(&env(&[("MAKEFLAGS", makeflags)]), None, false).unwrap();
        assert_eq!(w.len(), 1, "exactly one warning for {makeflags:?}: {w:?}");
        assert_serial_env(&js);
        assert!(js.try_acquire().unwrap().is_none());
        (js, w)
    }

    #[test]
    fn closed_fds_warn_in_makes_words() {
        let (_, w) = bogus(" -j2 --jobserver-auth=2000000000,2000000001");
        assert_eq!(w[0].0, UNAVAILABLE);
        let (_, w) = bogus(" -j2 --jobserver-fds=2000000000,2000000001");
        assert_eq!(w[0].0, UNAVAILABLE);
    }

    #[test]
    fn disabled_pair_warns_like_make_4_4() {
        let (js, w) = bogus("k -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2 -- X=1");
        assert_eq!(w[0].0, UNAVAILABLE);
        assert_eq!(mf(&js), "k -j1 -- X=1");
    }

    #[test]
    fn garbage_and_invalid_auth_warn_and_are_not_passed_on() {
        let (js, w) = bogus(" -j2 --jobserver-auth=garbage");
        assert_eq!(
            w[0].0,
            "invalid --jobserver-auth string 'garbage'; using -j1"
        );
        assert_eq!(mf(&js), " -j1");
        let (_, w) = bogus(" --jobserver-fds=");
        assert_eq!(w[0].0, "invalid --jobserver-auth string ''; using -j1");
        let (_, w) = bogus(" --jobserver-auth=fifo:");
        assert_eq!(w[0].0, "invalid --jobserver-auth string 'fifo:'; using -j1");
    }

    #[test]
    fn missing_fifo_warns_cannot_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nonexist");
        let (_, w) = bogus(&format!(" -j2 --jobserver-auth=fifo:{}", p.display()));
        assert_eq!(
            w[0].0,
            format!(
                "cannot open jobserver {}: No such file or directory; using -j1",
                p.display()
            )
        );
    }

    #[test]
    fn regular_file_given_as_fifo_is_left_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("scratch.txt");
        std::fs::write(&p, b"scratch-content").unwrap();
        let before = std::fs::metadata(&p).unwrap();
        let (_, w) = bogus(&format!(" -j2 --jobserver-auth=fifo:{}", p.display()));
        assert_eq!(
            w[0].0,
            format!(
                "cannot open jobserver {}: not a named pipe (fifo); using -j1",
                p.display()
            )
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"scratch-content");
        let after = std::fs::metadata(&p).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (before.mtime(), before.mtime_nsec()),
            (after.mtime(), after.mtime_nsec())
        );
    }

    #[test]
    fn regular_file_and_unrelated_pipe_as_fds_are_rejected_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("scratch.txt");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"scratch-content")
            .unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        let (_other_r, other_w) = pipe();
        let ffl = client::getfl(f.as_raw_fd()).unwrap();
        let (js, w) = bogus(&format!(
            " -j2 --jobserver-auth={},{}",
            f.as_raw_fd(),
            other_w.as_raw_fd()
        ));
        assert!(js.describe().contains("is not a pipe"), "{}", js.describe());
        assert_eq!(w[0].0, UNAVAILABLE);
        assert_eq!(f.stream_position().unwrap(), 0, "nothing was read");
        assert_eq!(client::getfl(f.as_raw_fd()).unwrap(), ffl);
        assert_eq!(
            client::getfd(f.as_raw_fd()).unwrap() & libc::FD_CLOEXEC,
            libc::FD_CLOEXEC
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"scratch-content");
    }

    #[test]
    fn non_pipe_fds_keep_their_flags() {
        // Stand-ins for fds 0/1 (S14 row 2): a /dev/null reader and writer.
        let n0 = std::fs::File::open("/dev/null").unwrap();
        let n1 = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        // Clear CLOEXEC like inherited stdio.
        for fd in [n0.as_raw_fd(), n1.as_raw_fd()] {
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        let before = [
            client::getfl(n0.as_raw_fd()).unwrap(),
            client::getfl(n1.as_raw_fd()).unwrap(),
        ];
        let (_, w) = bogus(&format!(
            " -j2 --jobserver-auth={},{}",
            n0.as_raw_fd(),
            n1.as_raw_fd()
        ));
        assert_eq!(w[0].0, UNAVAILABLE);
        assert_eq!(
            [
                client::getfl(n0.as_raw_fd()).unwrap(),
                client::getfl(n1.as_raw_fd()).unwrap()
            ],
            before
        );
        assert_eq!(client::getfd(n0.as_raw_fd()).unwrap(), 0);
        assert_eq!(client::getfd(n1.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn ends_of_two_different_pipes_are_rejected() {
        let (r1, _w1) = foreign(b"+");
        let (r2, w2) = foreign(b"+");
        let (_, w) = bogus(&format!(
            " -j2 --jobserver-auth={},{}",
            r1.as_raw_fd(),
            w2.as_raw_fd()
        ));
        assert_eq!(w[0].0, UNAVAILABLE);
        // S14: the read end of an empty pipe whose writers are all closed, plus the write
        // end of another pipe: rejected up front (never read, so never an EOF loop).
        let (r3, w3) = pipe();
        drop(w3);
        let t = Instant::now();
        let (_, w) = bogus(&format!(
            " -j2 --jobserver-auth={},{}",
            r3.as_raw_fd(),
            w2.as_raw_fd()
        ));
        assert_eq!(w[0].0, UNAVAILABLE);
        assert!(t.elapsed() < Duration::from_secs(1));
        // Nothing was consumed from or added to either pipe.
        assert_eq!(drain(&r1), b"+");
        assert_eq!(drain(&r2), b"+");
    }

    #[test]
    fn end_of_file_means_broken_warns_once_and_never_spins() {
        timed(end_of_file_means_broken_warns_once_and_never_spins_body)
    }

    fn end_of_file_means_broken_warns_once_and_never_spins_body() {
        // Validation rejects such a pair, so build the broken state directly: a read end
        // whose writers are all gone.
        let (r, w) = pipe();
        drop(w);
        let (_r2, w2) = pipe();
        let id = inode(r.as_raw_fd());
        let chan = client::Channel {
            read: client::open_high(
                Path::new(&format!("/proc/self/fd/{}", r.as_raw_fd())),
                libc::O_RDONLY | libc::O_NONBLOCK,
            )
            .unwrap(),
            write: client::dup_high(w2.as_fd()).unwrap(),
        };
        assert_eq!(inode(chan.read.as_raw_fd()), id);
        let js = Jobserver::new(
            Mode::Active(Active {
                chan,
                advert: Advert::Pipe {
                    r: client::dup_high(r.as_fd()).unwrap(),
                    w: client::dup_high(w2.as_fd()).unwrap(),
                },
                jobs_word: Some(Some(2)),
                owner: None,
            }),
            ParsedFlags::default(),
            "test".to_string(),
        );
        let (ir, iw) = pipe();
        assert!(matches!(
            js.acquire(ir.as_fd()).unwrap(),
            Acquired::Interrupted
        ));
        let w = js.take_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].0.contains("end of file"), "{w:?}");
        assert!(js.take_warnings().is_empty(), "drained");
        // Serial from now on: children get no auth, try_acquire gives nothing, and
        // acquire waits for the interrupt instead of spinning on EOF.
        assert_serial_env(&js);
        assert!(js.try_acquire().unwrap().is_none());
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(80));
                nix::unistd::write(&iw, b"!").unwrap();
            });
            assert!(matches!(
                js.acquire(ir.as_fd()).unwrap(),
                Acquired::Interrupted
            ));
        });
        assert!(t.elapsed() >= Duration::from_millis(70));
        assert!(js.take_warnings().is_empty(), "warned once");
    }
}
