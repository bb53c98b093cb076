//! ferredo: the redo build system, faithful to goredo 2.6, with exact GNU
//! make jobserver interop.
//!
//! redo builds a target `T` by running `T.do` (or a `default*.do` found
//! upwards) with `$1 $2 $3`, capturing its output atomically. The .do records
//! its dependencies by running `redo-ifchange` on them; that record is kept
//! in `.redo/T.dep` and consulted next time to decide whether `T` is out of
//! date.
//!
//! Module map:
//! - [`env`]: the `REDO_*` environment contract.
//! - [`build_id`]: the BuildUUID of a build run.
//! - [`paths`]: lexical path arithmetic.
//! - [`sys`]: file descriptors and other system calls shared by all.
//! - [`fasthash`]: the memo tables' hash.
//! - [`target`]: one target's path, directory, base name and state files.
//! - [`dofile`]: which .do builds a target.
//! - [`state`]: `.dep` format, locks, logs.
//! - [`ood`]: the out-of-date decision, with reasons as data.
//! - [`engine`]: running .do files, the atomic commit, scheduling.
//! - [`jobserver`]: the GNU make jobserver, as client and server.
//! - [`report`]: events the engine emits for the CLI to render.
//! - [`query`]: the query applets' engine (redo-ood, redo-sources, ...).

pub mod build_id;
pub mod dofile;
pub mod engine;
pub mod env;
pub mod error;
pub mod fasthash;
pub mod jobserver;
pub mod ood;
pub mod paths;
pub mod query;
pub mod report;
pub mod state;
pub mod sys;
pub mod target;
#[cfg(test)]
mod testutil;
