//! Word tokens and word n-grams of one document, for the featuriser's hot loop.
//!
//! Profile that shaped this file (`perf record` of `HashingFeaturizer.count`, 3,000 corpus
//! documents, one thread): the previous kernel spent half its time in the tokeniser, a loop that
//! classified, lowercased and copied each byte into a token stream and branched at every token
//! boundary (one mispredicted branch per token), and a further 10% copying tokens. Here:
//!
//! 1. lowercasing is one vectorised pass over a copy of an ASCII text (`make_ascii_lowercase`);
//!    non-ASCII or punctuation-stripped text goes through [`Normalizer::apply`] as before;
//! 2. the token spans come from bit masks, 64 bytes at a time: class masks by SWAR arithmetic,
//!    token starts and ends as masks derived from them, and a visit of their set bits only (no
//!    branch per byte, one loop exit per block instead of a mispredicted branch per token);
//! 3. an n-gram is hashed in place when its tokens are separated by single ASCII spaces in the
//!    (normalised) text — then its bytes already are the tokens joined by `' '` — and only the
//!    others are joined in a scratch buffer.
//!
//! The bytes handed to the hash are exactly those of the previous kernel (tokens joined by one
//! space), so every bucket is unchanged; the oracle tests compare them with Python.

use crate::hash::{bucket, hash64, ShortXxh3};
use crate::text::{char_class, CharClass, Normalizer};

/// Per-thread buffers of the word scan, reused across documents.
#[derive(Default)]
pub(super) struct WordScratch {
    /// The normalised text, when it differs from the input.
    norm: String,
    /// The lowercased copy of an ASCII text.
    lower: String,
    /// Token starts and ends (byte offsets).
    starts: Vec<usize>,
    ends: Vec<usize>,
    /// An n-gram whose tokens are not separated by single spaces, joined.
    join: Vec<u8>,
    /// The slots of [`WordScratch::buckets_upto2`] (4 KB, allocated on first use).
    block: Option<Box<Block>>,
}

/// The text to tokenise: the normalised text, computed on the cheapest path. ASCII text that
/// keeps its punctuation needs at most a lowercased copy: NFKC leaves ASCII unchanged and
/// whitespace folding changes no token.
fn normalised<'a>(
    text: &'a str,
    normalizer: Normalizer,
    norm: &'a mut String,
    lower: &'a mut String,
) -> &'a str {
    if text.is_ascii() && !normalizer.strip_punctuation {
        if normalizer.lowercase {
            lower.clear();
            lower.push_str(text);
            lower.make_ascii_lowercase();
            return lower;
        }
        return text;
    }
    normalizer.apply(text, norm)
}

/// Word, space and non-ASCII masks of a 64-byte block (byte `i` → bit `i`). The word and space
/// masks are those of ASCII bytes; bytes of 0x80 and above are in neither (the caller classifies
/// them per character).
///
/// Hand-written SIMD because the compiler does not vectorise the SWAR fallback below into byte
/// compares and `pmovmskb`: callgrind counted the SWAR classification (8 bytes per step, ~5
/// instructions per range test, 5 range tests and 3 multiply-based movemasks) at ~4 instructions
/// per byte; SSE2 does 16 bytes per step with one add and one compare per range and a single
/// `pmovmskb` per mask, about 1 instruction per byte. SSE2 is part of the x86_64 baseline, so
/// this needs no runtime feature detection; other targets take the SWAR version.
#[cfg(target_arch = "x86_64")]
#[inline]
fn block_masks(block: &[u8; 64]) -> (u64, u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    // The intrinsics below are safe to call where SSE2 is enabled (always, on x86_64) from Rust
    // 1.87 on; the crate's minimum Rust version (1.84) still requires `unsafe` for them, hence
    // the `unsafe` blocks that newer compilers find unused.
    #[allow(unused_unsafe)]
    #[inline]
    fn in_range(x: __m128i, lo: u8, hi: u8) -> __m128i {
        // `x - lo + 0x80` (wrapping) as a signed byte is below `-128 + (hi - lo + 1)` exactly
        // when `lo <= x <= hi`, for every byte value.
        unsafe {
            let t = _mm_add_epi8(x, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
            _mm_cmplt_epi8(t, _mm_set1_epi8((0x80 + (hi - lo) + 1) as i8))
        }
    }
    let (mut word, mut space, mut high) = (0u64, 0u64, 0u64);
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // `_mm_loadu_si128` takes a `*const __m128i` but reads unaligned (hence the cast lint).
        #[allow(unused_unsafe, clippy::cast_ptr_alignment)]
        // SAFETY: `chunk` is 16 readable bytes; `_mm_loadu_si128` has no alignment requirement.
        // The other intrinsics only need SSE2, which every x86_64 CPU has.
        let (w, s, h) = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let w = _mm_or_si128(
                _mm_or_si128(
                    in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), b'a', b'z'),
                    in_range(x, b'0', b'9'),
                ),
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'_' as i8)),
            );
            let s = _mm_or_si128(in_range(x, 0x09, 0x0d), in_range(x, 0x1c, 0x20));
            (
                _mm_movemask_epi8(w),
                _mm_movemask_epi8(s),
                _mm_movemask_epi8(x),
            )
        };
        // `_mm_movemask_epi8` returns 16 bits in the low half of an i32.
        word |= u64::from(w as u16) << (16 * k);
        space |= u64::from(s as u16) << (16 * k);
        high |= u64::from(h as u16) << (16 * k);
    }
    (word, space, high)
}

/// Eight bytes with the high bit of each set.
#[cfg(not(target_arch = "x86_64"))]
const HIGH: u64 = 0x8080_8080_8080_8080;
/// Eight bytes of value 1.
#[cfg(not(target_arch = "x86_64"))]
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `x` (bytes below 0x80) is set where `lo <= byte <= hi`.
/// SWAR ("SIMD within a register"): for a byte `b < 0x80`, `b + (0x80 - lo)` reaches the high
/// bit exactly when `b >= lo`, and `b + (0x7f - hi)` stays below it exactly when `b <= hi`;
/// neither sum carries into the next byte.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let ge = x.wrapping_add(ONES * u64::from(0x80 - lo));
    let le = !x.wrapping_add(ONES * u64::from(0x7f - hi));
    ge & le & HIGH
}

/// One bit per byte (byte `i` → bit `i`) from the high bits of `flags`.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn movemask(flags: u64) -> u64 {
    ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Portable version of the x86_64 `block_masks` above: SWAR on 8 bytes at a time.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn block_masks(block: &[u8; 64]) -> (u64, u64, u64) {
    let (mut word, mut space, mut high) = (0, 0, 0);
    for (k, chunk) in block.chunks_exact(8).enumerate() {
        let raw = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let h = raw & HIGH;
        // Clear the high bits so that the range tests see 7-bit bytes (non-ASCII bytes are
        // removed from both masks below).
        let x = raw & !HIGH;
        let w = in_range(x | (ONES * 0x20), b'a', b'z')
            | in_range(x, b'0', b'9')
            | in_range(x, b'_', b'_');
        let s = in_range(x, 0x09, 0x0d) | in_range(x, 0x1c, 0x20);
        word |= movemask(w & !h) << (8 * k);
        space |= movemask(s & !h) << (8 * k);
        high |= movemask(h) << (8 * k);
    }
    (word, space, high)
}

/// Corrects the word and space masks of a block for its non-ASCII bytes (set bits of `high`):
/// every byte of a character gets the character's class. `text` is the whole text and `base` the
/// block's offset in it; `carry` is the class of the last character that started before the
/// current byte (continuation bytes at the start of a block belong to it), updated.
#[cold]
#[inline(never)]
fn fix_non_ascii(
    text: &str,
    base: usize,
    mut high: u64,
    word: &mut u64,
    space: &mut u64,
    carry: &mut CharClass,
) {
    let bytes = text.as_bytes();
    while high != 0 {
        let i = high.trailing_zeros() as usize;
        high &= high - 1;
        let b = bytes[base + i];
        if b >= 0xc0 {
            // A lead byte: decode the character (it may end in the next block).
            *carry = text
                .get(base + i..)
                .and_then(|s| s.chars().next())
                .map_or(CharClass::Punct, char_class);
        }
        match *carry {
            CharClass::Word => *word |= 1 << i,
            CharClass::Space => *space |= 1 << i,
            CharClass::Punct => {}
        }
    }
}

/// Writes the `\w+|[^\w\s]+` token spans of `text` into `starts`/`ends` (cleared first) and
/// returns the token count.
///
/// 64 bytes at a time: the class masks of a block (word `W`, space `S`, punctuation
/// `P = !(W | S)`) and those shifted by one byte (the previous byte's class) give the token
/// starts, `(W & !W') | (P & !P')`, and ends, `(W' & !W) | (P' & !P)`, as bit masks; only their
/// set bits are visited. A final block padded with spaces closes the last token. ASCII bytes are
/// classified by SIMD; blocks with non-ASCII bytes are then corrected per character (no class
/// array is filled for non-ASCII texts).
fn token_spans(text: &str, starts: &mut Vec<usize>, ends: &mut Vec<usize>) -> usize {
    let bytes = text.as_bytes();
    starts.clear();
    ends.clear();
    // A text of n bytes has at most n tokens; writing through slices of the spare capacity
    // avoids `Vec::push`'s capacity test per token. (Writing 8 entries per step without a test
    // per bit, simdjson-style, measured more instructions: no `popcnt` in the x86_64 baseline.)
    starts.reserve(bytes.len() + 1);
    ends.reserve(bytes.len() + 1);
    let (mut n_s, mut n_e) = (0usize, 0usize);
    {
        let (st, en) = (starts.spare_capacity_mut(), ends.spare_capacity_mut());
        let (mut carry_w, mut carry_p) = (0u64, 0u64);
        let mut carry_class = CharClass::Space;
        let mut last = [b' '; 64];
        // One loop body for the full blocks and the padded last one (a closure called from two
        // places was not inlined, and kept the counts in memory: 11 instructions per token
        // boundary in callgrind instead of 7).
        let n_full = bytes.len() / 64;
        for blk in 0..=n_full {
            let base = 64 * blk;
            let block: &[u8; 64] = if blk < n_full {
                bytes[base..base + 64].try_into().expect("64 bytes")
            } else {
                let rest = &bytes[base..];
                last[..rest.len()].copy_from_slice(rest);
                &last
            };
            let (mut word, mut space, high) = block_masks(block);
            if high != 0 {
                fix_non_ascii(text, base, high, &mut word, &mut space, &mut carry_class);
            }
            let punct = !(word | space);
            let (prev_word, prev_punct) = ((word << 1) | carry_w, (punct << 1) | carry_p);
            carry_w = word >> 63;
            carry_p = punct >> 63;
            let mut m = (word & !prev_word) | (punct & !prev_punct);
            while m != 0 {
                st[n_s].write(base + m.trailing_zeros() as usize);
                n_s += 1;
                m &= m - 1;
            }
            let mut m = (prev_word & !word) | (prev_punct & !punct);
            while m != 0 {
                en[n_e].write(base + m.trailing_zeros() as usize);
                n_e += 1;
                m &= m - 1;
            }
        }
    }
    // Padding is space: it starts no token, and closes the last one at the text's end.
    assert_eq!(n_s, n_e);
    // SAFETY: the first `n_s` (`n_e`) entries of the spare capacity were written above, and the
    // capacity holds them (the `write`s are bounds-checked).
    unsafe {
        starts.set_len(n_s);
        ends.set_len(n_e);
    }
    debug_assert!(ends.last().is_none_or(|&e| e <= bytes.len()));
    n_s
}

/// Tokens per block of [`WordScratch::buckets_upto2`] (one bit each in the class masks).
const BLOCK: usize = 64;
/// Bytes per token slot: its unigram (up to 16 bytes) at 0, and from [`BI`] the bigram it ends
/// (two tokens of up to 16 bytes and a space) with the 16-byte copies' overhang.
const SLOT: usize = 64;
/// Where a slot's bigram starts.
const BI: usize = 16;

/// Masks of the lengths (`lens[j]`, saturated at 127) above 3, 8 and 16 bytes: the XXH3 length
/// classes (1–3, 4–8, 9–16, 17+).
#[cfg(target_arch = "x86_64")]
#[inline]
fn length_classes(lens: &[u8; BLOCK]) -> (u64, u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let (mut gt3, mut gt8, mut gt16) = (0u64, 0u64, 0u64);
    for (k, chunk) in lens.chunks_exact(16).enumerate() {
        #[allow(unused_unsafe, clippy::cast_ptr_alignment)]
        // SAFETY: `chunk` is 16 readable bytes; `_mm_loadu_si128` has no alignment requirement.
        // The other intrinsics only need SSE2, which every x86_64 CPU has.
        let (a, b, c) = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            (
                _mm_movemask_epi8(_mm_cmpgt_epi8(x, _mm_set1_epi8(3))),
                _mm_movemask_epi8(_mm_cmpgt_epi8(x, _mm_set1_epi8(8))),
                _mm_movemask_epi8(_mm_cmpgt_epi8(x, _mm_set1_epi8(16))),
            )
        };
        gt3 |= u64::from(a as u16) << (16 * k);
        gt8 |= u64::from(b as u16) << (16 * k);
        gt16 |= u64::from(c as u16) << (16 * k);
    }
    (gt3, gt8, gt16)
}

/// Portable version of the x86_64 `length_classes` above.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn length_classes(lens: &[u8; BLOCK]) -> (u64, u64, u64) {
    let (mut gt3, mut gt8, mut gt16) = (0u64, 0u64, 0u64);
    for (j, &l) in lens.iter().enumerate() {
        gt3 |= u64::from(l > 3) << j;
        gt8 |= u64::from(l > 8) << j;
        gt16 |= u64::from(l > 16) << j;
    }
    (gt3, gt8, gt16)
}

/// The 4 (little-endian) bytes of `slot` at `at` (`at + 4 <= SLOT`).
#[inline]
fn le32(slot: &[u8; SLOT], at: usize) -> u32 {
    u32::from_le_bytes(slot[at..at + 4].try_into().expect("4 bytes"))
}

/// The 8 (little-endian) bytes of `slot` at `at` (`at + 8 <= SLOT`).
#[inline]
fn le64(slot: &[u8; SLOT], at: usize) -> u64 {
    u64::from_le_bytes(slot[at..at + 8].try_into().expect("8 bytes"))
}

/// The bucket of an n-gram outside the slots (a token of more than 16 bytes, or near the
/// text's end): rare, so not inlined into the token loop.
#[inline(never)]
fn bucket_slow(g: &[u8], seed: u64, n_buckets: u32) -> u32 {
    bucket(hash64(g, seed), n_buckets)
}

/// Calls `f(j)` for every set bit `j` of `m`, lowest first.
#[inline]
fn each_bit(mut m: u64, mut f: impl FnMut(usize)) {
    while m != 0 {
        f(m.trailing_zeros() as usize);
        m &= m - 1;
    }
}

/// The token before a block: its span, its first 16 bytes, and whether they are its slot copy
/// (it has at most 16 bytes and does not end within 16 bytes of the text's end).
#[derive(Default)]
struct Prev {
    start: usize,
    end: usize,
    head: [u8; 16],
    in_slot: bool,
}

/// The n-grams of up to [`BLOCK`] tokens, copied into fixed slots (see
/// [`WordScratch::buckets_upto2`]).
struct Block {
    slots: [[u8; SLOT]; BLOCK],
    lens_u: [u8; BLOCK],
    lens_b: [u8; BLOCK],
}

impl Block {
    fn new() -> Self {
        Self {
            slots: [[0; SLOT]; BLOCK],
            lens_u: [0; BLOCK],
            lens_b: [0; BLOCK],
        }
    }

    /// Copies the unigrams and bigrams of the tokens `starts[j]..ends[j]` of `t` into the slots
    /// and their lengths into `lens_u`/`lens_b`; returns the masks of the unigrams and bigrams
    /// left out (a token of more than 16 bytes or within 16 bytes of the text's end, or the
    /// bigram of such a token). Not inlined: on its own its loop keeps everything in registers.
    #[inline(never)]
    fn fill(&mut self, t: &[u8], starts: &[usize], ends: &[usize], prev: &mut Prev) -> (u64, u64) {
        let (mut skip_u, mut skip_b) = (0u64, 0u64);
        let Prev {
            start: mut ps,
            end: mut pe,
            head: mut p16,
            in_slot: mut p_ok,
        } = *prev;
        let slots = self
            .slots
            .iter_mut()
            .zip(&mut self.lens_u)
            .zip(&mut self.lens_b);
        for (j, ((&s, &e), ((slot, lu), lb))) in starts.iter().zip(ends).zip(slots).enumerate() {
            let ul = e - s;
            match t.get(s..s + 16) {
                Some(c) if ul <= 16 => {
                    let c16: [u8; 16] = c.try_into().expect("16 bytes");
                    slot[..16].copy_from_slice(&c16);
                    *lu = ul as u8;
                    // Two fixed 16-byte copies and the space: the bigram's bytes whether its
                    // tokens were separated by one space or not. Written even when the
                    // previous token is not in a slot (then the bigram is skipped); `& 31` is a
                    // no-op for a previous token in a slot and proves the writes in bounds.
                    let pl = (pe - ps) & 31;
                    slot[BI..BI + 16].copy_from_slice(&p16);
                    slot[BI + pl] = b' ';
                    slot[BI + pl + 1..BI + pl + 17].copy_from_slice(&c16);
                    *lb = (pl + 1 + ul) as u8;
                    skip_b |= u64::from(!p_ok) << j;
                    (p16, p_ok) = (c16, true);
                }
                _ => {
                    skip_u |= 1 << j;
                    skip_b |= 1 << j;
                    p_ok = false;
                }
            }
            (ps, pe) = (s, e);
        }
        *prev = Prev {
            start: ps,
            end: pe,
            head: p16,
            in_slot: p_ok,
        };
        (skip_u, skip_b)
    }

    /// Hashes the unigrams (mask `uni`) and bigrams (`bi`) of the slots, one loop per XXH3
    /// length class (no branch on a length), and passes their buckets to `f`. Slot indices and
    /// offsets are masked so that every read is provably inside its slot (no bounds checks).
    #[inline(never)]
    fn hash(
        &self,
        keys: &ShortXxh3,
        seed: u64,
        n_buckets: u32,
        uni: u64,
        bi: u64,
        f: &mut impl FnMut(u32),
    ) {
        let slot = |j: usize| &self.slots[j & (BLOCK - 1)];
        let len = |lens: &[u8; BLOCK], j: usize| usize::from(lens[j & (BLOCK - 1)]);
        let mut count = |h: u64| f(bucket(h, n_buckets));
        if uni != 0 {
            // Unigrams in slots have at most 16 bytes.
            let (gt3, gt8, _) = length_classes(&self.lens_u);
            let lens = &self.lens_u;
            each_bit(!gt3 & uni, |j| {
                let (g, n) = (slot(j), len(lens, j));
                count(keys.mix1to3(g[0], g[(n >> 1) & 3], g[(n - 1) & 3], n));
            });
            each_bit(gt3 & !gt8 & uni, |j| {
                let (g, n) = (slot(j), len(lens, j));
                count(keys.mix4to8(le32(g, 0), le32(g, (n - 4) & 7), n));
            });
            each_bit(gt8 & uni, |j| {
                let (g, n) = (slot(j), len(lens, j));
                count(keys.mix9to16(le64(g, 0), le64(g, (n - 8) & 15), n));
            });
        }
        if bi != 0 {
            let (gt3, gt8, gt16) = length_classes(&self.lens_b);
            let lens = &self.lens_b;
            each_bit(!gt3 & bi, |j| {
                let (g, n) = (slot(j), len(lens, j));
                let (first, mid, last) = (g[BI], g[BI + ((n >> 1) & 3)], g[BI + ((n - 1) & 3)]);
                count(keys.mix1to3(first, mid, last, n));
            });
            each_bit(gt3 & !gt8 & bi, |j| {
                let (g, n) = (slot(j), len(lens, j));
                count(keys.mix4to8(le32(g, BI), le32(g, BI + ((n - 4) & 7)), n));
            });
            each_bit(gt8 & !gt16 & bi, |j| {
                let (g, n) = (slot(j), len(lens, j));
                count(keys.mix9to16(le64(g, BI), le64(g, BI + ((n - 8) & 15)), n));
            });
            // 17 to 33 bytes.
            each_bit(gt16 & bi, |j| {
                let (g, n) = (slot(j), len(lens, j));
                count(hash64(&g[BI..BI + n.min(SLOT - BI)], seed));
            });
        }
    }
}

impl WordScratch {
    /// The number of word tokens of `text` after normalisation.
    pub(super) fn count(&mut self, text: &str, normalizer: Normalizer) -> usize {
        if text.is_ascii() && !normalizer.strip_punctuation {
            // Lowercasing ASCII changes no token boundary: count on the input.
            return token_spans(text, &mut self.starts, &mut self.ends);
        }
        let t = normalised(text, normalizer, &mut self.norm, &mut self.lower);
        token_spans(t, &mut self.starts, &mut self.ends)
    }

    /// Calls `emit(bytes)` for every word n-gram of `text` with `min_n <= n <= max_n` (tokens
    /// joined by one space), for each end token in order and `n` ascending; returns the number of
    /// tokens.
    #[inline]
    pub(super) fn ngrams(
        &mut self,
        text: &str,
        normalizer: Normalizer,
        min_n: usize,
        max_n: usize,
        mut emit: impl FnMut(&[u8]),
    ) -> usize {
        let Self {
            norm,
            lower,
            starts,
            ends,
            join,
            ..
        } = self;
        let t = normalised(text, normalizer, norm, lower);
        let n_tok = token_spans(t, starts, ends);
        let (t, starts, ends) = (t.as_bytes(), &starts[..n_tok], &ends[..n_tok]);
        // Consecutive single-space gaps ending at the current token.
        let mut run = 0usize;
        for i in 0..n_tok {
            if i > 0 {
                let gap = ends[i - 1];
                run = if starts[i] == gap + 1 && t[gap] == b' ' {
                    run + 1
                } else {
                    0
                };
            }
            // An exclusive range: RangeInclusive iterates measurably slower in this loop.
            #[allow(clippy::range_plus_one)]
            for n in min_n..max_n.min(i + 1) + 1 {
                let first = i + 1 - n;
                // One call site, so that `emit` (the hash and the count) is inlined here: with
                // two, it was a call per n-gram (`perf`: 7 register saves and restores each).
                let gram = if n - 1 <= run {
                    &t[starts[first]..ends[i]]
                } else {
                    join.clear();
                    for k in first..=i {
                        if k > first {
                            join.push(b' ');
                        }
                        join.extend_from_slice(&t[starts[k]..ends[k]]);
                    }
                    &join[..]
                };
                emit(gram);
            }
        }
        n_tok
    }

    /// The buckets of the n-grams of [`WordScratch::ngrams_upto2`] (XXH3 with `seed`, `n_buckets`),
    /// passed to `f` in an unspecified order; returns the number of tokens.
    ///
    /// Profile that shaped it (callgrind with its branch simulator, first 500 pool documents):
    /// the token loop of `ngrams_upto2` mispredicted ~0.8 branches per n-gram — XXH3's length
    /// class (two tests per hash, each close to a coin toss) and whether a bigram's tokens are
    /// separated by one space (31 % mispredicted). Here the tokens go by blocks of 64: a first
    /// pass writes every bigram of two tokens of at most 16 bytes into a slot (two fixed
    /// 16-byte copies and a space, whatever the gap was: the bytes are the same as in place) and
    /// the n-gram lengths into two small arrays; SSE2 compares turn the lengths into one mask
    /// per XXH3 length class, and a loop per class hashes its n-grams with that class's formula
    /// only. No branch depends on a length, the hashes of a class are independent chains the
    /// CPU overlaps, and the slots are read well after they were written (no store-forwarding
    /// stall on the overlapping copies). Bigrams with a longer token, or within 16 bytes of the
    /// text's end, are hashed at once as before.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn buckets_upto2(
        &mut self,
        text: &str,
        normalizer: Normalizer,
        min_n: usize,
        max_n: usize,
        seed: u64,
        n_buckets: u32,
        mut f: impl FnMut(u32),
    ) -> usize {
        debug_assert!(1 <= min_n && min_n <= max_n && max_n <= 2);
        let Self {
            norm,
            lower,
            starts,
            ends,
            join,
            block,
        } = self;
        let t = normalised(text, normalizer, norm, lower);
        let n_tok = token_spans(t, starts, ends);
        let (t, starts, ends) = (t.as_bytes(), &starts[..n_tok], &ends[..n_tok]);
        let keys = ShortXxh3::new(seed);
        // Which n-grams are wanted, as masks over a block's tokens.
        let (uni, bi) = (
            if min_n == 1 { !0u64 } else { 0 },
            if max_n == 2 { !0u64 } else { 0 },
        );
        let block = block.get_or_insert_with(|| Box::new(Block::new()));
        let mut prev = Prev::default();
        for (blk, (bs, be)) in starts.chunks(BLOCK).zip(ends.chunks(BLOCK)).enumerate() {
            let n_blk = bs.len();
            let in_block = if n_blk == BLOCK {
                !0
            } else {
                (1u64 << n_blk) - 1
            };
            // The document's first token ends no bigram.
            let first = u64::from(blk == 0);
            let (skip_u, skip_b) = block.fill(t, bs, &be[..n_blk], &mut prev);
            // N-grams outside the slots (a token of more than 16 bytes, or within 16 bytes of
            // the text's end): rare, hashed from the text.
            each_bit(skip_u & in_block & uni, |j| {
                f(bucket_slow(&t[bs[j]..be[j]], seed, n_buckets));
            });
            each_bit(skip_b & in_block & bi & !first, |j| {
                let at = blk * BLOCK + j;
                let (ps, pe) = (starts[at - 1], ends[at - 1]);
                let (s, e) = (starts[at], ends[at]);
                let gram = if s == pe + 1 && t[pe] == b' ' {
                    &t[ps..e]
                } else {
                    join.clear();
                    join.extend_from_slice(&t[ps..pe]);
                    join.push(b' ');
                    join.extend_from_slice(&t[s..e]);
                    &join[..]
                };
                f(bucket_slow(gram, seed, n_buckets));
            });
            block.hash(
                &keys,
                seed,
                n_buckets,
                in_block & !skip_u & uni,
                in_block & !skip_b & bi & !first,
                &mut f,
            );
        }
        n_tok
    }

    /// [`WordScratch::ngrams`] for `max_n <= 2` (DSIR's `ngram_range=(1, 2)`): the same n-grams
    /// in the same order, without the inner loop over `n`, the run length and the `min` per
    /// token. A separate function (not a branch in `ngrams`) so that each has a single call site
    /// of its `emit` and the hash is inlined into both loops.
    #[inline]
    pub(super) fn ngrams_upto2(
        &mut self,
        text: &str,
        normalizer: Normalizer,
        min_n: usize,
        max_n: usize,
        mut emit: impl FnMut(&[u8]),
    ) -> usize {
        debug_assert!(1 <= min_n && min_n <= max_n && max_n <= 2);
        let Self {
            norm,
            lower,
            starts,
            ends,
            join,
            ..
        } = self;
        let t = normalised(text, normalizer, norm, lower);
        let n_tok = token_spans(t, starts, ends);
        let (t, starts, ends) = (t.as_bytes(), &starts[..n_tok], &ends[..n_tok]);
        let lo = min_n - 1;
        let mut small = [0u8; 48];
        let (mut prev_s, mut prev_e) = (0, 0);
        for i in 0..n_tok {
            let (s, e) = (starts[i], ends[i]);
            let uni = &t[s..e];
            let (bi, k) = if i == 0 || max_n == 1 {
                (uni, 1)
            } else if s == prev_e + 1 && t[prev_e] == b' ' {
                (&t[prev_s..e], 2)
            } else if prev_e - prev_s <= 16 && e - s <= 16 && s + 16 <= t.len() {
                // Short tokens not separated by one space (`f(x`, `word,`): two fixed 16-byte
                // copies into a stack buffer instead of `Vec` growth checks and two `memcpy`
                // calls (callgrind: ~15% of all instructions on a code-heavy sample). Bytes past
                // the n-gram are left over and never read; `prev_s + 16 <= t.len()` follows
                // from `prev_s < s`.
                let pl = prev_e - prev_s;
                small[..16].copy_from_slice(&t[prev_s..prev_s + 16]);
                small[pl] = b' ';
                small[pl + 1..pl + 17].copy_from_slice(&t[s..s + 16]);
                (&small[..pl + 1 + (e - s)], 2)
            } else {
                join.clear();
                join.extend_from_slice(&t[prev_s..prev_e]);
                join.push(b' ');
                join.extend_from_slice(uni);
                (&join[..], 2)
            };
            // One call site for `emit`, unigram first.
            for g in &[uni, bi][lo.min(k)..k] {
                emit(g);
            }
            (prev_s, prev_e) = (s, e);
        }
        n_tok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::word_tokens;

    /// The n-grams as the definition says: tokens of the normalised text, joined by one space.
    fn brute(text: &str, normalizer: Normalizer, min_n: usize, max_n: usize) -> Vec<Vec<u8>> {
        let mut buf = String::new();
        let t = normalizer.apply(text, &mut buf);
        let toks = word_tokens(t);
        let mut out = Vec::new();
        for i in 0..toks.len() {
            for n in min_n..=max_n.min(i + 1) {
                out.push(toks[i + 1 - n..=i].join(" ").into_bytes());
            }
        }
        out
    }

    #[test]
    fn ngrams_match_the_definition() {
        let texts: [&str; 18] = [
            "",
            "   ",
            "a",
            "Hello, World!! it's  3.14\tpi\n\nend.",
            "x=1;y = 2 ;; (see above)",
            " lead and trail ",
            "Ünïcödé  ÇAFÉ—ok, Straße ΟΔΟΣ.",
            "e\u{301}x a\u{1c}b 数据 模型",
            "tab\tsep\u{3000}ideographic space",
            // Block edges: tokens across the 64-byte boundary, a text of exactly 64 and 128 bytes.
            &"ab, ".repeat(16),
            &"abc_de ".repeat(19)[..128],
            &format!("{}x, y{}", "z".repeat(62), " q".repeat(40)),
            &format!("{}日本 x", "w.".repeat(31)),
            // Multi-byte characters across a block edge (a word, a space and punctuation).
            &format!("{}é数据 b", "q".repeat(63)),
            &format!("{} \u{3000}x —— {}", "r".repeat(62), "ü".repeat(40)),
            &format!("{}——y", "s ".repeat(31)),
            // Tokens of 16 and 17 bytes next to punctuation (the stack-buffer join and the
            // `Vec` one), and one ending 16 bytes before the text's end.
            "abcdefghijklmnop,qrstuvwxyz012345;abcdefghijklmnopq(x)abcdefghijklmnop.",
            // More than one block of 64 tokens, every length class, joined and in place.
            &"a bb, ccc dddd (eeeee) ffffffff.ggggggggg hhhhhhhhhhhhhhhh iiiiiiiiiiiiiiiii; "
                .repeat(12),
        ];
        let normalizers = [
            Normalizer::default(),
            Normalizer {
                lowercase: true,
                ..Normalizer::default()
            },
            Normalizer {
                lowercase: true,
                strip_punctuation: true,
                ..Normalizer::default()
            },
            Normalizer {
                nfkc: true,
                lowercase: true,
                strip_punctuation: false,
                fold_whitespace: true,
            },
        ];
        let mut scratch = WordScratch::default();
        for text in &texts {
            let text: &str = text;
            for &normalizer in &normalizers {
                for (min_n, max_n) in [(1, 1), (1, 2), (2, 2), (2, 3), (1, 5)] {
                    let mut got = Vec::new();
                    let n_tok = scratch.ngrams(text, normalizer, min_n, max_n, |g| {
                        got.push(g.to_vec());
                    });
                    assert_eq!(got, brute(text, normalizer, min_n, max_n), "{text:?}");
                    if max_n <= 2 {
                        let mut got2 = Vec::new();
                        let n_tok2 = scratch.ngrams_upto2(text, normalizer, min_n, max_n, |g| {
                            got2.push(g.to_vec());
                        });
                        assert_eq!((&got2, n_tok2), (&got, n_tok), "{text:?}");
                        for (seed, nb) in [(0, u32::MAX), (7, 1000)] {
                            let mut want: Vec<u32> =
                                got.iter().map(|g| bucket(hash64(g, seed), nb)).collect();
                            let mut got3 = Vec::new();
                            let n_tok3 = scratch.buckets_upto2(
                                text,
                                normalizer,
                                min_n,
                                max_n,
                                seed,
                                nb,
                                |b| got3.push(b),
                            );
                            want.sort_unstable();
                            got3.sort_unstable();
                            assert_eq!((got3, n_tok3), (want, n_tok), "{text:?}");
                        }
                    }
                    let mut buf = String::new();
                    let want = word_tokens(normalizer.apply(text, &mut buf)).len();
                    assert_eq!(n_tok, want);
                    assert_eq!(scratch.count(text, normalizer), want);
                }
            }
        }
    }
}
