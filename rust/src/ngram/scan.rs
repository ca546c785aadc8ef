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

use crate::text::{char_class, CharClass, Normalizer};

/// Byte class codes of the scan.
const WORD: u8 = 0;
const SPACE: u8 = 1;
const PUNCT: u8 = 2;

const fn code(c: CharClass) -> u8 {
    match c {
        CharClass::Word => WORD,
        CharClass::Space => SPACE,
        CharClass::Punct => PUNCT,
    }
}

/// Per-thread buffers of the word scan, reused across documents.
#[derive(Default)]
pub(super) struct WordScratch {
    /// The normalised text, when it differs from the input.
    norm: String,
    /// The lowercased copy of an ASCII text.
    lower: String,
    /// Class code per byte of a non-ASCII text.
    classes: Vec<u8>,
    /// Token starts and ends (byte offsets).
    starts: Vec<usize>,
    ends: Vec<usize>,
    /// An n-gram whose tokens are not separated by single spaces, joined.
    join: Vec<u8>,
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

/// Eight bytes with the high bit of each set.
const HIGH: u64 = 0x8080_8080_8080_8080;
/// Eight bytes of value 1.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `x` (bytes below 0x80) is set where `lo <= byte <= hi`.
/// SWAR ("SIMD within a register"): for a byte `b < 0x80`, `b + (0x80 - lo)` reaches the high
/// bit exactly when `b >= lo`, and `b + (0x7f - hi)` stays below it exactly when `b <= hi`;
/// neither sum carries into the next byte.
#[inline]
fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let ge = x.wrapping_add(ONES * u64::from(0x80 - lo));
    let le = !x.wrapping_add(ONES * u64::from(0x7f - hi));
    ge & le & HIGH
}

/// One bit per byte (byte `i` → bit `i`) from the high bits of `flags`.
#[inline]
fn movemask(flags: u64) -> u64 {
    ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Word and space masks of 8 ASCII bytes (little-endian: byte `i` → bit `i`).
#[inline]
fn ascii_masks8(x: u64) -> (u64, u64) {
    let word =
        in_range(x | (ONES * 0x20), b'a', b'z') | in_range(x, b'0', b'9') | in_range(x, b'_', b'_');
    let space = in_range(x, 0x09, 0x0d) | in_range(x, 0x1c, 0x20);
    (movemask(word), movemask(space))
}

/// Word and space masks of 8 class codes.
#[inline]
fn code_masks8(x: u64) -> (u64, u64) {
    (
        movemask(in_range(x, WORD, WORD)),
        movemask(in_range(x, SPACE, SPACE)),
    )
}

/// Word and space masks of a 64-byte block, eight bytes at a time.
#[inline]
fn block_masks(block: &[u8; 64], masks8: impl Fn(u64) -> (u64, u64)) -> (u64, u64) {
    let (mut word, mut space) = (0, 0);
    for (k, chunk) in block.chunks_exact(8).enumerate() {
        let (w8, s8) = masks8(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        word |= w8 << (8 * k);
        space |= s8 << (8 * k);
    }
    (word, space)
}

/// Appends `base + i` for every set bit `i` of `m`, lowest first.
#[inline]
fn push_bits(mut m: u64, base: usize, out: &mut Vec<usize>) {
    while m != 0 {
        out.push(base + m.trailing_zeros() as usize);
        m &= m - 1;
    }
}

/// Writes the `\w+|[^\w\s]+` token spans of `bytes` into `starts`/`ends` (cleared first) and
/// returns the token count. `masks8` gives the word and space masks of 8 bytes (all bytes of
/// one character must have its class).
///
/// 64 bytes at a time: the class masks of a block (word `W`, space `S`, punctuation
/// `P = !(W | S)`) and those shifted by one byte (the previous byte's class) give the token
/// starts, `(W & !W') | (P & !P')`, and ends, `(W' & !W) | (P' & !P)`, as bit masks; only their
/// set bits are visited. A final block padded with spaces closes the last token.
#[inline]
fn spans(
    bytes: &[u8],
    pad: u8,
    masks8: impl Fn(u64) -> (u64, u64) + Copy,
    starts: &mut Vec<usize>,
    ends: &mut Vec<usize>,
) -> usize {
    starts.clear();
    ends.clear();
    starts.reserve(bytes.len() + 1);
    ends.reserve(bytes.len() + 1);
    let (mut carry_w, mut carry_p) = (0u64, 0u64);
    let mut visit = |block: &[u8; 64], base: usize| {
        let (word, space) = block_masks(block, masks8);
        let punct = !(word | space);
        let (prev_word, prev_punct) = ((word << 1) | carry_w, (punct << 1) | carry_p);
        carry_w = word >> 63;
        carry_p = punct >> 63;
        push_bits((word & !prev_word) | (punct & !prev_punct), base, starts);
        push_bits((prev_word & !word) | (prev_punct & !punct), base, ends);
    };
    let mut blocks = bytes.chunks_exact(64);
    let mut base = 0;
    for block in &mut blocks {
        visit(block.try_into().expect("64 bytes"), base);
        base += 64;
    }
    let rest = blocks.remainder();
    let mut last = [pad; 64];
    last[..rest.len()].copy_from_slice(rest);
    visit(&last, base);
    // Padding is space: it starts no token, and closes the last one at the text's end.
    debug_assert_eq!(starts.len(), ends.len());
    debug_assert!(ends.last().is_none_or(|&e| e <= bytes.len()));
    starts.len()
}

/// The token spans of `t` (see [`spans`]): ASCII classes by SWAR arithmetic, others per
/// character through a class code per byte.
fn token_spans(
    t: &str,
    classes: &mut Vec<u8>,
    starts: &mut Vec<usize>,
    ends: &mut Vec<usize>,
) -> usize {
    if t.is_ascii() {
        return spans(t.as_bytes(), b' ', ascii_masks8, starts, ends);
    }
    // A class per byte: every byte of a character gets the character's class.
    classes.clear();
    for ch in t.chars() {
        classes.extend(std::iter::repeat_n(code(char_class(ch)), ch.len_utf8()));
    }
    spans(classes, SPACE, code_masks8, starts, ends)
}

impl WordScratch {
    /// The number of word tokens of `text` after normalisation.
    pub(super) fn count(&mut self, text: &str, normalizer: Normalizer) -> usize {
        if text.is_ascii() && !normalizer.strip_punctuation {
            // Lowercasing ASCII changes no token boundary: count on the input.
            return token_spans(text, &mut self.classes, &mut self.starts, &mut self.ends);
        }
        let t = normalised(text, normalizer, &mut self.norm, &mut self.lower);
        token_spans(t, &mut self.classes, &mut self.starts, &mut self.ends)
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
            classes,
            starts,
            ends,
            join,
        } = self;
        let t = normalised(text, normalizer, norm, lower);
        let n_tok = token_spans(t, classes, starts, ends);
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
        let texts: [&str; 13] = [
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
                for (min_n, max_n) in [(1, 1), (1, 2), (2, 3), (1, 5)] {
                    let mut got = Vec::new();
                    let n_tok = scratch.ngrams(text, normalizer, min_n, max_n, |g| {
                        got.push(g.to_vec());
                    });
                    assert_eq!(got, brute(text, normalizer, min_n, max_n), "{text:?}");
                    let mut buf = String::new();
                    let want = word_tokens(normalizer.apply(text, &mut buf)).len();
                    assert_eq!(n_tok, want);
                    assert_eq!(scratch.count(text, normalizer), want);
                }
            }
        }
    }
}
