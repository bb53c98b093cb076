//! `redo --timings[=PATH]` (`REDO_TIMINGS=PATH`): a timeline of the whole
//! build, every job of every redo of the tree and every wait for a job slot,
//! written at the end as `PATH.html` (a page to read, `html.rs`) and
//! `PATH.json` (Chrome trace events for Perfetto, `json.rs`).
//!
//! # The channel: a per-run append-only record
//!
//! The top-level redo, when asked, creates `PATH.record` (empty) and names it
//! in `REDO_FERREDO_TIMINGS_RECORD` for its children; every nested redo that
//! finds the variable opens the file for appending and writes one line per
//! fact about its own jobs (`record.rs` has the format): its level and the
//! target whose `.do` started it, when each job got its slot and how long it
//! was ready without one, when its `.do` started and ended, and its waits for
//! other processes. The top level also samples its served jobserver pipe
//! (`FIONREAD`, every 10 ms, a line when the count changes), so the tokens
//! that make, cargo or ninja inside a `.do` hold are counted too. At the end
//! the top level reads the record, removes it, and renders it (`model.rs`).
//!
//! A file rather than `REDO_STATUS_FD`'s pipe: the status pipe carries one
//! byte per event and exists only on a terminal; a record line carries a
//! target and times, and needs nobody reading while the build runs.
//!
//! Invariants:
//! - Only the top level creates, reads, removes and renders the record; a
//!   nested redo only appends. A top level that does not record removes the
//!   variable from its children's environment, so an outer build's record
//!   never receives lines from an unrelated inner build.
//! - One line is one `write(2)` on an `O_APPEND` fd: lines of concurrent
//!   processes never interleave, and a torn last line (a killed process) is
//!   skipped by the reader.
//! - Times are `CLOCK_MONOTONIC` nanoseconds: one clock for all processes.
//! - Recording never fails a build: a record that cannot be opened or
//!   written costs the timeline lines, not the build. Off, the cost is one
//!   branch per event.
//!
//! # Cost (measured on the 2-core CI machine, loaded: medians)
//!
//! A 1000-target fan-in of `echo` jobs (`redo -j2 all`, `REDO_NO_SYNC=1`), 11 runs each,
//! interleaved: CPU (user+sys of the tree) 1.86 s before this feature, 1.86 s with it
//! off, 1.93 s on (five lines a job, and 10 ms to render 1001 jobs into a 630 kB page
//! and a 630 kB trace); wall times (1.25 / 1.41 / 1.34 s) differed by less than their
//! noise. The no-op `redo-ifchange all` of the same tree, 40 runs: 15.5 ms before,
//! 15.8 ms off, 17.5 ms on (creating the record, rendering one job).

mod html;
mod json;
mod model;
mod record;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use ferredo::env::{Context, TIMINGS, TIMINGS_RECORD};
use ferredo::jobserver::Jobserver;
use ferredo::report::Reporter;

pub use record::{Recorder, Tee};

use crate::output::Terminal;

/// This process's part in recording.
pub enum Session {
    /// Not recording; `scrub` when we are the top level (children must not
    /// inherit an outer build's record).
    Off {
        scrub: bool,
    },
    Nested(Recorder),
    Top(Top),
}

pub struct Top {
    rec: Recorder,
    record: PathBuf,
    /// `PATH`, without `.html` / `.json`.
    out: PathBuf,
    slots: Option<u32>,
}

impl Session {
    /// `asked`: `--timings` given (with its value, or None for the default).
    pub fn start(
        ctx: &Context,
        asked: Option<Option<OsString>>,
        term: &Terminal,
        slots: Option<u32>,
    ) -> Session {
        if !ctx.top_level {
            let rec = crate::env_get(TIMINGS_RECORD)
                .filter(|p| !p.is_empty())
                .and_then(|p| Recorder::open(Path::new(&p)).ok());
            return match rec {
                Some(r) => {
                    r.process(ctx.level, ctx.chain.last().map(PathBuf::as_path), None);
                    Session::Nested(r)
                }
                None => Session::Off { scrub: false },
            };
        }
        let asked = asked.or_else(|| crate::env_get(TIMINGS).filter(|v| !v.is_empty()).map(Some));
        let Some(given) = asked else {
            return Session::Off { scrub: true };
        };
        let out = match given.filter(|g| !g.is_empty()) {
            Some(p) => ferredo::paths::abs_join(&ctx.cwd, Path::new(&p)),
            None => {
                let base = ctx
                    .cwd
                    .join(".redo")
                    .join(format!("timings-{}", date_now()));
                // Another build of the same second: our pid keeps the names apart.
                if with_ext(&base, "record").exists() || with_ext(&base, "html").exists() {
                    with_ext(&base, &std::process::id().to_string())
                } else {
                    base
                }
            }
        };
        let record = with_ext(&out, "record");
        let made = out
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| Recorder::create(&record));
        match made {
            Ok(rec) => {
                rec.process(0, None, slots);
                Session::Top(Top {
                    rec,
                    record,
                    out,
                    slots,
                })
            }
            Err(e) => {
                term.warning(&format!(
                    "--timings: cannot create {}: {e}; no timeline (give --timings=PATH in a writable directory)",
                    record.display()
                ));
                Session::Off { scrub: true }
            }
        }
    }

    /// The variable every child gets (None: leave the inherited one).
    pub fn child_var(&self) -> Option<(String, Option<String>)> {
        match self {
            Session::Off { scrub: true } => Some((TIMINGS_RECORD.into(), None)),
            Session::Off { scrub: false } | Session::Nested(_) => None,
            Session::Top(t) => Some((
                TIMINGS_RECORD.into(),
                Some(t.record.to_string_lossy().into_owned()),
            )),
        }
    }

    pub fn recorder(&self) -> Option<&Recorder> {
        match self {
            Session::Off { .. } => None,
            Session::Nested(r) => Some(r),
            Session::Top(t) => Some(&t.rec),
        }
    }

    /// The reporter the engine gets: `term`, recording when on.
    pub fn tee<'a>(&'a self, term: &'a dyn Reporter) -> Tee<'a> {
        Tee {
            inner: term,
            rec: self.recorder(),
        }
    }

    /// Run `f` (the build) while sampling the served pipe, when we record at top level.
    pub fn sampling<R>(&self, js: &Jobserver, f: impl FnOnce() -> R) -> R {
        let Session::Top(t) = self else { return f() };
        if js.tokens_in_pipe().is_none() {
            return f();
        }
        std::thread::scope(|s| {
            let (stop, stopped) = mpsc::channel::<()>();
            s.spawn(move || {
                let mut last = None;
                loop {
                    let now = js.tokens_in_pipe();
                    if now != last {
                        if let Some(n) = now {
                            t.rec.tokens(n);
                        }
                        last = now;
                    }
                    let tick = std::time::Duration::from_millis(10);
                    if !matches!(
                        stopped.recv_timeout(tick),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                }
            });
            let r = f();
            drop(stop);
            r
        })
    }

    /// At top level: render the record and say where, as the last line.
    pub fn finish(self, term: &Terminal, cwd: &Path) {
        let Session::Top(t) = self else { return };
        drop(t.rec);
        let bytes = std::fs::read(&t.record);
        let _ = std::fs::remove_file(&t.record);
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                let hint = "was it removed during the build?";
                term.warning(&format!(
                    "--timings: cannot read {}: {e} ({hint})",
                    t.record.display()
                ));
                return;
            }
        };
        let lines = record::parse(&bytes);
        let m = model::build(&lines, std::process::id(), t.slots);
        let show = |p: &Path| ferredo::paths::rel(cwd, p).to_string_lossy().into_owned();
        let html = with_ext(&t.out, "html");
        let json = with_ext(&t.out, "json");
        for (file, text) in [
            (&html, html::render(&m, &show)),
            (&json, json::render(&m, &show)),
        ] {
            if let Err(e) = std::fs::write(file, text) {
                let hint = "give --timings=PATH in a writable directory";
                term.warning(&format!(
                    "--timings: cannot write {}: {e}; {hint}",
                    file.display()
                ));
                return;
            }
        }
        term.line(format!("redo: timings: {} (trace: {})", show(&html), show(&json)).as_bytes());
    }
}

fn with_ext(out: &Path, ext: &str) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// UTC now as `YYYYMMDD-HHMMSS`.
fn date_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_is_utc_civil() {
        let d = super::date_now();
        assert_eq!(d.len(), 15);
        assert!(d.starts_with("20"), "{d}");
    }
}
