//! Events the engine emits. The CLI renders them (colour, indentation, the
//! status line) through its single stderr writer; the engine never writes to
//! the terminal itself.

use std::path::Path;
use std::time::Duration;

use crate::ood::Reason;

pub enum Event<'a> {
    /// A job got its job slot: it had been ready for `waited` without one
    /// (for a retry, since its wait for another process ended). `token`: a
    /// jobserver token, not this process's implicit slot. Emitted by the
    /// slot loop before the job runs (`--timings` draws the wait).
    Slot {
        target: &'a Path,
        waited: Duration,
        token: bool,
    },
    /// The job gave its slot back: its .do exited (the commit may follow),
    /// or it waits for another process. Emitted before the slot is free.
    SlotFreed {
        target: &'a Path,
    },
    /// A .do process started.
    Started {
        target: &'a Path,
        pid: u32,
    },
    /// A job finished: `error` is None on success.
    Finished {
        target: &'a Path,
        /// The `default*.do` used, shown in the completion line.
        default_do: Option<&'a Path>,
        /// How long the .do ran; None when it never started.
        elapsed: Option<Duration>,
        /// Why the job failed (None: it built the target).
        error: Option<&'a crate::error::JobError>,
    },
    /// One line the .do wrote to stderr (without the newline).
    JobStderr {
        target: &'a Path,
        pid: u32,
        line: &'a [u8],
    },
    /// A line from a nested redo, to pass on unchanged.
    Relay {
        line: &'a [u8],
    },
    /// Why a target is out of date (`-d`), at a dependency depth.
    Ood {
        target: &'a Path,
        reason: &'a Reason,
    },
    /// Waiting for another process that builds the target.
    Waiting {
        target: &'a Path,
        pid: Option<i32>,
    },
    /// That wait is over (whatever the other process's result).
    Waited {
        target: &'a Path,
    },
    Warning(&'a str),
    Error(&'a str),
    Debug(&'a str),
}

pub trait Reporter: Sync {
    fn emit(&self, ev: Event<'_>);
}

/// Discards everything (queries that need no output, tests).
pub struct Silent;

impl Reporter for Silent {
    fn emit(&self, _ev: Event<'_>) {}
}
