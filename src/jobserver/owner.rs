//! The end of a jobserver we created (the essay's "Serving, and cleaning up"): the token
//! count at exit, without waiting for end of file, and the removal of a served fifo on
//! every path but SIGKILL.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::client;
use super::{Active, Jobserver, Mode, Warning};

impl Jobserver {
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

    /// For a jobserver we serve: the tokens in the pipe now (`FIONREAD`), so
    /// N-1 minus this is how many the whole tree holds (`--timings` samples
    /// it). Joined, serial, unlimited, or the count failed: None.
    pub fn tokens_in_pipe(&self) -> Option<u64> {
        match &self.mode {
            Mode::Active(a) if a.owner.is_some() => a.chan.available().ok(),
            _ => None,
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
