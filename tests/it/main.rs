//! ferredo's one integration-test binary (`cargo test --test it`).
//!
//! Every test runs the real `redo` binary inside a `sandbox::Sandbox` (temp project,
//! applet symlinks, scrubbed environment, timeouts). Interop tests use real GNU make 4.3
//! and 4.4.1, ninja and the jobserver kit (`compat/kit`) located through the
//! `FERREDO_MAKE43`, `FERREDO_MAKE44`, `FERREDO_NINJA` and `FERREDO_KIT` variables that
//! `compat/test.sh` exports; a missing tool fails the test, it is never skipped.
//!
//! Add a module per area (e.g. `dofile.rs`, `ood.rs`, `jobserver.rs`), and name regression
//! tests after their issue.

mod core_cli;
mod core_commit;
mod core_common;
mod core_concurrent;
mod core_crash;
mod core_depcache;
mod core_dofile;
mod core_ood;
mod core_orphans;
mod core_output;
mod core_parallel;
mod core_paths;
mod core_runshare;
mod core_signals;
mod core_state;
mod core_status;
mod demo;
mod gen;
mod gen_complete;
mod gen_man;
mod interop_common;
mod interop_distcc;
mod interop_faults;
mod interop_jobserver_crate;
mod interop_make_top;
mod interop_redo_top;
mod interop_under_redo;
mod kit;
mod query;
mod sandbox;
mod smoke;
mod timings;
