//! The one writer to stderr: renders engine events as goredo prints them.
//!
//! - completion: `redo <. per level><tgt> (<default.do>) (0.123s)`, green;
//! - failure: the same name part then `: <error>`, red;
//! - a .do's stderr: `[<tgt>]<line>` (`[<tgt>][<pid>] <line>` with -log-pid);
//! - warnings `redo: warning: ...` (magenta), errors `redo: ...` (red);
//! - `-d`: `ood: <tgt> -> <reason>`, waits, child pids (yellow).
//!
//! Colour only when stderr is a terminal, `NO_COLOR` is empty or unset, and
//! we are the top-level redo (a nested redo's lines travel through its parent,
//! prefixed with `REDO_STDERR_PREFIX`, and the parent prints them unchanged).
//! The status line (`status.rs`) is drawn through the same lock, below the
//! last message line.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use ferredo::env::Context;
use ferredo::report::{Event, Reporter};

use crate::status::{self, Counts, Role};

/// Stderr and, while the status line is shown, its totals.
struct Screen {
    err: std::io::Stderr,
    board: Option<Counts>,
    /// Whether the line is on the terminal now (and must be erased).
    drawn: bool,
    colour: bool,
    /// The reader has drawn everything up to our [`status::FLUSH`].
    flushed: bool,
}

impl Screen {
    fn draw_status(&mut self, buf: &mut Vec<u8>) {
        if let Some(c) = &self.board {
            if c.run > 0 || c.wait > 0 || c.done > 0 {
                buf.push(b'\r');
                buf.extend_from_slice(c.render(self.colour).as_bytes());
                buf.extend_from_slice(b"\x1b[K");
                self.drawn = true;
            }
        }
    }
}

pub struct Terminal {
    screen: Arc<Mutex<Screen>>,
    /// Signalled by the status reader when it meets [`status::FLUSH`].
    flushed: Arc<std::sync::Condvar>,
    status: OnceLock<Role>,
    tty: bool,
    colour: bool,
    prefix: Option<String>,
    level: u32,
    cwd: std::path::PathBuf,
    silent: bool,
    no_progress: bool,
    log_pid: bool,
    debug: bool,
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const MAGENTA: &str = "\x1b[35m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

impl Terminal {
    pub fn new(ctx: &Context) -> Terminal {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let colour = tty && !ctx.no_color && ctx.stderr_prefix.is_none();
        Terminal {
            screen: Arc::new(Mutex::new(Screen {
                err: std::io::stderr(),
                board: None,
                drawn: false,
                colour,
                flushed: false,
            })),
            flushed: Arc::new(std::sync::Condvar::new()),
            status: OnceLock::new(),
            tty,
            colour,
            prefix: ctx.stderr_prefix.clone(),
            level: ctx.level,
            cwd: ctx.cwd.clone(),
            silent: ctx.flags.silent,
            no_progress: ctx.flags.no_progress,
            log_pid: ctx.flags.log_pid || ctx.flags.debug,
            debug: ctx.flags.debug,
        }
    }

    fn show(&self, p: &Path) -> String {
        ferredo::paths::rel(&self.cwd, p)
            .to_string_lossy()
            .into_owned()
    }

    /// Write one line (without newline) with our prefix when nested.
    pub fn line(&self, bytes: &[u8]) {
        let mut buf = Vec::with_capacity(bytes.len() + 20);
        if let Some(p) = &self.prefix {
            buf.extend_from_slice(p.as_bytes());
        }
        let mut screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        if screen.drawn {
            buf.push(b'\r');
        }
        buf.extend_from_slice(bytes);
        if screen.drawn {
            buf.extend_from_slice(b"\x1b[K");
        }
        buf.push(b'\n');
        screen.draw_status(&mut buf);
        let _ = screen.err.write_all(&buf);
    }

    /// Start sending status events, and drawing the line if we are the
    /// top-level on a terminal. Returns the variable and the fd every child
    /// must get. Call once, after the jobserver has taken its inherited fds.
    pub fn start_status(
        &self,
        ctx: &Context,
        inherited: Option<std::ffi::OsString>,
    ) -> ((String, Option<String>), Option<std::os::fd::RawFd>) {
        let role = if !ctx.top_level {
            status::inherited(ctx, inherited)
        } else if self.tty && !ctx.flags.no_status {
            match status::pipe() {
                Ok((read_end, write_end)) => {
                    self.screen.lock().unwrap_or_else(|e| e.into_inner()).board =
                        Some(Counts::default());
                    let screen = Arc::clone(&self.screen);
                    let flushed = Arc::clone(&self.flushed);
                    let spawned =
                        std::thread::Builder::new()
                            .name("status".into())
                            .spawn(move || {
                                status::read_events(read_end, |events| {
                                    let mut s = screen.lock().unwrap_or_else(|e| e.into_inner());
                                    let Some(c) = s.board.as_mut() else { return };
                                    for &e in events {
                                        c.apply(e);
                                    }
                                    let mut buf = Vec::with_capacity(64);
                                    s.draw_status(&mut buf);
                                    let _ = s.err.write_all(&buf);
                                    if events.contains(&status::FLUSH) {
                                        s.flushed = true;
                                        flushed.notify_all();
                                    }
                                })
                            });
                    if spawned.is_ok() {
                        // The write end lives as long as the process.
                        use std::os::fd::IntoRawFd;
                        Role::Send(write_end.into_raw_fd())
                    } else {
                        Role::Off
                    }
                }
                Err(_) => Role::Off,
            }
        } else {
            Role::Off
        };
        let for_children = role.for_children();
        let _ = self.status.set(role);
        for_children
    }

    /// Erase the status line and draw it no more. The reader first draws
    /// the events still in the pipe (our own last DONE among them), so the
    /// final totals are the last line shown.
    pub fn finish_status(&self) {
        let mut screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        if screen.board.is_some() {
            self.send(status::FLUSH);
            let wait = std::time::Duration::from_millis(200);
            screen = self
                .flushed
                .wait_timeout_while(screen, wait, |s| !s.flushed)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if screen.drawn {
            let _ = screen.err.write_all(b"\r\x1b[K");
            screen.drawn = false;
        }
        screen.board = None;
    }

    fn send(&self, event: u8) {
        if let Some(role) = self.status.get() {
            role.send(event);
        }
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    pub fn warning(&self, msg: &str) {
        self.line(
            self.paint(MAGENTA, &format!("redo: warning: {msg}"))
                .as_bytes(),
        );
    }

    pub fn error(&self, msg: &str) {
        self.line(self.paint(RED, &format!("redo: {msg}")).as_bytes());
    }

    fn indent(&self) -> String {
        ". ".repeat(self.level as usize)
    }
}

impl Reporter for Terminal {
    fn emit(&self, ev: Event<'_>) {
        match ev {
            Event::Started { target, pid } => {
                self.send(status::RUN);
                if self.debug {
                    let l = format!("dbg {}{} runs [{pid}]", self.indent(), self.show(target));
                    self.line(self.paint(YELLOW, &l).as_bytes());
                }
            }
            Event::Finished {
                target,
                default_do,
                elapsed,
                error,
            } => {
                if elapsed.is_some() {
                    self.send(status::DONE);
                }
                let mut name = self.show(target);
                if let (Some(d), Some(_)) = (default_do, elapsed) {
                    name = format!("{name} ({})", self.show(d));
                }
                if let Some(e) = elapsed {
                    name = format!("{name} ({:.3}s)", e.as_secs_f64());
                }
                match error {
                    None => {
                        if !self.no_progress {
                            let l = format!("redo {}{name}", self.indent());
                            self.line(self.paint(GREEN, &l).as_bytes());
                        }
                    }
                    Some(e) => {
                        let l = format!("redo {}{name}: {e}", self.indent());
                        self.line(self.paint(RED, &l).as_bytes());
                    }
                }
            }
            Event::JobStderr { target, pid, line } => {
                if self.silent {
                    return;
                }
                let mut b = format!("[{}]", self.show(target)).into_bytes();
                if self.log_pid {
                    b.extend_from_slice(format!("[{pid}] ").as_bytes());
                }
                b.extend_from_slice(line);
                self.line(&b);
            }
            Event::Relay { line } => self.line(line),
            Event::Ood { target, reason } => {
                let show = |p: &Path| self.show(p);
                let l = format!(
                    "ood: {}{} -> {}",
                    self.indent(),
                    self.show(target),
                    reason.describe(&show)
                );
                self.line(self.paint(YELLOW, &l).as_bytes());
            }
            Event::Waiting { target, pid } => {
                self.send(status::WAIT);
                if self.debug {
                    let l = match pid {
                        Some(p) if p > 0 => {
                            format!("wait {}: {} (pid={p})", self.indent(), self.show(target))
                        }
                        _ => format!("wait {}: {}", self.indent(), self.show(target)),
                    };
                    self.line(self.paint(YELLOW, &l).as_bytes());
                }
            }
            Event::Waited { .. } => self.send(status::WAITED),
            Event::Slot { .. } | Event::SlotFreed { .. } => {}
            Event::Warning(m) => self.warning(m),
            Event::Error(m) => self.error(m),
            Event::Debug(m) => {
                if self.debug {
                    self.line(self.paint(YELLOW, &format!("dbg {m}")).as_bytes());
                }
            }
        }
    }
}
