//! Decontamination against evaluation sets: an exact index of word n-grams and a streaming scan.
//!
//! The method is GPT-3's (Brown et al., 2020, appendix C): a training document is contaminated
//! when it shares an n-gram of words (n = 13) with an evaluation item. What this module adds is a
//! normalisation under which re-wrapping, case, punctuation and whitespace cannot hide a copy, and
//! exact hashes instead of a Bloom filter.
//!
//! **Tokens.** A token is a maximal run of word characters (Python's `\w`: Unicode letters,
//! digits, `_`) of the original text; everything else — whitespace, line breaks, punctuation,
//! symbols — only separates tokens. Each token is NFKC-normalised and lowercased (full Unicode
//! mapping, as `str.lower()`, then `ß` → `ss` and `ς` → `σ`, which upper-casing cannot keep)
//! before it is hashed, so `Hello,\nWORLD` and `hello world` have the same tokens, and every
//! token keeps its span in the original text.
//!
//! **Hashes.** A token hashes to XXH3-64 of its normalised UTF-8; an n-gram hashes to XXH3-64 of
//! its n token hashes. Two different n-grams collide with probability about 2⁻⁶⁴, so a scan of
//! `N` corpus n-grams against an index of `m` n-grams reports a false match with probability at
//! most `N·m/2⁶⁴` (10¹⁰ corpus n-grams against 10⁷ indexed: 5·10⁻³).
//!
//! **Short items.** An item with fewer than `n` tokens (but at least `min_tokens`) is indexed
//! whole, as one "short n-gram" of its own length, and the scan looks for windows of each such
//! length; items below `min_tokens` are not indexed (they would match everywhere: GPT-3 never
//! went below n = 8 either).
//!
//! The datatrove-compatible mode (its own normalisation, tokens and hashes) is in [`datatrove`].

pub mod datatrove;
mod index;
mod scan;
mod tables;
#[cfg(test)]
mod tests;

pub use index::{Index, IndexParts, KeySet};
pub use scan::{scan, DocMatch};

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::hash::hash64;
use crate::text::{ascii_class, char_class, for_each_word_span, CharClass};

/// Smallest n-gram length accepted.
pub const MIN_NGRAM: usize = 8;
/// Largest n-gram length accepted.
pub const MAX_NGRAM: usize = 50;

const TOKEN_SEED: u64 = 0x7461_6d69_735f_746b;
const NGRAM_SEED: u64 = 0x7461_6d69_735f_6e67;

/// Checks `ngram` (8–50) and `min_tokens` (1–`ngram`).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the parameter.
pub fn check_params(ngram: usize, min_tokens: usize) -> Result<()> {
    if !(MIN_NGRAM..=MAX_NGRAM).contains(&ngram) {
        return Err(Error::param(
            "ngram",
            format!("must be in {MIN_NGRAM}..={MAX_NGRAM}, got {ngram}"),
        ));
    }
    if min_tokens == 0 || min_tokens > ngram {
        return Err(Error::param(
            "min_tokens",
            format!("must be in 1..={ngram} (ngram), got {min_tokens}"),
        ));
    }
    Ok(())
}

/// The tokens of one text: hashes (little-endian bytes, so a window is one byte slice) and byte
/// spans in the original text. Reused between documents to avoid allocations.
#[derive(Default)]
pub struct Tokens {
    /// Hash of each normalised token.
    pub hashes: Vec<[u8; 8]>,
    /// Byte span of each token in the text.
    pub spans: Vec<(usize, usize)>,
    buf: String,
}

impl Tokens {
    /// Tokenises and hashes `text` (see the module docs), replacing the previous content.
    pub fn fill(&mut self, text: &str) {
        self.hashes.clear();
        self.spans.clear();
        let ascii = text.is_ascii();
        let bytes = text.as_bytes();
        let Self { hashes, spans, buf } = self;
        for_each_word_span(text, |a, b| {
            let is_word = if ascii {
                ascii_class(bytes[a]) == CharClass::Word
            } else {
                text[a..].chars().next().map(char_class) == Some(CharClass::Word)
            };
            if !is_word {
                return;
            }
            let tok = &text[a..b];
            buf.clear();
            if tok.is_ascii() {
                buf.push_str(tok);
                buf.make_ascii_lowercase();
            } else {
                let nfkc: String = tok.nfkc().collect();
                // Upper-casing loses what lowercase cannot restore: "Straße" → "STRASSE",
                // "ΟΔΟΣ" → "οδοσ" (no final sigma): fold ß to "ss" and ς to σ.
                for c in nfkc.to_lowercase().chars() {
                    match c {
                        'ß' => buf.push_str("ss"),
                        'ς' => buf.push('σ'),
                        c => buf.push(c),
                    }
                }
            }
            hashes.push(hash64(buf.as_bytes(), TOKEN_SEED).to_le_bytes());
            spans.push((a, b));
        });
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when the text has no token.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Hash of the window of `len` tokens starting at token `start`.
    #[inline]
    pub fn window(&self, start: usize, len: usize) -> u64 {
        ngram_hash(&self.hashes[start..start + len])
    }
}

/// Hash of a window of token hashes.
#[inline]
pub fn ngram_hash(tokens: &[[u8; 8]]) -> u64 {
    hash64(tokens.as_flattened(), NGRAM_SEED)
}

/// Byte offsets (ascending) turned into character offsets of `text`, in place.
pub(crate) fn bytes_to_chars(text: &str, offsets: &mut [usize]) {
    if text.is_ascii() {
        return;
    }
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut chars = 0usize;
    let mut pos = 0usize;
    for i in order {
        let target = offsets[i];
        chars += text[pos..target].chars().count();
        pos = target;
        offsets[i] = chars;
    }
}
