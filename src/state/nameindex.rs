//! An open-addressing index of names kept elsewhere (a directory listing's
//! buffer, a `.dep` cache's bytes): ordinals by the name's hash
//! ([`crate::fasthash::hash_bytes`]), at most half full.
//!
//! Each slot holds the hash's high half beside the ordinal, so a probe that
//! meets another name's slot rarely has to read that name: a big check asks
//! tens of thousands of times about names that are absent (the `.do`
//! candidates, the `.dep` of every source), and each name read is a cache
//! miss in a table of megabytes.

/// A free slot (no ordinal is `u32::MAX`).
const EMPTY: u64 = u64::MAX;

pub struct NameIndex {
    /// `tag << 32 | ordinal`, or `EMPTY`; a power of two long.
    slots: Vec<u64>,
}

impl NameIndex {
    /// Room for `n` names. None when `n` does not fit an ordinal.
    pub fn with_capacity(n: usize) -> Option<NameIndex> {
        if n >= u32::MAX as usize {
            return None;
        }
        let size = n.checked_mul(2)?.max(2).next_power_of_two();
        Some(NameIndex {
            slots: vec![EMPTY; size],
        })
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Index ordinal `i` under `hash`. `same(j)`: is ordinal `j`'s name
    /// this one? Then `i` replaces it (the last stands, as in a map).
    pub fn insert(&mut self, hash: u64, i: u32, same: impl Fn(u32) -> bool) {
        let tag = hash >> 32;
        let mask = self.mask();
        let mut slot = hash as usize & mask;
        loop {
            let s = self.slots[slot];
            if s == EMPTY || (s >> 32 == tag && same(s as u32)) {
                self.slots[slot] = tag << 32 | i as u64;
                return;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The ordinal of the name of `hash` for which `is` holds.
    pub fn find(&self, hash: u64, is: impl Fn(u32) -> bool) -> Option<u32> {
        let tag = hash >> 32;
        let mask = self.mask();
        let mut slot = hash as usize & mask;
        loop {
            let s = self.slots[slot];
            if s == EMPTY {
                return None;
            }
            if s >> 32 == tag && is(s as u32) {
                return Some(s as u32);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Could a name of `hash` be indexed? `false` is certain, `true` only
    /// likely: no name is read.
    pub fn may_hold(&self, hash: u64) -> bool {
        self.find(hash, |_| true).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fasthash::hash_bytes;

    #[test]
    fn finds_every_name_and_rules_out_the_others() {
        let names: Vec<String> = (0..5000).map(|i| format!("t{i}.t")).collect();
        let mut ix = NameIndex::with_capacity(names.len()).unwrap();
        for (i, n) in names.iter().enumerate() {
            ix.insert(hash_bytes(n.as_bytes()), i as u32, |j| {
                names[j as usize] == *n
            });
        }
        for (i, n) in names.iter().enumerate() {
            let h = hash_bytes(n.as_bytes());
            assert_eq!(ix.find(h, |j| names[j as usize] == *n), Some(i as u32));
            assert!(ix.may_hold(h));
        }
        let absent = (0..5000)
            .map(|i| format!("t{i}.t.do"))
            .filter(|n| ix.may_hold(hash_bytes(n.as_bytes())))
            .count();
        // A tag match without the name is possible, and rare.
        assert!(absent < 5, "{absent}");
        for i in 0..5000 {
            let n = format!("t{i}.in");
            assert_eq!(
                ix.find(hash_bytes(n.as_bytes()), |j| names[j as usize] == n),
                None
            );
        }
    }

    #[test]
    fn a_name_inserted_twice_keeps_the_last_ordinal() {
        let mut ix = NameIndex::with_capacity(2).unwrap();
        let h = hash_bytes(b"a");
        ix.insert(h, 0, |_| true);
        ix.insert(h, 1, |j| j == 0);
        assert_eq!(ix.find(h, |_| true), Some(1));
    }
}
