//! Choosing how this process gets its job slots ([`Jobserver::from_env`]): where an
//! inherited jobserver is looked for, joining it, serving a new one, or running serial or
//! unlimited. The rules, in order, are the module essay's "Where an inherited jobserver is
//! looked for" and "How this process gets its job slots"; the warnings are its "Warnings".

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::client::{self, Channel, JoinError};
use super::makeflags::{self, Auth, ParsedFlags};
use super::server::{self, Served};
use super::{Active, Advert, EnvGet, Jobserver, Mode, Owner, Request, Style, Warning, UNAVAILABLE};
use crate::env as vars;

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
    match lossy(env(vars::JS_FD)) {
        Some(v) if !v.trim().is_empty() => Some(Source {
            var: vars::JS_FD,
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
            "{}={v:?} is not a number of jobs (use a non-negative integer, 0 for unlimited)",
            vars::JOBS
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
                    warnings.push(forced_in_sub_redo(n));
                }
            }
            let js = Self::serve(n, req.style, env, base, &mut warnings, "-j")?;
            return Ok((js, warnings));
        }
        if let Some(src) = source {
            let js = Self::join_inherited(&src, base, &mut warnings);
            return Ok((js, warnings));
        }
        let jobs_env = lossy(env(vars::JOBS));
        if !req.top_level {
            return Ok((Self::below_top_without_auth(jobs_env, base), warnings));
        }
        let n = redo_jobs(jobs_env)?;
        let why = format!("{}/default", vars::JOBS);
        let js = Self::serve(n, req.style, env, base, &mut warnings, &why)?;
        Ok((js, warnings))
    }

    /// Join the inherited jobserver; if it is unusable, say why and run serially.
    fn join_inherited(src: &Source, base: ParsedFlags, warnings: &mut Vec<Warning>) -> Jobserver {
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
                warnings.push(join_warning(src, e));
                (Mode::Serial, note)
            }
        };
        Jobserver::new(mode, base, note)
    }

    /// No auth below the top level: unlimited if the parent redo is (`REDO_JOBS=NO`),
    /// else serial (a wrapper scrubbed the variables).
    fn below_top_without_auth(jobs_env: Option<String>, base: ParsedFlags) -> Jobserver {
        let (mode, note) = if jobs_env.as_deref().map(str::trim) == Some("NO") {
            (
                Mode::Unlimited,
                format!("unlimited: {}=NO from the parent redo", vars::JOBS),
            )
        } else {
            (
                Mode::Serial,
                "serial: no jobserver inherited below the top level".to_string(),
            )
        };
        Jobserver::new(mode, base, note)
    }

    /// Serve a new jobserver of `n` slots (`0`: unlimited, nothing served).
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
        let served = serve_style(n, style, env, warnings)?;
        let advert = match (served.pipe, &served.fifo) {
            (Some((r, w)), _) => Advert::Pipe { r, w },
            (None, Some(p)) => Advert::Fifo(fifo_advert(p)),
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
}

/// make's notice when a `-jN` of ours replaces a usable inherited jobserver.
fn forced_in_sub_redo(n: u32) -> Warning {
    Warning(if n == 0 {
        "-j0 forced in sub-redo: leaving the jobserver, running unlimited".to_string()
    } else {
        format!("-j{n} forced in sub-redo: starting new jobserver")
    })
}

/// A pipe, or a fifo in [`fifo_dir`]; a fifo that cannot be created falls back to a pipe
/// with a warning (as make does), but too many tokens is an error in either style.
fn serve_style(
    n: u32,
    style: Style,
    env: EnvGet<'_>,
    warnings: &mut Vec<Warning>,
) -> io::Result<Served> {
    if style == Style::Pipe {
        return server::serve_pipe(n);
    }
    let dir = fifo_dir(env);
    match server::serve_fifo(n, &dir) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Err(e),
        Err(e) => {
            warnings.push(Warning(format!(
                "cannot create jobserver fifo in {}: {}; using a pipe",
                dir.display(),
                client::strerror(&e)
            )));
            server::serve_pipe(n)
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
            Ok((chan, Advert::Fifo(fifo_advert(p))))
        }
        Auth::Disabled(r, w) => Err(JoinError::Unusable(format!("disabled ({r},{w})"))),
        Auth::Invalid(s) => Err(JoinError::Unusable(format!("invalid '{s}'"))),
        Auth::None => Err(JoinError::Unusable("no jobserver".to_string())),
    }
}

/// The auth value naming fifo `p`, escaped for a `MAKEFLAGS` word.
fn fifo_advert(p: &std::path::Path) -> String {
    format!("fifo:{}", makeflags::escape_word(&p.to_string_lossy()))
}

fn join_warning(src: &Source, e: JoinError) -> Warning {
    Warning(match (&src.auth, e) {
        (Auth::Invalid(s), _) => {
            let what = if src.var == vars::JS_FD {
                vars::JS_FD
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
