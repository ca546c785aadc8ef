//! The fastText dictionary and the line → input-row mapping of its supervised `getLine`.
//!
//! A line is cut into tokens at the bytes fastText treats as white space (space, `\n`, `\r`,
//! `\t`, `\v`, `\f`, NUL) and an end-of-sentence token `</s>` is appended, as fastText's reader
//! does at the line's newline. Each token contributes
//! - an in-vocabulary word: its row, plus (when `maxn > 0`) its character n-gram buckets;
//! - an out-of-vocabulary word: its character n-gram buckets only (none for `</s>`);
//! - a label (in the dictionary, or any token starting with `__label__`): nothing;
//!
//! then every word n-gram (2 ≤ n ≤ `wordNgrams`) over the word tokens adds one bucket. Processing
//! stops after a `</s>` token, so text after a literal `</s>` is ignored, exactly as in fastText.
//!
//! Buckets: character n-grams of `<word>` (`minn..=maxn` code points, never the lone `<` or `>`)
//! hash with 32-bit FNV-1a over *sign-extended* bytes (fastText hashes `int8_t(c)`), modulo
//! `bucket`; word n-grams fold the token hashes (sign-extended to 64 bits) as
//! `h = h · 116049371 + h_next`, modulo `bucket`. Bucket `b` is input row `nwords + b`, or, in a
//! pruned (quantized with `cutoff`) model, its remapped row, or nothing when it was pruned away.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::cache::{TokenCache, MAX_KEY};
use super::read::{invalid, non_negative, Reader};
use crate::error::Result;

/// The end-of-sentence token.
pub const EOS: &[u8] = b"</s>";
/// The prefix that makes a token a label (fastText's default `-label`, which the file does not
/// store, so every loader uses the default).
pub const LABEL_PREFIX: &[u8] = b"__label__";

const FNV_OFFSET: u32 = 2_166_136_261;

/// One byte of FNV-1a as fastText hashes it (the byte sign-extended).
#[inline]
fn fnv_step(h: u32, b: u8) -> u32 {
    (h ^ b as i8 as u32).wrapping_mul(16_777_619)
}

/// 32-bit FNV-1a over sign-extended bytes (fastText's `Dictionary::hash`).
#[inline]
pub fn hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

/// Hasher of the pruned-bucket map: one multiplication (the default SipHash took a third of
/// the time of a quantized subword model in the profile).
#[derive(Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.0 = u64::from(i as u32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Bucket → remapped bucket of a pruned model.
pub(crate) type PruneMap = HashMap<i32, i32, BuildHasherDefault<IntHasher>>;

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

/// The dictionary: entries (words first, then labels), a lookup table, the bucket remapping of
/// pruned models and the hashing parameters it needs.
#[derive(Debug)]
pub(crate) struct Dictionary {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    pub(crate) counts: Vec<i64>,
    pub(crate) nwords: usize,
    pub(crate) nlabels: usize,
    /// Open addressing over `hash(word)`: entry index + 1, 0 for an empty slot.
    table: Vec<u32>,
    mask: usize,
    /// Input rows of each word (the word, then its subword buckets), precomputed as fastText
    /// does: CSR offsets over `words_rows`.
    word_starts: Vec<usize>,
    word_rows: Vec<u32>,
    /// `None`: not pruned; `Some(map)`: bucket → remapped bucket (absent: dropped).
    pub(crate) prune: Option<PruneMap>,
    pub(crate) bucket: u32,
    pub(crate) minn: usize,
    pub(crate) maxn: usize,
    pub(crate) word_ngrams: usize,
}

/// Per-thread buffers for [`Dictionary::line`].
#[derive(Default)]
pub(crate) struct LineScratch {
    hashes: Vec<i32>,
    wrapped: Vec<u8>,
    cache: TokenCache,
}

impl Dictionary {
    /// Reads the dictionary part of the file.
    pub(crate) fn read(
        r: &mut Reader<'_>,
        bucket: i32,
        minn: i32,
        maxn: i32,
        word_ngrams: i32,
    ) -> Result<Self> {
        let size = non_negative(r.i32("dictionary size")?.into(), "dictionary size")?;
        let nwords = non_negative(r.i32("dictionary nwords")?.into(), "dictionary nwords")?;
        let nlabels = non_negative(r.i32("dictionary nlabels")?.into(), "dictionary nlabels")?;
        let _ntokens = r.i64("dictionary ntokens")?;
        let prune_size = r.i64("dictionary pruneidx_size")?;
        if nwords + nlabels != size {
            return Err(invalid(format!(
                "dictionary: nwords {nwords} + nlabels {nlabels} != size {size}"
            )));
        }
        // Each entry takes at least 10 bytes (NUL, i64 count, i8 type): bound `size` by the file
        // before reserving anything.
        if size as u64 * 10 > r.remaining() as u64 {
            return Err(invalid(format!(
                "truncated file: dictionary of {size} entries needs at least {} bytes, only {} left",
                size as u64 * 10,
                r.remaining()
            )));
        }
        let mut bytes = Vec::new();
        let mut starts = Vec::with_capacity(size + 1);
        let mut counts = Vec::with_capacity(size);
        starts.push(0);
        for i in 0..size {
            let w = r.cstr("dictionary entry")?;
            bytes.extend_from_slice(w);
            starts.push(bytes.len());
            counts.push(r.i64("dictionary entry count")?);
            let ty = r.u8("dictionary entry type")?;
            let expected = u8::from(i >= nwords);
            if ty != expected {
                return Err(invalid(format!(
                    "dictionary entry {i} has type {ty}, expected {expected} \
                     (words first, then labels)"
                )));
            }
        }
        let prune = if prune_size < 0 {
            None
        } else {
            let n = prune_size as u64;
            if n.saturating_mul(8) > r.remaining() as u64 {
                return Err(invalid(format!(
                    "truncated file: {n} pruned buckets need {} bytes, only {} left",
                    n.saturating_mul(8),
                    r.remaining()
                )));
            }
            let mut m =
                PruneMap::with_capacity_and_hasher(n as usize, BuildHasherDefault::default());
            for _ in 0..n {
                let from = r.i32("pruned bucket")?;
                let to = r.i32("pruned bucket")?;
                if to < 0 {
                    return Err(invalid(format!("pruned bucket {from} maps to {to} < 0")));
                }
                m.insert(from, to);
            }
            Some(m)
        };
        let needs_buckets = maxn > 0 || word_ngrams > 1;
        if needs_buckets && bucket <= 0 && !matches!(&prune, Some(m) if m.is_empty()) {
            return Err(invalid(format!(
                "bucket is {bucket} but the model hashes subwords or word n-grams \
                 (maxn {maxn}, wordNgrams {word_ngrams})"
            )));
        }
        let mut d = Self {
            bytes,
            starts,
            counts,
            nwords,
            nlabels,
            table: Vec::new(),
            mask: 0,
            word_starts: Vec::new(),
            word_rows: Vec::new(),
            prune,
            bucket: bucket.max(0) as u32,
            minn: minn.max(0) as usize,
            maxn: maxn.max(0) as usize,
            word_ngrams: word_ngrams.max(0) as usize,
        };
        d.build_table();
        d.build_subwords()?;
        Ok(d)
    }

    /// The input rows of every in-vocabulary word: counted first (without hashing) so that a
    /// hostile `maxn` with long words is a `MemoryError`, not an abort.
    fn build_subwords(&mut self) -> Result<()> {
        let hashing = self.maxn > 0 && self.bucket > 0;
        let mut total = 0u64;
        if hashing {
            for i in 0..self.nwords {
                let w = self.word(i);
                if w != EOS {
                    total += self.count_subwords(w);
                }
            }
        }
        total += self.nwords as u64;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let mut rows = crate::alloc::with_capacity::<u32>(total, "model file", "subword rows")?;
        let mut starts =
            crate::alloc::with_capacity::<usize>(self.nwords + 1, "model file", "words")?;
        starts.push(0);
        let mut wrapped = Vec::new();
        for i in 0..self.nwords {
            rows.push(i as u32);
            let w = &self.bytes[self.starts[i]..self.starts[i + 1]];
            if hashing && w != EOS {
                wrapped.clear();
                wrapped.push(b'<');
                wrapped.extend_from_slice(w);
                wrapped.push(b'>');
                self.subwords(&wrapped, &mut rows);
            }
            starts.push(rows.len());
        }
        self.word_rows = rows;
        self.word_starts = starts;
        Ok(())
    }

    /// Upper bound of the subword buckets of `word` (wrapped in `<`…`>`).
    fn count_subwords(&self, word: &[u8]) -> u64 {
        let chars = 2 + word.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        let lo = self.minn.max(1) as u64;
        let hi = (self.maxn as u64).min(chars);
        (lo..=hi).map(|n| chars - n + 1).sum()
    }

    fn build_table(&mut self) {
        let n = self.counts.len();
        let cap = (2 * n).next_power_of_two().max(2);
        self.table = vec![0; cap];
        self.mask = cap - 1;
        for i in 0..n {
            let w = self.word(i);
            let mut slot = hash(w) as usize & self.mask;
            // A repeated entry replaces the earlier one, as in fastText's table.
            loop {
                let e = self.table[slot];
                if e == 0 || self.word(e as usize - 1) == w {
                    self.table[slot] = i as u32 + 1;
                    break;
                }
                slot = (slot + 1) & self.mask;
            }
        }
    }

    /// Entry `i`'s bytes.
    pub(crate) fn word(&self, i: usize) -> &[u8] {
        &self.bytes[self.starts[i]..self.starts[i + 1]]
    }

    /// Label `j`'s bytes.
    pub(crate) fn label(&self, j: usize) -> &[u8] {
        self.word(self.nwords + j)
    }

    /// Largest input row the dictionary can produce, plus one.
    pub(crate) fn input_rows_needed(&self) -> usize {
        let buckets = match &self.prune {
            None => self.bucket as usize,
            Some(m) => m.values().map(|&v| v as usize + 1).max().unwrap_or(0),
        };
        self.nwords + buckets
    }

    #[inline]
    fn find(&self, w: &[u8], h: u32) -> Option<usize> {
        let mut slot = h as usize & self.mask;
        loop {
            let e = self.table[slot];
            if e == 0 {
                return None;
            }
            let i = e as usize - 1;
            if self.word(i) == w {
                return Some(i);
            }
            slot = (slot + 1) & self.mask;
        }
    }

    #[inline]
    fn push_bucket(&self, out: &mut Vec<u32>, b: u64) {
        // b < bucket ≤ i32::MAX.
        match &self.prune {
            None => out.push((self.nwords as u64 + b) as u32),
            Some(m) => {
                if let Some(&to) = m.get(&(b as i32)) {
                    out.push((self.nwords + to as usize) as u32);
                }
            }
        }
    }

    /// Character n-gram buckets of `word` (already wrapped in `<`…`>`), n in `minn..=maxn` code
    /// points (UTF-8 continuation bytes never start an n-gram). The hash of an n-gram extends the
    /// hash of the one before it at the same start (FNV-1a is a left fold), so each start costs
    /// `maxn` code points, not `maxn²`.
    fn subwords(&self, word: &[u8], out: &mut Vec<u32>) {
        let len = word.len();
        for i in 0..len {
            if word[i] & 0xC0 == 0x80 {
                continue;
            }
            let mut h = FNV_OFFSET;
            let mut j = i;
            let mut n = 1;
            while j < len && n <= self.maxn {
                h = fnv_step(h, word[j]);
                j += 1;
                while j < len && word[j] & 0xC0 == 0x80 {
                    h = fnv_step(h, word[j]);
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == len)) {
                    self.push_bucket(out, u64::from(h % self.bucket));
                }
                n += 1;
            }
        }
    }

    /// Appends the rows of `token` (hash `h`) to `out`; returns whether it is a word.
    fn token_rows(&self, token: &[u8], h: u32, out: &mut Vec<u32>, wrapped: &mut Vec<u8>) -> bool {
        let id = self.find(token, h);
        let is_word = match id {
            Some(i) => i < self.nwords,
            None => !token.starts_with(LABEL_PREFIX),
        };
        if is_word {
            match id {
                Some(i) => out.extend_from_slice(
                    &self.word_rows[self.word_starts[i]..self.word_starts[i + 1]],
                ),
                None if self.maxn > 0 && self.bucket > 0 && token != EOS => {
                    wrapped.clear();
                    wrapped.push(b'<');
                    wrapped.extend_from_slice(token);
                    wrapped.push(b'>');
                    self.subwords(wrapped, out);
                }
                None => {}
            }
        }
        is_word
    }

    /// The input rows of one line of text (see the module docs), appended to `out`.
    pub(crate) fn line(&self, text: &[u8], out: &mut Vec<u32>, s: &mut LineScratch) {
        out.clear();
        s.hashes.clear();
        let tokens = text
            .split(|&b| is_space(b))
            .filter(|t| !t.is_empty())
            .chain(std::iter::once(EOS));
        for token in tokens {
            let h = hash(token);
            let is_word = if token.len() > MAX_KEY {
                self.token_rows(token, h, out, &mut s.wrapped)
            } else {
                let e = if let Some(e) = s.cache.get(token, h) {
                    e
                } else {
                    let start = s.cache.begin();
                    let word = self.token_rows(token, h, &mut s.cache.rows, &mut s.wrapped);
                    s.cache.insert(token, h, word, start)
                };
                out.extend_from_slice(s.cache.rows_of(&e));
                e.word
            };
            if is_word {
                s.hashes.push(h as i32);
            }
            if token == EOS {
                break;
            }
        }
        if self.word_ngrams > 1 && self.bucket > 0 {
            let hs = &s.hashes;
            for i in 0..hs.len() {
                let mut h = i64::from(hs[i]) as u64;
                for &next in hs
                    .iter()
                    .take((i + self.word_ngrams).min(hs.len()))
                    .skip(i + 1)
                {
                    h = h
                        .wrapping_mul(116_049_371)
                        .wrapping_add(i64::from(next) as u64);
                    self.push_bucket(out, h % u64::from(self.bucket));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_hashes_sign_extended_bytes() {
        assert_eq!(hash(b""), 2_166_136_261);
        // FNV-1a of "a" (0x61 is positive as i8, so this is the textbook value).
        assert_eq!(hash(b"a"), 0xe40c_292c);
        // 0xC3 sign-extends to 0xFFFFFFC3 before the xor: differs from unsigned FNV-1a.
        let unsigned = (0x811c_9dc5_u32 ^ 0xC3).wrapping_mul(16_777_619);
        assert_ne!(hash(&[0xC3]), unsigned);
    }
}
