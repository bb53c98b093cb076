//! The GNU make jobserver, as ferredo speaks it: joining one (pipe or fifo), serving one,
//! and what every `.do` child is told about it.
//!
//! The files, one concept each (this essay is the whole story; each file's header says
//! which part it holds):
//!
//! * `mod.rs` — the [`Jobserver`] value and its modes (unlimited, serial, active), the
//!   public types;
//! * `choose.rs` — where an inherited jobserver is looked for and how this process gets
//!   its slots ([`Jobserver::from_env`]): join, serve, serial or unlimited;
//! * `tokens.rs` — taking and giving back tokens, and a broken jobserver;
//! * `advert.rs` — what children are told ([`Jobserver::child_env`], [`Jobserver::child_fds`]);
//! * `owner.rs` — the end of a jobserver we created: the count at exit, removing its fifo;
//! * `client.rs` — validating and joining an inherited pipe or fifo, and the private
//!   channel tokens go through; `server.rs` — creating a pipe or fifo full of tokens;
//! * [`makeflags`] — parsing and formatting `MAKEFLAGS` (pure).
//!
//! # The protocol
//!
//! A jobserver is a counting semaphore made of bytes in a pipe or a named fifo. One byte
//! is one *token*: the right to run one job **in addition to** the one every process may
//! always run on its *implicit token*. A client reads one byte before starting each extra
//! job and writes the same byte back when a job ends (whichever: as in make, the jobs
//! still running keep the implicit token first); it never writes back the implicit
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
//!   `+` (make's byte). The engine runs its first job on the implicit token, without a
//!   read; the one exception to "write back what you read" is the lent implicit slot
//!   below, whose byte is `+` and is taken back by one read.
//! * **The implicit slot, lent.** When every job of this process waits for another
//!   process (a target lock) and nothing else can start, the implicit slot would idle
//!   through the wait: the slot a parent spent on this `.do`, or the top level's own.
//!   The engine then lends it ([`Jobserver::lend_implicit`]: one `+` written, never
//!   blocking on a full pipe), and the next token it reads is the slot coming back
//!   ([`Jobserver::take_back_implicit`]: kept, not written back), before any job runs on
//!   it and before the engine returns. So the pool never holds more than the slots
//!   nobody uses, and a lender runs nothing while lent. goredo does the same for a
//!   whole nested run (its `REDO_JS_TOKEN`); make never lends. Deadlock-free because
//!   every wait for a lock lends or gives back its slot first: a process waiting to take
//!   its slot back waits only for jobs that hold slots, and those wait for no lock
//!   while holding one. On a signal, or once the jobserver is broken, a slot not back
//!   at once stays in the pool: the build is stopping.
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
//! is small; with `nix`/`libc` we control every syscall. The crate is a dev-dependency:
//! `tests/it/interop_jobserver_crate.rs` runs a client built on it (as cargo, rustc and
//! cc-rs are) under our served pipe and fifo.

mod advert;
mod choose;
mod client;
pub mod makeflags;
mod owner;
mod server;
mod tokens;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use client::Channel;
use makeflags::ParsedFlags;

/// Raw env lookup supplied by the caller (the engine never reads the process env itself).
pub use crate::env::EnvGet;

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

    /// End of file was read on the jobserver: no token can be had any more.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    fn warn(&self, w: String) {
        if let Ok(mut v) = self.warnings.lock() {
            v.push(Warning(w));
        }
    }

    /// Warnings that arose after `from_env` (e.g. end of file on the pipe). Drained.
    pub fn take_warnings(&self) -> Vec<Warning> {
        match self.warnings.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
