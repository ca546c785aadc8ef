//! The dictionary's word → entry lookup, laid out for few cache misses.
//!
//! fastText probes a table of 30M `int32` slots (120 MB) by `hash % 30M`, then compares the
//! token against the entry's `std::string`: on a large vocabulary every token costs several
//! cache and TLB misses (slot, entry, string bytes, then the word's precomputed subword rows).
//! This table answers the same question (the entry whose bytes equal the token, if any) with
//! two: a slot of 8 bytes holding the token's fastText hash as a tag and the offset of a record,
//! and the record itself, which holds everything a token needs contiguously: the entry index,
//! where its input rows start and end, and its bytes (compared to confirm a tag match, so the
//! answer never depends on hash collisions). Slots are open addressing with linear probing at
//! load factor ≤ 1/2; [`WordTable::prefetch`] lets a caller issue the slot's load a few tokens
//! ahead ([`super::dict`] does, to overlap the misses of consecutive tokens).

use super::read::invalid;
use crate::error::Result;

/// Record header bytes: entry index, first row, row count, key length (`u32` each).
const HEADER: usize = 16;

/// What a found token resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    /// Dictionary entry index.
    pub(crate) entry: u32,
    /// The entry's input rows are `rows[start..start + len]` of the caller's row list.
    pub(crate) rows: (u32, u32),
}

#[derive(Debug, Default)]
pub(crate) struct WordTable {
    /// `(tag, record + 1)`; 0 marks an empty slot.
    slots: Vec<(u32, u32)>,
    mask: usize,
    /// Records: `[entry, rows_start, rows_len, key_len]` as little-endian `u32`, then the key.
    records: Vec<u8>,
}

/// FNV-1a's low bits are weak for short keys: mix before masking.
#[inline]
pub(crate) fn spread(h: u32) -> usize {
    (h.wrapping_mul(0x9E37_79B1) >> 7) as usize ^ h as usize
}

/// `a == b` for the short keys of the tables (tokens, mostly under 16 bytes), compared 8 bytes
/// at a time inline: the library `memcmp` call behind slice equality was 6% of the language-ID
/// `.ftz` profile (perf), mostly call and length-dispatch overhead on a handful of bytes.
#[inline]
pub(crate) fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let word = |c: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_ne_bytes(w)
        };
        if word(x) != word(y) {
            return false;
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    ra.iter().zip(rb).all(|(x, y)| x == y)
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

impl WordTable {
    /// Builds the table of `keys` (entry `i` is `keys[i]`, with hash `hashes[i]` and input rows
    /// `rows[i]`). A repeated key resolves to its last entry, as in fastText's table.
    pub(crate) fn build<'a>(
        keys: impl ExactSizeIterator<Item = &'a [u8]>,
        hashes: &[u32],
        rows: &[(u32, u32)],
    ) -> Result<Self> {
        let n = keys.len();
        let cap = (2 * n).next_power_of_two().max(2);
        let mut slots = crate::alloc::with_capacity(cap, "model file", "dictionary table")?;
        super::huge::advise(&mut slots);
        slots.resize(cap, (0u32, 0u32));
        let mut t = Self {
            slots,
            mask: cap - 1,
            records: Vec::new(),
        };
        for (i, key) in keys.enumerate() {
            let at = t.records.len();
            // Offsets are u32: a dictionary of 4 GB of words is not a model.
            if at + HEADER + key.len() >= u32::MAX as usize {
                return Err(invalid("dictionary too large (more than 4 GB of words)"));
            }
            for v in [i as u32, rows[i].0, rows[i].1, key.len() as u32] {
                t.records.extend_from_slice(&v.to_le_bytes());
            }
            t.records.extend_from_slice(key);
            let h = hashes[i];
            let mut slot = spread(h) & t.mask;
            loop {
                let (tag, rec) = t.slots[slot];
                if rec == 0 {
                    t.slots[slot] = (h, at as u32 + 1);
                    break;
                }
                if tag == h && t.key(rec as usize - 1) == key {
                    t.slots[slot].1 = at as u32 + 1;
                    break;
                }
                slot = (slot + 1) & t.mask;
            }
        }
        Ok(t)
    }

    #[inline]
    fn key(&self, rec: usize) -> &[u8] {
        let len = u32_at(&self.records, rec + 12) as usize;
        &self.records[rec + HEADER..rec + HEADER + len]
    }

    /// The entry of `token`, whose fastText hash is `h`.
    #[inline]
    pub(crate) fn find(&self, token: &[u8], h: u32) -> Option<Found> {
        let mut slot = spread(h) & self.mask;
        loop {
            let (tag, rec) = self.slots[slot];
            if rec == 0 {
                return None;
            }
            if tag == h {
                let r = rec as usize - 1;
                if same_key(self.key(r), token) {
                    return Some(Found {
                        entry: u32_at(&self.records, r),
                        rows: (u32_at(&self.records, r + 4), u32_at(&self.records, r + 8)),
                    });
                }
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Starts loading the first slot `h` probes (a hint; no effect on results).
    #[inline]
    pub(crate) fn prefetch(&self, h: u32) {
        super::prefetch::read(&self.slots[spread(h) & self.mask]);
    }

    /// Starts loading the record of the first slot `h` probes when its tag is `h` (call it after
    /// [`WordTable::prefetch`] had time to bring the slot in; a hint, no effect on results).
    #[inline]
    pub(crate) fn prefetch_record(&self, h: u32) {
        let (tag, rec) = self.slots[spread(h) & self.mask];
        if tag == h && rec != 0 {
            super::prefetch::read(&self.records[rec as usize - 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::fasttext::hash;

    /// The answer of fastText's lookup: the last entry equal to the token.
    fn oracle(keys: &[Vec<u8>]) -> HashMap<&[u8], u32> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.as_slice(), i as u32))
            .collect()
    }

    fn check(keys: &[Vec<u8>], hashes: &[u32], probes: &[Vec<u8>], hash_of: impl Fn(&[u8]) -> u32) {
        let rows: Vec<(u32, u32)> = (0..keys.len() as u32).map(|i| (3 * i, i % 5)).collect();
        let t = WordTable::build(keys.iter().map(Vec::as_slice), hashes, &rows).unwrap();
        let want = oracle(keys);
        for p in keys.iter().chain(probes) {
            let got = t.find(p, hash_of(p));
            let expected = want.get(p.as_slice()).map(|&i| Found {
                entry: i,
                rows: rows[i as usize],
            });
            assert_eq!(got, expected, "token {p:?}");
        }
    }

    #[test]
    fn adversarial_vocabularies() {
        // Every key with the same tag: each lookup walks the whole cluster and must compare bytes.
        let keys: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_string().into_bytes()).collect();
        let same = vec![7u32; keys.len()];
        let probes: Vec<Vec<u8>> = (300..400u32).map(|i| i.to_string().into_bytes()).collect();
        check(&keys, &same, &probes, |_| 7);
        // Prefixes of one another, the empty key, bytes ≥ 0x80, a repeated key (last one wins),
        // a long key.
        let keys: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"ab".to_vec(),
            b"abc".to_vec(),
            Vec::new(),
            vec![0xC3, 0xA9],
            b"ab".to_vec(),
            vec![b'x'; 10_000],
            b"</s>".to_vec(),
        ];
        let hashes: Vec<u32> = keys.iter().map(|k| hash(k)).collect();
        let probes = vec![
            b"abcd".to_vec(),
            vec![0xC3],
            vec![b'x'; 9_999],
            b"A".to_vec(),
        ];
        check(&keys, &hashes, &probes, hash);
        // An empty dictionary.
        check(&[], &[], &probes, hash);
    }

    proptest! {
        #[test]
        fn same_key_is_equality(
            a in prop::collection::vec(any::<u8>(), 0..40),
            b in prop::collection::vec(any::<u8>(), 0..40),
            cut in 0usize..40,
        ) {
            prop_assert_eq!(same_key(&a, &b), a == b);
            // Equal prefixes, then a difference anywhere.
            let c: Vec<u8> = a.iter().take(cut).copied().chain(b.iter().copied()).collect();
            let d: Vec<u8> = a.iter().take(cut).copied().chain(a.iter().copied()).collect();
            prop_assert_eq!(same_key(&c, &d), c == d);
            prop_assert!(same_key(&a, &a.clone()));
        }
    }

    proptest! {
        #[test]
        fn same_answers_as_a_map(
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..200),
            probes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..50),
            weak in any::<bool>(),
        ) {
            // `weak`: a 3-bit hash, so most keys share tags and probe chains.
            let h = |k: &[u8]| if weak { hash(k) & 7 } else { hash(k) };
            let hashes: Vec<u32> = keys.iter().map(|k| h(k)).collect();
            check(&keys, &hashes, &probes, h);
        }
    }
}
