//! What children are told: the `MAKEFLAGS` (and `CARGO_MAKEFLAGS`, `MFLAGS`, `REDO_JS_FD`,
//! `REDO_JOBS`) every `.do` gets, and the fds it inherits. The table of what each mode
//! advertises is in the module essay ("What children get").

use std::os::fd::{AsRawFd, RawFd};

use super::makeflags;
use super::{Advert, Jobserver, Mode};
use crate::env as vars;

impl Jobserver {
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
            (vars::JS_FD.to_string(), js_fd),
            (
                vars::JOBS.to_string(),
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
}
