//! A `.dep` as the out-of-date check reads it: checked once, kept as its
//! bytes, its records read from them on demand ([`DepView::records`]).
//!
//! A check holds every `.dep` of the tree it walked for its whole life (the
//! memo). Decoded into [`super::dep::Dep`], each record is an enum of about
//! a hundred bytes plus an allocation for its path: a target of a deep tree,
//! whose `.dep` lists twenty `.do` candidates, took 3 KiB of heap for 650
//! bytes of file. A view read from a file takes one allocation of the
//! file's size; a view of a directory's loaded cache
//! ([`super::depcache::Cached`]) takes none: it keeps the cache's buffer
//! alive and reads its slice of it. A record costs nothing until it is
//! read. Writers (the commit, depfix, the recfile view) keep using the
//! owned `Dep`.
//!
//! Invariant: the bytes were walked by [`DepView::decode`] with the same
//! framing checks as `Dep::decode`, so every chunk [`Records`] meets is
//! whole and of a known type; should that ever not hold, iteration stops
//! rather than panics.

use std::path::Path;
use std::sync::Arc;

use super::dep::{
    decode_build, ends_as_intent, walk_chunks, DecodeError, Hash, HASH_LEN, HEADER_LEN, T_ALWAYS,
    T_IFCHANGE, T_IFCHANGE_NONEX, T_IFCREATE, T_STAMP,
};
use super::depcache::Cached;
use super::inode::Inode;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// One record, borrowed from a [`DepView`]'s bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRef<'a> {
    Ifcreate(&'a Path),
    Ifchange {
        inode: Inode,
        hash: &'a Hash,
        path: &'a Path,
    },
    Always,
    Stamp(&'a Hash),
    IfchangeNonexistent(&'a Path),
}

/// A checked `.dep`, kept as its bytes (see the module essay).
pub struct DepView {
    pub build: [u8; 16],
    /// The chunks after the header.
    body: Body,
    len: usize,
    has_always: bool,
}

/// Where a view's chunks are.
enum Body {
    Own(Box<[u8]>),
    /// `start..end` of a loaded cache's buffer.
    InCache(Arc<Cached>, usize, usize),
}

impl std::fmt::Debug for DepView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepView")
            .field("build", &self.build)
            .field("records", &self.records().collect::<Vec<_>>())
            .finish()
    }
}

/// The BuildUUID, record count and always-record of a whole `.dep`, checked
/// as `Dep::decode` checks it.
fn check(b: &[u8]) -> Result<([u8; 16], usize, bool), DecodeError> {
    let build = decode_build(b)?;
    let (mut len, mut has_always) = (0, false);
    walk_chunks(&b[HEADER_LEN..], HEADER_LEN, |typ, _| {
        len += 1;
        has_always |= typ == T_ALWAYS;
    })?;
    Ok((build, len, has_always))
}

impl DepView {
    /// Check the whole of `b` as `Dep::decode` does, and keep a copy.
    pub fn decode(b: &[u8]) -> Result<DepView, DecodeError> {
        let (build, len, has_always) = check(b)?;
        Ok(DepView {
            build,
            body: Body::Own(b[HEADER_LEN..].into()),
            len,
            has_always,
        })
    }

    /// Check the `.dep` bytes at `range` of the loaded cache `cache`, as
    /// [`DepView::decode`] does, and keep them there.
    pub fn decode_in(
        cache: &Arc<Cached>,
        range: std::ops::Range<usize>,
    ) -> Result<DepView, DecodeError> {
        let b = cache
            .bytes()
            .get(range.clone())
            .ok_or(DecodeError::TooShort)?;
        let (build, len, has_always) = check(b)?;
        Ok(DepView {
            build,
            body: Body::InCache(cache.clone(), range.start + HEADER_LEN, range.end),
            len,
            has_always,
        })
    }

    fn body(&self) -> &[u8] {
        match &self.body {
            Body::Own(b) => b,
            Body::InCache(c, start, end) => &c.bytes()[*start..*end],
        }
    }

    /// The records, in file order.
    pub fn records(&self) -> Records<'_> {
        Records { b: self.body() }
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn has_always(&self) -> bool {
        self.has_always
    }

    /// The target's own ifchange record (the last one naming `base`), as
    /// `Dep::self_ifchange`.
    pub fn self_ifchange(&self, base: &Path) -> Option<(Inode, Hash)> {
        let base = base.as_os_str();
        let mut found = None;
        for r in self.records() {
            if let RecordRef::Ifchange { inode, hash, path } = r {
                if path.as_os_str() == base {
                    found = Some((inode, *hash));
                }
            }
        }
        found
    }

    /// Is this the `.dep` of a commit that did not finish (see
    /// `Dep::is_intent`)?
    pub fn is_intent(&self, base: &Path) -> bool {
        let mut last = None;
        // The bytes were checked when the view was made.
        let _ = walk_chunks(self.body(), HEADER_LEN, |typ, payload| {
            last = Some((typ, payload))
        });
        ends_as_intent(last, base.as_os_str().as_bytes())
    }
}

/// The records of a [`DepView`].
pub struct Records<'a> {
    b: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    fn next(&mut self) -> Option<RecordRef<'a>> {
        let head = self.b.get(..3)?;
        let len = u16::from_be_bytes([head[0], head[1]]) as usize;
        let chunk = self.b.get(..len)?;
        self.b = &self.b[len..];
        let payload = chunk.get(3..)?;
        let path = |p: &'a [u8]| Path::new(OsStr::from_bytes(p));
        Some(match head[2] {
            T_IFCREATE => RecordRef::Ifcreate(path(payload)),
            T_IFCHANGE_NONEX => RecordRef::IfchangeNonexistent(path(payload)),
            T_ALWAYS => RecordRef::Always,
            T_STAMP => RecordRef::Stamp(payload.try_into().ok()?),
            T_IFCHANGE => {
                let fields = payload.get(..48)?;
                let u = |i: usize| {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&fields[i * 8..i * 8 + 8]);
                    u64::from_be_bytes(x)
                };
                RecordRef::Ifchange {
                    inode: Inode::from_fields(std::array::from_fn(u)),
                    hash: payload.get(48..48 + HASH_LEN)?.try_into().ok()?,
                    path: path(payload.get(48 + HASH_LEN..)?),
                }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::dep::{Dep, Record};
    use std::path::PathBuf;

    fn sample() -> Dep {
        let inode = Inode::from_fields([1, 2, 3, 4, 5, 6]);
        Dep {
            build: [7; 16],
            records: vec![
                Record::Ifcreate(PathBuf::from("t.do")),
                Record::Ifchange {
                    inode,
                    hash: [9; 32],
                    path: PathBuf::from("default.do"),
                },
                Record::IfchangeNonexistent(PathBuf::from("gone.h")),
                Record::Always,
                Record::Stamp([3; 32]),
                Record::Ifchange {
                    inode,
                    hash: [4; 32],
                    path: PathBuf::from("t"),
                },
            ],
        }
    }

    /// A record of the owned form, as a view reads it.
    fn as_ref(r: &Record) -> RecordRef<'_> {
        match r {
            Record::Ifcreate(p) => RecordRef::Ifcreate(p),
            Record::Ifchange { inode, hash, path } => RecordRef::Ifchange {
                inode: *inode,
                hash,
                path,
            },
            Record::Always => RecordRef::Always,
            Record::Stamp(h) => RecordRef::Stamp(h),
            Record::IfchangeNonexistent(p) => RecordRef::IfchangeNonexistent(p),
        }
    }

    #[test]
    fn a_view_reads_what_the_owned_decode_reads() {
        let d = sample();
        let b = d.encode().unwrap();
        let v = DepView::decode(&b).unwrap();
        let want: Vec<RecordRef> = d.records.iter().map(as_ref).collect();
        assert_eq!(v.records().collect::<Vec<_>>(), want);
        assert_eq!(v.len(), 6);
        assert_eq!(v.build, [7; 16]);
        assert!(v.has_always());
        assert_eq!(
            v.self_ifchange(Path::new("t")),
            d.self_ifchange(Path::new("t")).map(|(i, h)| (*i, *h))
        );
        for base in ["t", "src"] {
            assert_eq!(v.is_intent(Path::new(base)), d.is_intent(Path::new(base)));
        }
    }

    #[test]
    fn a_view_refuses_what_the_owned_decode_refuses() {
        let b = sample().encode().unwrap();
        for cut in [5, HEADER_LEN + 1, b.len() - 1] {
            assert_eq!(
                DepView::decode(&b[..cut]).err(),
                Dep::decode(&b[..cut]).err(),
                "cut at {cut}"
            );
        }
    }
}
