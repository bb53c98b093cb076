//! The run share's entries: how a fact (built, verified, out of date, with
//! the target's self-record or a reason; a source, with its inode data) is
//! laid out in the file, and read back without trusting the bytes (see the
//! module essay of `runshare`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{u32_at, u64_at, Fact, SelfRecord};
use crate::ood::Reason;
use crate::state::dep::HASH_LEN;
use crate::state::inode::Inode;

pub(super) const ENTRY_FIXED: usize = 8 + 4 + 1 + 1 + 2 + 8 + 4;
pub(super) const SELF_LEN: usize = INODE_LEN + HASH_LEN;
const INODE_LEN: usize = 6 * 8;
/// No entry is larger (paths are bounded by PATH_MAX well below this).
pub(super) const MAX_ENTRY: usize = 1 << 16;

pub(super) const K_BUILT: u8 = 1;
pub(super) const K_VERIFIED: u8 = 2;
pub(super) const K_OOD: u8 = 3;
pub(super) const K_SOURCE: u8 = 4;
const F_SELF: u8 = 1;

fn encode_inode(out: &mut Vec<u8>, i: &Inode) {
    for v in i.fields() {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_inode(b: &[u8]) -> Option<Inode> {
    if b.len() < INODE_LEN {
        return None;
    }
    // Six u64s fit: the length was checked above.
    Some(Inode::from_fields(std::array::from_fn(|k| {
        u64_at(b, k * 8).unwrap_or(0)
    })))
}

fn encode_self(out: &mut Vec<u8>, s: &SelfRecord) {
    let (i, h) = s;
    encode_inode(out, i);
    out.extend_from_slice(h);
}

fn decode_self(b: &[u8]) -> Option<SelfRecord> {
    let inode = decode_inode(b)?;
    let mut h = [0u8; HASH_LEN];
    h.copy_from_slice(b.get(INODE_LEN..SELF_LEN)?);
    Some((inode, h))
}

// Reason tags.
const R_NEVER: u8 = 1;
const R_CORRUPT: u8 = 2;
const R_ALWAYS: u8 = 3;
const R_MISSING: u8 = 4;
const R_IFCREATE: u8 = 5;
const R_DEP_MISSING: u8 = 6;
const R_DEP_SIZE: u8 = 7;
const R_DEP_HASH: u8 = 8;
const R_DEP_APPEARED: u8 = 9;
const R_DEP_OOD: u8 = 10;
const R_CUT_SHORT: u8 = 11;
const R_EDITED: u8 = 12;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// A reason, with a chain of "X is out of date" shortened to its first and
/// last links (entries stay small for deep chains; the text is only shown
/// under `-d`, where Ood entries are not trusted anyway).
fn encode_reason(out: &mut Vec<u8>, r: &Reason, top: bool) {
    let path = |out: &mut Vec<u8>, tag: u8, p: &Path| {
        out.push(tag);
        put_bytes(out, p.as_os_str().as_bytes());
    };
    match r {
        Reason::NeverBuilt => out.push(R_NEVER),
        Reason::CorruptDep(m) => {
            out.push(R_CORRUPT);
            put_bytes(out, m.as_bytes());
        }
        Reason::Always => out.push(R_ALWAYS),
        Reason::CommitCutShort => out.push(R_CUT_SHORT),
        Reason::Missing => out.push(R_MISSING),
        Reason::Edited => out.push(R_EDITED),
        Reason::IfcreateAppeared(p) => path(out, R_IFCREATE, p),
        Reason::DepMissing(p) => path(out, R_DEP_MISSING, p),
        Reason::DepSize(p) => path(out, R_DEP_SIZE, p),
        Reason::DepHash(p) => path(out, R_DEP_HASH, p),
        Reason::DepAppeared(p) => path(out, R_DEP_APPEARED, p),
        Reason::DepOod(p, inner) => {
            if top {
                path(out, R_DEP_OOD, p);
                let mut leaf: &Reason = inner;
                while let Reason::DepOod(_, i) = leaf {
                    leaf = i;
                }
                encode_reason(out, leaf, false);
            } else {
                // Unreachable: only leaves are encoded below the top.
                out.push(R_NEVER);
            }
        }
    }
}

fn take_bytes<'b>(b: &mut &'b [u8]) -> Option<&'b [u8]> {
    let n = u32_at(b, 0)? as usize;
    let s = b.get(4..4 + n)?;
    *b = &b[4 + n..];
    Some(s)
}

fn decode_reason(b: &mut &[u8], depth: u32) -> Option<Reason> {
    let (&tag, rest) = b.split_first()?;
    *b = rest;
    let path = |b: &mut &[u8]| take_bytes(b).map(|s| PathBuf::from(OsStr::from_bytes(s)));
    Some(match tag {
        R_NEVER => Reason::NeverBuilt,
        R_CORRUPT => Reason::CorruptDep(String::from_utf8_lossy(take_bytes(b)?).into_owned()),
        R_ALWAYS => Reason::Always,
        R_CUT_SHORT => Reason::CommitCutShort,
        R_MISSING => Reason::Missing,
        R_EDITED => Reason::Edited,
        R_IFCREATE => Reason::IfcreateAppeared(path(b)?),
        R_DEP_MISSING => Reason::DepMissing(path(b)?),
        R_DEP_SIZE => Reason::DepSize(path(b)?),
        R_DEP_HASH => Reason::DepHash(path(b)?),
        R_DEP_APPEARED => Reason::DepAppeared(path(b)?),
        R_DEP_OOD if depth == 0 => {
            let p = path(b)?;
            Reason::DepOod(p, Box::new(decode_reason(b, depth + 1)?))
        }
        _ => return None,
    })
}

pub(super) fn encode_entry(out: &mut Vec<u8>, prev: u64, epoch: u64, f: &Fact) {
    let start = out.len();
    let (kind, path, selfrec) = match f {
        Fact::Built(p, s) => (K_BUILT, p, s.as_ref()),
        Fact::Verified(p, s) => (K_VERIFIED, p, s.as_ref()),
        Fact::Ood(p, _) => (K_OOD, p, None),
        Fact::Source(p, _) => (K_SOURCE, p, None),
    };
    let pb = path.as_os_str().as_bytes();
    out.extend_from_slice(&prev.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // length, patched below
    out.push(kind);
    out.push(if selfrec.is_some() { F_SELF } else { 0 });
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&epoch.to_le_bytes());
    put_bytes(out, pb);
    if let Some(s) = selfrec {
        encode_self(out, s);
    }
    match f {
        Fact::Ood(_, r) => encode_reason(out, r, true),
        Fact::Source(_, i) => encode_inode(out, i),
        Fact::Built(..) | Fact::Verified(..) => {}
    }
    let len = (out.len() - start) as u32;
    out[start + 8..start + 12].copy_from_slice(&len.to_le_bytes());
}

/// One entry's fixed part and path (borrowing the buffer it was read into);
/// the rest is decoded only for an entry whose path matched.
pub(super) struct RawEntry<'b> {
    /// The previous entry of the bucket (always lower).
    pub prev: u64,
    /// `K_BUILT`, `K_VERIFIED`, `K_OOD` or `K_SOURCE`.
    pub kind: u8,
    flags: u8,
    /// The barrier count when appended.
    pub epoch: u64,
    pub path: &'b [u8],
    rest: &'b [u8],
}

pub(super) fn decode_entry(b: &[u8]) -> Option<RawEntry<'_>> {
    let prev = u64_at(b, 0)?;
    let len = u32_at(b, 8)? as usize;
    if len < ENTRY_FIXED || len > b.len() {
        return None;
    }
    let b = &b[..len];
    let kind = b[12];
    if !matches!(kind, K_BUILT | K_VERIFIED | K_OOD | K_SOURCE) {
        return None;
    }
    let mut rest = &b[24..];
    let path = take_bytes(&mut rest)?;
    Some(RawEntry {
        prev,
        kind,
        flags: b[13],
        epoch: u64_at(b, 16)?,
        path,
        rest,
    })
}

impl RawEntry<'_> {
    /// The self-record (outer None: malformed).
    pub(super) fn selfrec(&self) -> Option<Option<SelfRecord>> {
        if self.flags & F_SELF == 0 {
            return Some(None);
        }
        decode_self(self.rest).map(Some)
    }

    /// A source's inode data (None: malformed).
    pub(super) fn inode(&self) -> Option<Inode> {
        decode_inode(self.rest)
    }

    pub(super) fn reason(&self) -> Option<Reason> {
        let mut rest = self.rest;
        if self.flags & F_SELF != 0 {
            rest = rest.get(SELF_LEN..)?;
        }
        decode_reason(&mut rest, 0)
    }
}
