//! Kept logs (`-k`): `.redo/T.log` holds each stderr line of the .do prefixed
//! with an external TAI64N label; `.redo/T.log-rec` is a one-record recfile
//! describing the run.
//!
//! The label is `@` + 24 hex digits: 8 bytes of 2^62 + 10 + Unix seconds
//! (the daemontools convention `tai64nlocal` reads back; leap seconds are not
//! tracked) and 4 bytes of nanoseconds.
//!
//! Hand-written on purpose: the `tai64` crate counts leap seconds (its Unix
//! epoch is 2^62 + 37), so its labels would sit 27 s away from the ones
//! daemontools' tools and goredo's logs use; the arithmetic is two lines.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn tai64n(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = (1u64 << 62) + 10 + d.as_secs();
    format!("@{:016x}{:08x}", secs, d.subsec_nanos())
}

pub fn tai64n_now() -> String {
    tai64n(SystemTime::now())
}

/// Parse a label back (for redo-log ordering); None when malformed.
pub fn parse_tai64n(s: &str) -> Option<SystemTime> {
    let h = s.strip_prefix('@')?;
    if h.len() != 24 {
        return None;
    }
    let secs = u64::from_str_radix(&h[..16], 16)
        .ok()?
        .checked_sub((1u64 << 62) + 10)?;
    let nanos = u32::from_str_radix(&h[16..], 16).ok()?;
    UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_round_trip() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123);
        let l = tai64n(t);
        assert_eq!(l, "@400000005f5e100a0000007b");
        assert_eq!(parse_tai64n(&l), Some(t));
    }
}
