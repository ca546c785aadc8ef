//! The dictionary's word → entry lookup, laid out for few cache misses.
//!
//! fastText probes a table of 30M `int32` slots (120 MB) by `hash % 30M`, then compares the
//! token against the entry's `std::string`: on a large vocabulary every token costs several
//! cache and TLB misses (slot, entry, string bytes, then the word's precomputed subword rows).
//! This table answers the same question (the entry whose bytes equal the token, if any) from one
//! slot of 16 bytes for keys of at most 8 bytes (most words): the token's fastText hash as a
//! tag, the entry, the key's length and the key itself. A longer key's slot holds the offset of
//! its bytes instead, which are compared to confirm a tag match. The answer never depends on
//! hash collisions. Slots are open addressing with linear probing at load factor ≤ 1/2;
//! [`WordTable::prefetch`] lets a caller issue the slot's load a few tokens ahead
//! ([`super::dict`] does, to overlap the misses of consecutive tokens).
//!
//! Measured (perf, `examples/fasttext_predict.rs` on the word-bigram `.bin` of
//! `benches/quality_fasttext.py`, 586k words): with 8-byte slots and a record per entry, every
//! found token took two dependent misses (slot, then record), and the record prefetches stalled
//! on full fill buffers; with the key in the slot, the tokens of up to 8 bytes take one.

use super::read::invalid;
use crate::error::Result;

/// `meta` bit of a slot whose key is stored inline.
const SHORT: u32 = 1 << 31;
/// Entries below this may be stored inline (the `meta` layout: `SHORT`, 4 bits of length, 27
/// bits of entry).
const SHORT_ENTRIES: u32 = 1 << 27;
const ENTRY_BITS: u32 = SHORT_ENTRIES - 1;

/// One slot: `meta == 0` is empty; `SHORT | len << 27 | entry` with the key's bytes in `key`
/// (little-endian, zero-padded); otherwise `entry + 1`, with `key` the offset of the key's
/// `[len as u32 LE][bytes]` in [`WordTable::long`].
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(16))]
struct Slot {
    tag: u32,
    meta: u32,
    key: u64,
}

#[derive(Debug, Default)]
pub(crate) struct WordTable {
    slots: Vec<Slot>,
    mask: usize,
    /// Keys longer than 8 bytes: length (`u32` LE), then the bytes.
    long: Vec<u8>,
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

/// The bytes of `k` (at most 8) as a little-endian `u64`, zero-padded, without a variable-length
/// copy: two possibly overlapping loads (overlapping bytes are the same bytes, so OR-ing them is
/// exact).
#[inline]
fn pack(key: &[u8]) -> u64 {
    let len = key.len();
    debug_assert!(len <= 8);
    if len >= 4 {
        let lo = u64::from(u32_at(key, 0));
        let hi = u64::from(u32_at(key, len - 4));
        lo | hi << (8 * (len - 4))
    } else if len > 0 {
        let first = u64::from(key[0]);
        let middle = u64::from(key[len / 2]) << (8 * (len / 2));
        let last = u64::from(key[len - 1]) << (8 * (len - 1));
        first | middle | last
    } else {
        0
    }
}

impl WordTable {
    /// Builds the table of `keys` (entry `i` is `keys[i]`, with hash `hashes[i]`). A repeated
    /// key resolves to its last entry, as in fastText's table.
    pub(crate) fn build<'a>(
        keys: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
        hashes: &[u32],
    ) -> Result<Self> {
        Self::build_entries(keys.enumerate().map(|(i, k)| (i, k, hashes[i])))
    }

    /// Builds the table of the `(entry, key, hash)` triples (entries below `i32::MAX`).
    pub(crate) fn build_entries<'a>(
        keys: impl ExactSizeIterator<Item = (usize, &'a [u8], u32)> + Clone,
    ) -> Result<Self> {
        let n = keys.len();
        let cap = (2 * n).next_power_of_two().max(2);
        let mut slots = crate::alloc::with_capacity(cap, "model file", "dictionary table")?;
        super::huge::advise(&mut slots);
        slots.resize(cap, Slot::default());
        let long_bytes: usize = keys
            .clone()
            .filter(|k| k.1.len() > 8)
            .map(|k| 4 + k.1.len())
            .sum();
        let mut long = crate::alloc::with_capacity(long_bytes, "model file", "dictionary keys")?;
        super::huge::advise(&mut long);
        let mut t = Self {
            slots,
            mask: cap - 1,
            long,
        };
        for (i, key, h) in keys {
            let slot = if key.len() <= 8 && (i as u32) < SHORT_ENTRIES {
                Slot {
                    tag: h,
                    meta: SHORT | (key.len() as u32) << 27 | i as u32,
                    key: pack(key),
                }
            } else {
                let at = t.long.len();
                // Offsets are u32: a dictionary of 4 GB of words is not a model.
                if at + 4 + key.len() >= u32::MAX as usize {
                    return Err(invalid("dictionary too large (more than 4 GB of words)"));
                }
                t.long.extend_from_slice(&(key.len() as u32).to_le_bytes());
                t.long.extend_from_slice(key);
                Slot {
                    tag: h,
                    meta: i as u32 + 1,
                    key: at as u64,
                }
            };
            let mut at = spread(h) & t.mask;
            loop {
                let s = t.slots[at];
                if s.meta == 0 || (s.tag == h && t.matches(&s, key, pack_key(key))) {
                    t.slots[at] = slot;
                    break;
                }
                at = (at + 1) & t.mask;
            }
        }
        Ok(t)
    }

    /// Whether slot `s` holds `key` (whose inline form is `packed`, see [`pack_key`]).
    #[inline]
    fn matches(&self, s: &Slot, key: &[u8], packed: Option<(u32, u64)>) -> bool {
        if s.meta & SHORT != 0 {
            matches!(packed, Some((len, bytes)) if s.meta & !ENTRY_BITS == SHORT | len << 27 && s.key == bytes)
        } else {
            let at = s.key as usize;
            let len = u32_at(&self.long, at) as usize;
            same_key(&self.long[at + 4..at + 4 + len], key)
        }
    }

    /// The entry of `token`, whose fastText hash is `h`.
    // Always inlined: out of line (`#[inline]` was not followed here), callgrind counted ~17
    // instructions per token of call, register saves and restores around a short probe.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn find(&self, token: &[u8], h: u32) -> Option<u32> {
        let packed = pack_key(token);
        let mut at = spread(h) & self.mask;
        loop {
            let s = self.slots[at];
            if s.meta == 0 {
                return None;
            }
            if s.tag == h && self.matches(&s, token, packed) {
                return Some(if s.meta & SHORT != 0 {
                    s.meta & ENTRY_BITS
                } else {
                    s.meta - 1
                });
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Starts loading the first slot `h` probes (a hint; no effect on results).
    #[inline]
    pub(crate) fn prefetch(&self, h: u32) {
        super::prefetch::read(&self.slots[spread(h) & self.mask]);
    }

    /// Starts loading the key bytes of the first slot `h` probes when its tag is `h` and its key
    /// is not inline (call it after [`WordTable::prefetch`] had time to bring the slot in; a
    /// hint, no effect on results).
    #[inline]
    pub(crate) fn prefetch_record(&self, h: u32) {
        let s = &self.slots[spread(h) & self.mask];
        if s.tag == h && s.meta != 0 && s.meta & SHORT == 0 {
            if let Some(b) = self.long.get(s.key as usize) {
                super::prefetch::read(b);
            }
        }
    }
}

/// The inline form of `key` (length and packed bytes) when it has at most 8 bytes.
#[inline]
fn pack_key(key: &[u8]) -> Option<(u32, u64)> {
    (key.len() <= 8).then(|| (key.len() as u32, pack(key)))
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
        let t = WordTable::build(keys.iter().map(Vec::as_slice), hashes).unwrap();
        let want = oracle(keys);
        for p in keys.iter().chain(probes) {
            let got = t.find(p, hash_of(p));
            assert_eq!(got, want.get(p.as_slice()).copied(), "token {p:?}");
        }
    }

    proptest! {
        #[test]
        fn pack_is_the_padded_bytes(k in prop::collection::vec(any::<u8>(), 0..=8)) {
            let mut w = [0u8; 8];
            w[..k.len()].copy_from_slice(&k);
            prop_assert_eq!(pack(&k), u64::from_le_bytes(w));
        }
    }

    #[test]
    fn adversarial_vocabularies() {
        // Every key with the same tag: each lookup walks the whole cluster and must compare bytes.
        let keys: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_string().into_bytes()).collect();
        let same = vec![7u32; keys.len()];
        let probes: Vec<Vec<u8>> = (300..400u32).map(|i| i.to_string().into_bytes()).collect();
        check(&keys, &same, &probes, |_| 7);
        // The same with keys of 7 to 12 bytes: inline and out-of-line keys in one cluster, keys
        // that share their first 8 bytes, NUL bytes.
        let keys: Vec<Vec<u8>> = (0..300u32)
            .map(|i| format!("{i:0w$}", w = 7 + i as usize % 6).into_bytes())
            .chain([
                b"abcdefgh".to_vec(),
                b"abcdefgh\0".to_vec(),
                b"ab\0".to_vec(),
            ])
            .collect();
        let same = vec![7u32; keys.len()];
        let probes: Vec<Vec<u8>> = (300..400u32)
            .map(|i| format!("{i:0w$}", w = 7 + i as usize % 6).into_bytes())
            .chain([b"abcdefghi".to_vec(), b"ab".to_vec(), b"ab\0\0".to_vec()])
            .collect();
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
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..200),
            probes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 0..50),
            weak in any::<bool>(),
        ) {
            // `weak`: a 3-bit hash, so most keys share tags and probe chains.
            let h = |k: &[u8]| if weak { hash(k) & 7 } else { hash(k) };
            let hashes: Vec<u32> = keys.iter().map(|k| h(k)).collect();
            check(&keys, &hashes, &probes, h);
        }
    }
}
