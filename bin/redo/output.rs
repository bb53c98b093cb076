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

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use ferredo::env::Context;
use ferredo::report::{Event, Reporter};

pub struct Terminal {
    out: Mutex<std::io::Stderr>,
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
        let tty = unsafe { libc::isatty(2) } == 1;
        Terminal {
            out: Mutex::new(std::io::stderr()),
            colour: tty && !ctx.no_color && ctx.stderr_prefix.is_none(),
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
        buf.extend_from_slice(bytes);
        buf.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(&buf);
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
