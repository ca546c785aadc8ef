//! The DSIR reference's bucket function, `int(sha256(ngram).hexdigest(), 16) % n_buckets`, and a
//! per-thread memo that makes it affordable.

use crate::hash::hash64;

/// `int(sha256(bytes).hexdigest(), 16) % n`, by Horner's rule over the digest read as eight
/// big-endian 32-bit digits (8 divisions instead of 32: the modulo was most of the cost).
pub fn sha256_mod(bytes: &[u8], n: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let m = u64::from(n);
    // acc < 2^32, so acc * 2^32 + digit < 2^64 never overflows.
    digest.chunks_exact(4).fold(0u64, |acc, d| {
        ((acc << 32) | u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))) % m
    }) as u32
}

/// Memo of n-gram → SHA-256 bucket. SHA-256 plus the 256-bit modulo costs ~20× an XXH3 bucket,
/// and n-grams are Zipf-distributed, so most lookups hit. A direct-mapped table indexed by the
/// n-gram's XXH3 hash; a slot stores the exact bytes (up to [`MEMO_BYTES`]), so a hash collision
/// can never change a bucket, and longer n-grams simply bypass the memo.
#[derive(Default)]
pub(super) struct ShaCache {
    n_buckets: u32,
    slots: Vec<MemoSlot>,
}

/// Longest n-gram (bytes) kept in the SHA-256 memo.
const MEMO_BYTES: usize = 51;

#[derive(Clone, Copy)]
struct MemoSlot {
    hash: u64,
    bucket: u32,
    /// `u8::MAX`: empty.
    len: u8,
    bytes: [u8; MEMO_BYTES],
}

impl ShaCache {
    /// 2^16 slots of 64 bytes: 4 MiB per thread.
    const SLOTS: usize = 1 << 16;

    #[inline]
    pub(super) fn bucket(&mut self, bytes: &[u8], n_buckets: u32) -> u32 {
        if bytes.len() > MEMO_BYTES {
            return sha256_mod(bytes, n_buckets);
        }
        if self.n_buckets != n_buckets || self.slots.is_empty() {
            let empty = MemoSlot {
                hash: 0,
                bucket: 0,
                len: u8::MAX,
                bytes: [0; MEMO_BYTES],
            };
            self.slots.clear();
            self.slots.resize(Self::SLOTS, empty);
            self.n_buckets = n_buckets;
        }
        let h = hash64(bytes, 0);
        let slot = &mut self.slots[(h as usize) & (Self::SLOTS - 1)];
        if slot.hash == h
            && usize::from(slot.len) == bytes.len()
            && &slot.bytes[..bytes.len()] == bytes
        {
            return slot.bucket;
        }
        let b = sha256_mod(bytes, n_buckets);
        slot.hash = h;
        slot.bucket = b;
        slot.len = bytes.len() as u8;
        slot.bytes[..bytes.len()].copy_from_slice(bytes);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::{Analyzer, HashKind, NgramConfig, Scratch};
    use crate::text::Normalizer;

    #[test]
    fn sha256_mod_matches_python() {
        // int(hashlib.sha256(w).hexdigest(), 16) % n, computed with CPython.
        assert_eq!(sha256_mod(b"hello", 10_000), 7_620);
        assert_eq!(sha256_mod(b"", 10_000), 6_549);
        assert_eq!(sha256_mod(b"hello world", 10_000), 1_529);
        assert_eq!(sha256_mod(b"hello", u32::MAX), 3_130_145_490);
    }

    #[test]
    fn sha256_buckets_through_the_memo() {
        let cfg = NgramConfig {
            normalizer: Normalizer::default(),
            analyzer: Analyzer::Word,
            min_n: 1,
            max_n: 2,
            n_buckets: 10_000,
            seed: 0,
            hash: HashKind::Sha256Mod,
        };
        let text = "a b a b c a b";
        let toks: Vec<&str> = text.split(' ').collect();
        let mut want = Vec::new();
        for i in 0..toks.len() {
            want.push(sha256_mod(toks[i].as_bytes(), 10_000));
            if i > 0 {
                want.push(sha256_mod(
                    format!("{} {}", toks[i - 1], toks[i]).as_bytes(),
                    10_000,
                ));
            }
        }
        let mut scratch = Scratch::default();
        for nb in [10_000, 10_000, 77] {
            let mut got = Vec::new();
            let c = NgramConfig {
                n_buckets: nb,
                ..cfg
            };
            c.for_each_bucket(text, &mut scratch, |b| got.push(b));
            if nb == 10_000 {
                assert_eq!(got, want);
            } else {
                // A different bucket count must not reuse memoised buckets.
                assert_eq!(got[0], sha256_mod(b"a", 77));
                assert_eq!(got[2], sha256_mod(b"a b", 77));
            }
        }
    }
}
