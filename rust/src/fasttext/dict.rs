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
use super::table::WordTable;
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

/// `a % d` for `d >= 1` given `magic = u64::MAX / d + 1` (wrapping), exact for every `u32` `a`
/// and `d` (Lemire, Kaser & Kurz, "Faster Remainder by Direct Computation", 2019).
#[inline]
fn fast_mod(a: u32, d: u32, magic: u64) -> u32 {
    let low = magic.wrapping_mul(u64::from(a));
    ((u128::from(low) * u128::from(d)) >> 64) as u32
}

/// `a % d` for `d >= 1` given `magic = u128::MAX / d + 1` (wrapping), exact for every `u64` `a`
/// and `u32` `d`: [`fast_mod`] one size up (the same theorem with 128-bit fractions: exact
/// when the fraction has at least as many bits as the numerator and the divisor together). The
/// 256-bit product's high half is assembled from two 128-bit products.
#[inline]
fn fast_mod64(a: u64, d: u32, magic: u128) -> u64 {
    let low = magic.wrapping_mul(u128::from(a));
    let d = u128::from(d);
    let lo = u128::from(low as u64) * d;
    let hi = (low >> 64) * d;
    ((hi + (lo >> 64)) >> 64) as u64
}

/// One bit per byte of `block` (byte `i` → bit `i`), set where the byte is white space to
/// fastText ([`is_space`]: NUL, `\t`, `\n`, `\v`, `\f`, `\r`, space). SSE2 (x86_64
/// baseline): three compares and a `pmovmskb` per 16 bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
fn space_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
    };
    let mut mask = 0u64;
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // `_mm_loadu_si128` takes a `*const __m128i` but reads unaligned (hence the cast lint).
        #[allow(unused_unsafe, clippy::cast_ptr_alignment)]
        // SAFETY: `chunk` is 16 readable bytes; `_mm_loadu_si128` has no alignment requirement.
        // The other intrinsics only need SSE2, which every x86_64 CPU has.
        let m = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            // `x + 0x77` as a signed byte is below -123 exactly when 0x09 <= x <= 0x0d.
            let controls =
                _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x77)), _mm_set1_epi8(-123));
            let s = _mm_or_si128(
                _mm_or_si128(controls, _mm_cmpeq_epi8(x, _mm_set1_epi8(0x20))),
                _mm_cmpeq_epi8(x, _mm_setzero_si128()),
            );
            _mm_movemask_epi8(s)
        };
        // `_mm_movemask_epi8` returns 16 bits in the low half of an i32.
        mask |= u64::from(m as u16) << (16 * k);
    }
    mask
}

/// Portable version of the x86_64 `space_mask` above.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn space_mask(block: &[u8; 64]) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(is_space(b)) << i))
}

/// The token boundaries of `text` (runs of bytes that are not [`is_space`]) into `edges`
/// (cleared first): token `t` is `text[edges[2t]..edges[2t + 1]]`; `text` is shorter than 4 GB.
/// 64 bytes at a time: the boundaries are the bytes whose class (space or not) differs from the
/// previous byte's (the byte before the text counts as a space), so they alternate start, end,
/// start, …; only the set bits of that mask are visited, and the last block, padded with spaces,
/// closes the last token.
fn token_edges(text: &[u8], edges: &mut Vec<u32>) {
    edges.clear();
    edges.reserve(text.len() + 2);
    // Whether the byte before the block is a non-space.
    let mut carry = 0u64;
    let mut last = [b' '; 64];
    let n_full = text.len() / 64;
    for blk in 0..=n_full {
        let base = 64 * blk;
        let block: &[u8; 64] = if blk < n_full {
            text[base..base + 64].try_into().expect("64 bytes")
        } else {
            let rest = &text[base..];
            last[..rest.len()].copy_from_slice(rest);
            &last
        };
        let word = !space_mask(block);
        let mut m = word ^ ((word << 1) | carry);
        carry = word >> 63;
        while m != 0 {
            edges.push(base as u32 + m.trailing_zeros());
            m &= m - 1;
        }
    }
    debug_assert!(edges.len() % 2 == 0);
}

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
    /// Entry lookup.
    table: WordTable,
    /// Each entry's range `(start, len)` of `word_rows` (labels: empty).
    ranges: Vec<(u32, u32)>,
    /// Input rows of each word (the word, then its subword buckets), precomputed as fastText
    /// does.
    word_rows: Vec<u32>,
    /// Whether words have subword rows (`maxn > 0` and buckets to hash into).
    subwords_on: bool,
    /// `None`: not pruned; `Some(map)`: bucket → remapped bucket (absent: dropped).
    pub(crate) prune: Option<PruneMap>,
    /// The same remapping as an array indexed by bucket (`u32::MAX`: dropped) when `bucket` is
    /// at most [`DENSE_PRUNE_MAX`]: one load per subword instead of a hash map probe (the map
    /// lookups were 15% of a language-ID `.ftz` profile). Empty otherwise.
    prune_dense: Vec<u32>,
    /// One bit per bucket of `prune_dense`: set when the bucket was kept. A pruned model keeps
    /// few buckets (the language-ID `.ftz` of `benches/quality_fasttext.py`: a few dozen of
    /// 200,000), so nearly every subword is answered by this bitmap (25 KB, in L1) instead of a
    /// load from the 800 KB array, which was a cache miss per subword and the largest line of
    /// that model's profile (perf: 17% of the samples on `prune_dense[b]`). Empty with
    /// `prune_dense`.
    prune_bits: Vec<u64>,
    pub(crate) bucket: u32,
    /// `u64::MAX / bucket + 1` (wrapping): `h % bucket` of a `u32` as two multiplications
    /// ([`fast_mod`]) instead of a division, once per subword.
    pub(crate) bucket_magic: u64,
    /// The same for the 64-bit hashes of word n-grams ([`fast_mod64`]).
    pub(crate) bucket_magic64: u128,
    pub(crate) minn: usize,
    pub(crate) maxn: usize,
    pub(crate) word_ngrams: usize,
}

/// Per-thread buffers for [`Dictionary::line`].
#[derive(Default)]
pub(crate) struct LineScratch {
    hashes: Vec<i32>,
    /// The line's tokens (byte ranges) and their fastText hashes.
    tokens: Vec<(u32, u32)>,
    /// Token boundaries of the word-only path ([`token_edges`]).
    edges: Vec<u32>,
    token_hashes: Vec<u32>,
    wrapped: Vec<u8>,
    cache: TokenCache,
}

/// Largest `bucket` whose pruning remap is kept as an array (64 MB).
const DENSE_PRUNE_MAX: u32 = 1 << 24;

/// Prefetch distance in tokens (see [`Dictionary::line`]).
const PREFETCH_TOKENS: usize = 8;

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
            table: WordTable::default(),
            ranges: Vec::new(),
            word_rows: Vec::new(),
            subwords_on: maxn > 0 && bucket > 0,
            prune,
            prune_dense: Vec::new(),
            prune_bits: Vec::new(),
            bucket: bucket.max(0) as u32,
            bucket_magic: (u64::MAX / u64::from(bucket.max(1) as u32)).wrapping_add(1),
            bucket_magic64: (u128::MAX / u128::from(bucket.max(1) as u32)).wrapping_add(1),
            minn: minn.max(0) as usize,
            maxn: maxn.max(0) as usize,
            word_ngrams: word_ngrams.max(0) as usize,
        };
        d.prune_dense = d.dense_prune()?;
        if !d.prune_dense.is_empty() {
            d.prune_bits = vec![0u64; d.prune_dense.len().div_ceil(64)];
            for (b, &to) in d.prune_dense.iter().enumerate() {
                if to != u32::MAX {
                    d.prune_bits[b / 64] |= 1 << (b % 64);
                }
            }
        }
        let ranges = d.build_subwords()?;
        let hashes: Vec<u32> = (0..d.counts.len()).map(|i| hash(d.word(i))).collect();
        d.table = WordTable::build((0..d.counts.len()).map(|i| d.word(i)), &hashes)?;
        d.ranges = ranges;
        Ok(d)
    }

    /// The pruning remap as an array (see `prune_dense`), or nothing.
    fn dense_prune(&self) -> Result<Vec<u32>> {
        let Some(m) = &self.prune else {
            return Ok(Vec::new());
        };
        if self.bucket > DENSE_PRUNE_MAX {
            return Ok(Vec::new());
        }
        let mut dense = crate::alloc::filled(
            self.bucket as usize,
            u32::MAX,
            "model file",
            "pruned buckets",
        )?;
        for (&from, &to) in m {
            // Buckets outside [0, bucket) are never looked up.
            if let Some(slot) = usize::try_from(from).ok().and_then(|f| dense.get_mut(f)) {
                *slot = to as u32;
            }
        }
        Ok(dense)
    }

    /// The input rows of every in-vocabulary word: counted first (without hashing) so that a
    /// hostile `maxn` with long words is a `MemoryError`, not an abort. Returns each entry's
    /// range `(start, len)` of the rows (labels: empty).
    fn build_subwords(&mut self) -> Result<Vec<(u32, u32)>> {
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
        if total > u64::from(u32::MAX) {
            return Err(invalid(format!(
                "the words' subwords make {total} input rows (at most {} supported)",
                u32::MAX
            )));
        }
        let mut rows =
            crate::alloc::with_capacity::<u32>(total as usize, "model file", "subword rows")?;
        let mut ranges =
            crate::alloc::with_capacity::<(u32, u32)>(self.counts.len(), "model file", "words")?;
        let mut wrapped = Vec::new();
        for i in 0..self.nwords {
            let start = rows.len();
            rows.push(i as u32);
            let w = &self.bytes[self.starts[i]..self.starts[i + 1]];
            if hashing && w != EOS {
                wrapped.clear();
                wrapped.push(b'<');
                wrapped.extend_from_slice(w);
                wrapped.push(b'>');
                self.subwords(&wrapped, &mut rows);
            }
            ranges.push((start as u32, (rows.len() - start) as u32));
        }
        ranges.resize(self.counts.len(), (0, 0));
        self.word_rows = rows;
        Ok(ranges)
    }

    /// Upper bound of the subword buckets of `word` (wrapped in `<`…`>`).
    fn count_subwords(&self, word: &[u8]) -> u64 {
        let chars = 2 + word.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        let lo = self.minn.max(1) as u64;
        let hi = (self.maxn as u64).min(chars);
        (lo..=hi).map(|n| chars - n + 1).sum()
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

    // Always inlined: out of line it was a call per word n-gram and subword (callgrind).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn push_bucket(&self, out: &mut Vec<u32>, b: u64) {
        // b < bucket ≤ i32::MAX.
        match &self.prune {
            None => out.push((self.nwords as u64 + b) as u32),
            Some(_) if !self.prune_dense.is_empty() => {
                let b = b as usize;
                if self.prune_bits[b / 64] & (1 << (b % 64)) == 0 {
                    return;
                }
                let to = self.prune_dense[b];
                if to != u32::MAX {
                    out.push((self.nwords + to as usize) as u32);
                }
            }
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
                    let b = fast_mod(h, self.bucket, self.bucket_magic);
                    self.push_bucket(out, u64::from(b));
                }
                n += 1;
            }
        }
    }

    /// Appends the rows of `token` (hash `h`) to `out`; returns whether it is a word.
    fn token_rows(&self, token: &[u8], h: u32, out: &mut Vec<u32>, wrapped: &mut Vec<u8>) -> bool {
        let id = self.table.find(token, h);
        let is_word = match id {
            Some(e) => (e as usize) < self.nwords,
            None => !token.starts_with(LABEL_PREFIX),
        };
        if is_word {
            match id {
                Some(e) if !self.subwords_on => out.push(e),
                Some(e) => {
                    let (start, len) = self.ranges[e as usize];
                    out.extend_from_slice(&self.word_rows[start as usize..(start + len) as usize]);
                }
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
    ///
    /// Two passes: the line is first cut into tokens and hashed, then the tokens are looked up
    /// with the table slot of the token [`PREFETCH_TOKENS`] ahead already requested, so that
    /// the slots' cache misses overlap. Subword models go through the per-thread memo first
    /// (it saves the subword hashing of out-of-vocabulary words); word models do not need it.
    ///
    /// `prefetch_row(r)` is called as soon as input row `r` is known, on the path of models
    /// without subwords (a hint: the caller starts loading the row, which it sums later).
    pub(crate) fn line(
        &self,
        text: &[u8],
        out: &mut Vec<u32>,
        s: &mut LineScratch,
        prefetch_row: impl Fn(u32),
    ) {
        if !self.subwords_on && text.len() < u32::MAX as usize {
            return self.line_words(text, out, s, prefetch_row);
        }
        out.clear();
        s.hashes.clear();
        s.tokens.clear();
        s.token_hashes.clear();
        let mut at = 0;
        while at < text.len() {
            if is_space(text[at]) {
                at += 1;
                continue;
            }
            let start = at;
            while at < text.len() && !is_space(text[at]) {
                at += 1;
            }
            // Line offsets are u32: longer texts go through the slow path one token at a time.
            if at > u32::MAX as usize {
                return self.line_unbatched(text, out, s);
            }
            s.tokens.push((start as u32, at as u32));
            s.token_hashes.push(hash(&text[start..at]));
        }
        s.token_hashes.push(hash(EOS));
        // A token's slot is requested 2·D tokens ahead, its record (found through the slot,
        // in cache by then) D tokens ahead.
        // Subword models look tokens up in the memo first: prefetch there.
        let memo = self.subwords_on;
        for &h in s.token_hashes.iter().take(2 * PREFETCH_TOKENS) {
            if memo {
                s.cache.prefetch(h);
            } else {
                self.table.prefetch(h);
            }
        }
        for j in 0..s.token_hashes.len() {
            let th = s.token_hashes[j];
            if let Some(&ahead) = s.token_hashes.get(j + 2 * PREFETCH_TOKENS) {
                if memo {
                    s.cache.prefetch(ahead);
                } else {
                    self.table.prefetch(ahead);
                }
            }
            if let Some(&ahead) = s.token_hashes.get(j + PREFETCH_TOKENS) {
                if memo {
                    s.cache.prefetch_entry(ahead);
                } else {
                    self.table.prefetch_record(ahead);
                }
            }
            let token = match s.tokens.get(j) {
                Some(&(a, b)) => &text[a as usize..b as usize],
                None => EOS,
            };
            self.resolve(token, th, out, s);
            if token == EOS {
                break;
            }
        }
        self.word_ngrams(out, &s.hashes, |_| {});
    }

    /// [`Dictionary::line`] for models without subwords (word n-gram classifiers such as DCLM's
    /// quality model): the same rows in the same order, with less work per token.
    ///
    /// Profile that shaped it (callgrind and `perf record` of `examples/fasttext_predict.rs` on
    /// `benches/quality_fasttext.py`'s word-bigram `.bin`, 811 tokens per document): ~520
    /// instructions per token, of which ~55 cut tokens one byte at a time (a branch per byte),
    /// ~120 resolved a token through two out-of-line calls (`resolve`, `token_rows`, shared with
    /// the subword path's memo) and ~30 hashed bigrams with a 64-bit division. Here tokens are cut
    /// 64 bytes at a time from a white-space bit mask ([`space_mask`]), each token is resolved
    /// inline (table slot and record prefetched ahead as before) and bigram buckets use a
    /// multiplicative remainder ([`fast_mod64`]).
    fn line_words(
        &self,
        text: &[u8],
        out: &mut Vec<u32>,
        s: &mut LineScratch,
        prefetch_row: impl Fn(u32),
    ) {
        out.clear();
        s.hashes.clear();
        token_edges(text, &mut s.edges);
        s.token_hashes.clear();
        s.token_hashes.reserve(s.edges.len() / 2 + 1);
        for e in s.edges.chunks_exact(2) {
            s.token_hashes
                .push(hash(&text[e[0] as usize..e[1] as usize]));
        }
        s.token_hashes.push(hash(EOS));
        let hs = &s.token_hashes;
        let n = hs.len();
        out.reserve(n * self.word_ngrams.max(1));
        s.hashes.reserve(n);
        // A token's slot is requested 2·D tokens ahead, its key (when not inline in the slot,
        // which is in cache by then) D tokens ahead, and its input row as soon as it is known.
        for &h in hs.iter().take(2 * PREFETCH_TOKENS) {
            self.table.prefetch(h);
        }
        for j in 0..n {
            if let Some(&ahead) = hs.get(j + 2 * PREFETCH_TOKENS) {
                self.table.prefetch(ahead);
            }
            if let Some(&ahead) = hs.get(j + PREFETCH_TOKENS) {
                self.table.prefetch_record(ahead);
            }
            let h = hs[j];
            let token = match s.edges.get(2 * j..2 * j + 2) {
                Some(e) => &text[e[0] as usize..e[1] as usize],
                None => EOS,
            };
            let is_word = match self.table.find(token, h) {
                Some(e) if (e as usize) < self.nwords => {
                    prefetch_row(e);
                    out.push(e);
                    true
                }
                Some(_) => false,
                None => !token.starts_with(LABEL_PREFIX),
            };
            if is_word {
                s.hashes.push(h as i32);
            }
            if token.len() == EOS.len() && token == EOS {
                break;
            }
        }
        self.word_ngrams(out, &s.hashes, prefetch_row);
    }

    /// [`Dictionary::line`] without the token list (for lines over 4 GB).
    fn line_unbatched(&self, text: &[u8], out: &mut Vec<u32>, s: &mut LineScratch) {
        out.clear();
        s.hashes.clear();
        let tokens = text
            .split(|&b| is_space(b))
            .filter(|t| !t.is_empty())
            .chain(std::iter::once(EOS));
        for token in tokens {
            self.resolve(token, hash(token), out, s);
            if token == EOS {
                break;
            }
        }
        self.word_ngrams(out, &s.hashes, |_| {});
    }

    /// Appends the rows of `token` (hash `h`) and records its hash when it is a word; returns
    /// whether it is one.
    #[inline]
    fn resolve(&self, token: &[u8], h: u32, out: &mut Vec<u32>, s: &mut LineScratch) -> bool {
        let is_word = if !self.subwords_on || token.len() > MAX_KEY {
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
        is_word
    }

    /// Appends the bucket of every word n-gram (2 ≤ n ≤ `wordNgrams`) of the word hashes `hs`.
    fn word_ngrams(&self, out: &mut Vec<u32>, hs: &[i32], prefetch_row: impl Fn(u32)) {
        if self.word_ngrams > 1 && self.bucket > 0 && self.prune.is_none() {
            // Not pruned: every n-gram has its row (the common case, written out so that the
            // loop has no branch per n-gram).
            let nwords = self.nwords as u64;
            for i in 0..hs.len() {
                let mut h = i64::from(hs[i]) as u64;
                for &next in &hs[i + 1..(i + self.word_ngrams).min(hs.len())] {
                    h = h
                        .wrapping_mul(116_049_371)
                        .wrapping_add(i64::from(next) as u64);
                    // nwords and bucket are i32 values: the row fits a u32.
                    let row = (nwords + fast_mod64(h, self.bucket, self.bucket_magic64)) as u32;
                    prefetch_row(row);
                    out.push(row);
                }
            }
        } else if self.word_ngrams > 1 && self.bucket > 0 {
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
                    self.push_bucket(out, fast_mod64(h, self.bucket, self.bucket_magic64));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Divisors at the edges of both remainders (1, powers of two, bucket counts, `u32::MAX`).
    const DIVISORS: [u32; 9] = [
        1,
        2,
        3,
        7,
        200_000,
        2_000_000,
        (1 << 31) - 1,
        1 << 31,
        u32::MAX,
    ];

    fn magic(d: u32) -> u64 {
        (u64::MAX / u64::from(d)).wrapping_add(1)
    }

    #[test]
    fn fast_mod_edges() {
        for d in DIVISORS {
            for a in [
                0u32,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u32::MAX,
                u32::MAX - 1,
                1 << 31,
            ] {
                assert_eq!(fast_mod(a, d, magic(d)), a % d, "{a} % {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn fast_mod_is_modulo(a in any::<u32>(), d in 1u32..) {
            prop_assert_eq!(fast_mod(a, d, magic(d)), a % d);
        }
    }

    fn magic64(d: u32) -> u128 {
        (u128::MAX / u128::from(d)).wrapping_add(1)
    }

    #[test]
    fn fast_mod64_edges() {
        for d in DIVISORS {
            for a in [
                0u64,
                1,
                u64::from(d) - 1,
                u64::from(d),
                u64::from(d) + 1,
                u64::MAX,
                u64::MAX - 1,
                1 << 63,
                (1 << 63) - 1,
                u64::from(u32::MAX),
            ] {
                assert_eq!(fast_mod64(a, d, magic64(d)), a % u64::from(d), "{a} % {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn fast_mod64_is_modulo(a in any::<u64>(), d in 1u32..) {
            prop_assert_eq!(fast_mod64(a, d, magic64(d)), a % u64::from(d));
        }

        #[test]
        fn token_edges_are_the_white_space_split(
            bytes in prop::collection::vec(
                prop::sample::select(vec![b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c, 0, b'a', 0xc3, 0x1c, 0xa0]),
                0..300,
            ),
        ) {
            let mut edges = Vec::new();
            token_edges(&bytes, &mut edges);
            let got: Vec<&[u8]> = edges
                .chunks_exact(2)
                .map(|e| &bytes[e[0] as usize..e[1] as usize])
                .collect();
            let want: Vec<&[u8]> = bytes.split(|&b| is_space(b)).filter(|t| !t.is_empty()).collect();
            prop_assert_eq!(got, want);
        }
    }

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
