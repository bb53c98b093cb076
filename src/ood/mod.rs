//! The out-of-date decision (goredo's `isOOD`), returning its reason as data
//! so that `redo -d`, `redo-ood` and `redo-ood --why` all explain themselves
//! with the same code path a build uses.
//!
//! For a target `T`, [`Checker::check`] decides:
//! 1. no `.dep`: a *source* ([`Verdict::Source`]) if the file exists and
//!    there is no `T.do` beside it, else out of date (never built); an
//!    unusable `.dep`: out of date, [`Reason::CorruptDep`] (the job that
//!    rebuilds it says so once; a query lists it, [`Checker::dep_errors`]);
//! 2. the `.dep` is a commit *intent* (its last record is not the target's
//!    own: placed before the target changes, its self-record appended
//!    after, see `engine/commit.rs`): out of date,
//!    [`Reason::CommitCutShort`], whatever its BuildUUID, since the target
//!    may be the old file under the new records;
//! 3. built in this build run (`.dep` BuildUUID = ours): up to date;
//! 4. an `always` record: out of date; but while the caller collects
//!    always-targets ([`Checker::check_collecting_always`]), one met below
//!    the operands counts as up to date and is collected instead;
//! 5. the file is missing: out of date;
//! 6. an ifcreate dependency now exists: out of date;
//! 7. each ifchange dependency in recorded order: missing, a different size,
//!    or (unless the inode data is trusted equal) a different BLAKE3 hash makes
//!    `T` out of date; a dependency that is itself a target is checked
//!    recursively; `T`'s own record is compared the same way: a target whose
//!    file differs from what its build made ([`Reason::Edited`]) is out of
//!    date, as in goredo, and its job then warns that it was modified
//!    externally and leaves it (or fails, `REDO_STOP_IF_MODIFIED`); since it
//!    stays as it is, a dependant is not out of date for it (its content
//!    against the dependant's record decides), where goredo would rebuild the
//!    dependant on every run;
//! 8. an ifchange-nonexistent dependency follows that dependency's verdict, and
//!    makes `T` out of date if the file appeared.
//!
//! Invariants:
//! * Verdicts, parsed `.dep` files, `stat`s and file hashes are memoised for
//!   the life of a [`Checker`] (until [`Checker::reset`]): a checker answers
//!   as the tree was when it first looked, so a caller that built something
//!   resets it. Directory listings ([`Checker::list_directories`],
//!   [`Checker::assume_listings`]) are trusted only while the tree does not
//!   change either; names remembered from an earlier run only while the
//!   directory's stamp is theirs ([`crate::state::dirnames`]).
//! * A dependency cycle recorded on disk is cut: the target met again while
//!   its own check is under way counts as up to date, so a check always
//!   terminates, and [`Checker::met_cycle`] says a cut was made.
//! * The parallel check of a big fan-in reaches the verdicts and reasons of
//!   a plain check (only the cut of a recorded cycle among siblings may fall
//!   elsewhere).
//! * Nothing of goredo's state is written: only the derived `.dep` caches
//!   (`.redo/.ferredo/deps`), each write re-validated against the snapshot
//!   of `.redo/` taken before any of its `.dep` files was read.
//!
//! Files: `reason.rs` (what is decided), `checker.rs` (the checker and the
//! decision), `memo.rs` (its memoised lookups), `dirview.rs` (how a `.dep`
//! is found: the per-directory cache, a `stat` of its key, or the disk),
//! `parallel.rs` (big fan-ins on all the cores, and the parked workers).

mod checker;
mod dirview;
mod memo;
mod parallel;
mod reason;

use std::ffi::OsString;
use std::path::Path;

pub use checker::{Checker, DepState, Vouch};
pub use dirview::{DepCaches, DepFresh};
pub use reason::{Reason, Verdict};

/// Memo key: the path's bytes. Every path here is lexically clean, so
/// bytewise equality is path equality, and hashing the bytes avoids
/// `Path`'s component-wise `Hash`.
type Key = OsString;

fn key(p: &Path) -> Key {
    p.as_os_str().to_os_string()
}
