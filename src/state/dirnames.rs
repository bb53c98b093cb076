//! A directory's names remembered between runs, so that a check of an
//! unchanged tree answers "is there a `T.do`, a `default.do`, ... here?"
//! with one `stat` of the directory instead of a listing of it.
//!
//! A check asks such questions of every directory of a tree: each `.dep`
//! records the `.do` candidates that did not exist (ifcreate), and a
//! dependency without a `.dep` is a source only if no `T.do` is beside it.
//! A listing answers them all ([`super::dirlist`]), but costs an `open`, an
//! `fstat`, two `getdents` and a `close`: in a tree of a thousand small
//! directories, a fifth of a no-op's system calls.
//!
//! [`DirNames`] is what a listing found: the hash of every name, and the
//! directory's *stamp* (device, inode, size, mtime, ctime: a
//! [`super::depcache::Snapshot`]'s state) taken with `fstat` on the open
//! directory *before* its names were read. It is kept in the directory's
//! `.dep` cache (`.redo/.ferredo/deps`, see [`super::depcache`]).
//!
//! The invariant: while `stat` of the directory gives the same stamp, no
//! name was added, removed or renamed since the listing, so a name whose
//! hash is not remembered is absent. Why: creating, removing or renaming an
//! entry (a file, a directory, a symlink, a link) sets the directory's
//! mtime and ctime to the current time. A stamp is only remembered if its
//! times were [`super::depcache`]'s quiet margin in the past when taken, so
//! a later change carries a later timestamp; a change between the stamp
//! and the reading of the names is in the names. The same assumptions as
//! the cache's: the clock does not step backwards.
//!
//! A listing that told every entry's kind (`d_type`) also keeps the names
//! of the subdirectories (not of symlinks to directories): under the same
//! invariant they are still the directory's subdirectories, so a tree walk
//! goes down from them without listing the directory ([`crate::query::walk`]).
//! A name that changes kind (a file removed, a directory made in its place)
//! changes the directory's stamp like any other change of its entries.
//!
//! Only absence is answered: a name whose hash is here may be another name
//! with the same hash, so the caller asks the kernel (as it would without a
//! listing). The hashes are [`crate::fasthash::hash_bytes`], and the cache
//! stores the hash of a fixed probe beside them: a ferredo whose hash
//! differs ignores them rather than trusting another function's values.

use crate::fasthash::hash_bytes;

/// What a listing found in a directory, as remembered (see the essay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirNames {
    stamp: [i64; 7],
    /// Sorted.
    hashes: Box<[u64]>,
    /// The names of the subdirectories (not symlinks to them), when the
    /// listing told every entry's kind; for a tree walk.
    subdirs: Option<Subdirs>,
}

/// Names of subdirectories.
type Subdirs = Box<[Box<[u8]>]>;

/// Hashed and stored beside the names: tells whether they were hashed as
/// this ferredo hashes.
const PROBE: &[u8] = b"ferredo dirnames probe";

impl DirNames {
    /// The names (any order, each once) of a directory whose stamp was
    /// `stamp` before they were read.
    pub fn new<'a>(stamp: [i64; 7], names: impl Iterator<Item = &'a [u8]>) -> DirNames {
        let mut hashes: Vec<u64> = names.map(hash_bytes).collect();
        hashes.sort_unstable();
        DirNames {
            stamp,
            hashes: hashes.into(),
            subdirs: None,
        }
    }

    /// With the names of the directory's subdirectories (among the names).
    pub fn with_subdirs<'a>(mut self, subdirs: impl Iterator<Item = &'a [u8]>) -> DirNames {
        self.subdirs = Some(subdirs.map(Box::from).collect());
        self
    }

    /// Did the listing tell the subdirectories?
    pub fn has_subdirs(&self) -> bool {
        self.subdirs.is_some()
    }

    /// The subdirectories' names, if the listing told them.
    pub fn subdirs(&self) -> Option<impl Iterator<Item = &[u8]>> {
        self.subdirs.as_ref().map(|s| s.iter().map(|n| &n[..]))
    }

    /// The stamp the directory had when listed.
    pub fn stamp(&self) -> [i64; 7] {
        self.stamp
    }

    /// Is `name` certainly absent, the directory's stamp being still
    /// [`DirNames::stamp`]?
    pub fn rules_out(&self, name: &[u8]) -> bool {
        self.hashes.binary_search(&hash_bytes(name)).is_err()
    }

    /// Append the stored form: the stamp, the probe's hash, the count and
    /// the hashes, little-endian; then the subdirectories: their count
    /// ([`NO_SUBDIRS`] when not known) and each name as a `u16` length and
    /// its bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for v in self.stamp {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&hash_bytes(PROBE).to_le_bytes());
        out.extend_from_slice(&(self.hashes.len() as u64).to_le_bytes());
        for h in self.hashes.iter() {
            out.extend_from_slice(&h.to_le_bytes());
        }
        // A name longer than a u16 (none is: NAME_MAX is 255) makes them unknown.
        let subdirs = self
            .subdirs
            .as_ref()
            .filter(|s| s.iter().all(|n| u16::try_from(n.len()).is_ok()));
        match subdirs {
            None => out.extend_from_slice(&NO_SUBDIRS.to_le_bytes()),
            Some(s) => {
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                for n in s.iter() {
                    out.extend_from_slice(&(n.len() as u16).to_le_bytes());
                    out.extend_from_slice(n);
                }
            }
        }
    }

    /// Read the stored form at the start of `b`: the names (None when they
    /// were hashed otherwise or are not sorted) and the bytes taken, or
    /// None when `b` is too short for them.
    pub fn decode(b: &[u8]) -> Option<(Option<DirNames>, usize)> {
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                b.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        let mut stamp = [0i64; 7];
        for (i, v) in stamp.iter_mut().enumerate() {
            *v = word(i)? as i64;
        }
        let probe = word(7)?;
        let count = usize::try_from(word(8)?).ok()?;
        let end = count.checked_add(9)?.checked_mul(8)?;
        if b.len() < end {
            return None;
        }
        let hashes: Box<[u64]> = (0..count).map(|i| word(9 + i)).collect::<Option<_>>()?;
        let (subdirs, end) = decode_subdirs(b, end)?;
        let usable = probe == hash_bytes(PROBE) && hashes.windows(2).all(|w| w[0] <= w[1]);
        let names = DirNames {
            stamp,
            hashes,
            subdirs,
        };
        Some((usable.then_some(names), end))
    }
}

/// The subdirectory count that says "not known".
const NO_SUBDIRS: u64 = u64::MAX;

/// The subdirectories stored at `at` in `b`, and where they end.
fn decode_subdirs(b: &[u8], mut at: usize) -> Option<(Option<Subdirs>, usize)> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let r = b.get(at..at.checked_add(n)?)?;
        at += n;
        Some(r)
    };
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    if count == NO_SUBDIRS {
        return Some((None, at));
    }
    let mut names = Vec::new();
    for _ in 0..count {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        names.push(Box::from(take(len)?));
    }
    Some((Some(names.into()), at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_out_only_names_not_listed_and_survives_its_stored_form() {
        let names: Vec<String> = (0..500).map(|i| format!("t{i}.t")).collect();
        let n = DirNames::new([1, 2, 3, 4, 5, 6, 7], names.iter().map(|s| s.as_bytes()));
        for s in &names {
            assert!(!n.rules_out(s.as_bytes()), "{s}");
            assert!(n.rules_out(format!("{s}.do").as_bytes()), "{s}.do");
        }
        let mut b = Vec::new();
        n.encode(&mut b);
        b.extend_from_slice(b"rest");
        let (back, used) = DirNames::decode(&b).unwrap();
        assert_eq!(back.as_ref(), Some(&n));
        assert_eq!(&b[used..], b"rest");
        // Cut short: not decodable. Another probe: decodable, not usable.
        assert!(DirNames::decode(&b[..used - 1]).is_none());
        b[7 * 8] ^= 1;
        assert_eq!(DirNames::decode(&b).unwrap(), (None, used));
    }

    #[test]
    fn subdirectories_survive_the_stored_form() {
        let names = [&b"a"[..], b"sub dir", b".redo", b"f.c"];
        let n = DirNames::new([7; 7], names.into_iter())
            .with_subdirs([&b"sub dir"[..], b".redo"].into_iter());
        let mut b = Vec::new();
        n.encode(&mut b);
        b.extend_from_slice(b"rest");
        let (back, used) = DirNames::decode(&b).unwrap();
        let back = back.unwrap();
        assert_eq!(back, n);
        let subdirs: Vec<&[u8]> = back.subdirs().unwrap().collect();
        assert_eq!(subdirs, [&b"sub dir"[..], b".redo"]);
        assert_eq!(&b[used..], b"rest");
        assert!(DirNames::decode(&b[..used - 1]).is_none());
        // Without them: known to be unknown.
        let plain = DirNames::new([7; 7], names.into_iter());
        let mut b = Vec::new();
        plain.encode(&mut b);
        assert!(DirNames::decode(&b).unwrap().0.unwrap().subdirs().is_none());
    }
}
