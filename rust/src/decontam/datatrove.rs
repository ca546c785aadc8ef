//! The datatrove-compatible mode: the decisions of datatrove 0.10.1's `NGramsDecontIndexer` and
//! `NGramsDecontFilter` with their default `TextNormConfig` and `HashConfig`.
//!
//! datatrove hashes `" ".join(ngram)` with XXH64 (seed 0) over the words of spaCy's English
//! tokenizer run on `simplify_text(text)`. [`simplify`] is that function written again:
//! lowercase; every `\p{Nd}+([.,،٫⎖⎗⎘]\p{Nd}+)?` number becomes `0`; every character of
//! datatrove's `PUNCTUATION` becomes a space; whitespace runs become one space and the ends are
//! trimmed; NFD, then every combining mark (`Mn`) is dropped; trimmed again.
//!
//! spaCy splits the text at spaces and tokenises each space-free chunk on its own (it caches
//! tokens per chunk), so after [`simplify`] a tokenizer is a map from chunk to tokens. Most
//! chunks are one token; [`Splits`] holds the others ("dont" → "do", "nt"), which the Python side
//! obtains from spaCy itself for the distinct chunks of each batch ([`distinct_chunks`]).

use std::collections::HashMap;

use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;

use super::tables::{DECIMAL_RANGES, MN_RANGES};
use super::KeySet;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::parallel::with_threads;
use crate::text::{char_class, in_ranges, CharClass};

/// datatrove's `PUNCTUATION` (datatrove/utils/text.py): each becomes a space.
const PUNCTUATION: &str =
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»";

#[inline]
fn is_decimal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_ranges(&DECIMAL_RANGES, c as u32)
    }
}

#[inline]
fn is_punctuation(c: char) -> bool {
    let u = c as u32;
    // chr(0..9), chr(11..32) and chr(127..160) are in datatrove's list too.
    u < 9 || (11..32).contains(&u) || (127..160).contains(&u) || PUNCTUATION.contains(c)
}

const NUMBER_SEPARATORS: [char; 7] = ['.', ',', '،', '٫', '⎖', '⎗', '⎘'];

/// datatrove's `simplify_text` with the default `TextNormConfig` (see the module docs).
pub fn simplify(text: &str) -> String {
    let lower = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    };
    // Numbers to "0", punctuation to spaces, in one pass (the separators of a number are
    // punctuation, but the number pattern runs first).
    let chars: Vec<char> = lower.chars().collect();
    let mut spaced = String::with_capacity(lower.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_decimal(c) {
            while i < chars.len() && is_decimal(chars[i]) {
                i += 1;
            }
            if i + 1 < chars.len()
                && NUMBER_SEPARATORS.contains(&chars[i])
                && is_decimal(chars[i + 1])
            {
                i += 1;
                while i < chars.len() && is_decimal(chars[i]) {
                    i += 1;
                }
            }
            spaced.push('0');
            continue;
        }
        spaced.push(if is_punctuation(c) { ' ' } else { c });
        i += 1;
    }
    // Whitespace folded and trimmed (Python's `\s` and `str.strip`).
    let mut folded = String::with_capacity(spaced.len());
    let mut pending = false;
    for c in spaced.chars() {
        if char_class(c) == CharClass::Space {
            pending = true;
        } else {
            if pending && !folded.is_empty() {
                folded.push(' ');
            }
            pending = false;
            folded.push(c);
        }
    }
    let out: String = if folded.is_ascii() {
        folded
    } else {
        folded
            .nfd()
            .filter(|&c| !in_ranges(&MN_RANGES, c as u32))
            .collect()
    };
    out.trim_matches(|c: char| char_class(c) == CharClass::Space)
        .to_owned()
}

/// spaCy's tokens of the chunks it splits; every other chunk is one token.
#[derive(Clone, Debug, Default)]
pub struct Splits(HashMap<String, Vec<String>>);

impl Splits {
    /// Records that `chunk` is tokenised as `tokens`.
    pub fn insert(&mut self, chunk: String, tokens: Vec<String>) {
        if tokens.len() == 1 && tokens[0] == chunk {
            self.0.remove(&chunk);
        } else {
            self.0.insert(chunk, tokens);
        }
    }

    /// Number of chunks that are not one token.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when every chunk is one token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens of simplified `text`, appended to `out`.
    pub fn tokens<'a>(&'a self, text: &'a str, out: &mut Vec<&'a str>) {
        for chunk in text.split(' ').filter(|c| !c.is_empty()) {
            match self.0.get(chunk) {
                Some(toks) => out.extend(toks.iter().map(String::as_str)),
                None => out.push(chunk),
            }
        }
    }
}

/// The distinct space-free chunks of the simplified `texts`, sorted (what spaCy must see).
///
/// # Errors
/// Invalid UTF-8, `n_threads == 0`.
pub fn distinct_chunks<T: Texts + ?Sized>(
    texts: &T,
    n_threads: Option<usize>,
) -> Result<Vec<String>> {
    let mut all: Vec<String> = with_threads(n_threads, || {
        (0..texts.len())
            .into_par_iter()
            .map(|i| -> Result<Vec<String>> {
                let Some(t) = texts.get(i)? else {
                    return Ok(Vec::new());
                };
                let s = simplify(t);
                let mut v: Vec<String> = s
                    .split(' ')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                v.sort_unstable();
                v.dedup();
                Ok(v)
            })
            .collect::<Result<Vec<_>>>()
    })??
    .into_iter()
    .flatten()
    .collect();
    all.par_sort_unstable();
    all.dedup();
    Ok(all)
}

/// `NGramsDecontConfig`: n-gram length and which n-grams of a (query, label) item are indexed.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// n-gram length (datatrove: 12).
    pub ngram: usize,
    /// Also index the n-grams of the query alone.
    pub find_query_ngrams: bool,
    /// Also index the n-grams straddling the end of the query and the start of the label.
    pub find_overlap_ngrams: bool,
}

fn check_ngram(ngram: usize) -> Result<()> {
    if ngram == 0 || ngram > 1000 {
        return Err(Error::param(
            "ngram",
            format!("must be in 1..=1000, got {ngram}"),
        ));
    }
    Ok(())
}

#[inline]
fn hash_joined(tokens: &[&str], buf: &mut String) -> u64 {
    buf.clear();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            buf.push(' ');
        }
        buf.push_str(t);
    }
    xxhash_rust::xxh64::xxh64(buf.as_bytes(), 0)
}

/// The hashes `NGramsDecontIndexer.compute_hashes(label, query)` returns.
pub fn item_hashes(label: &str, query: Option<&str>, cfg: &Config, splits: &Splits) -> Vec<u64> {
    let n = cfg.ngram;
    let (ls, qs) = (simplify(label), query.map(simplify));
    let mut lt = Vec::new();
    splits.tokens(&ls, &mut lt);
    let mut buf = String::new();
    let mut out: Vec<u64> = lt.windows(n).map(|w| hash_joined(w, &mut buf)).collect();
    if let Some(qs) = &qs {
        let mut qt = Vec::new();
        splits.tokens(qs, &mut qt);
        if cfg.find_query_ngrams {
            out.extend(qt.windows(n).map(|w| hash_joined(w, &mut buf)));
        }
        if cfg.find_overlap_ngrams {
            for i in 0..n.saturating_sub(1) {
                let from_query = n - 1 - i;
                if qt.len() >= from_query && lt.len() > i {
                    let mut w: Vec<&str> = qt[qt.len() - from_query..].to_vec();
                    w.extend_from_slice(&lt[..=i]);
                    out.push(hash_joined(&w, &mut buf));
                }
            }
        }
    }
    out
}

/// A datatrove-compatible index: hash → eval set.
#[derive(Clone, Debug)]
pub struct DtIndex {
    /// The configuration the index was built with.
    pub config: Config,
    set: KeySet,
}

impl DtIndex {
    /// Indexes items `(label, query)` of eval set `item_set[i]`; a hash found in several sets
    /// keeps the smallest set number.
    ///
    /// # Errors
    /// A bad `ngram`, lengths that disagree, invalid UTF-8.
    pub fn build<T: Texts + ?Sized>(
        labels: &T,
        queries: Option<&T>,
        item_set: &[u32],
        config: Config,
        splits: &Splits,
        n_threads: Option<usize>,
    ) -> Result<Self> {
        check_ngram(config.ngram)?;
        if labels.len() != item_set.len() || queries.is_some_and(|q| q.len() != labels.len()) {
            return Err(Error::ShapeMismatch(
                "labels, queries and item_set must have the same length".into(),
            ));
        }
        let mut pairs: Vec<(u64, u32)> = with_threads(n_threads, || {
            (0..labels.len())
                .into_par_iter()
                .map(|i| -> Result<Vec<(u64, u32)>> {
                    let Some(label) = labels.get(i)? else {
                        return Ok(Vec::new());
                    };
                    let query = match queries {
                        Some(q) => q.get(i)?,
                        None => None,
                    };
                    Ok(item_hashes(label, query, &config, splits)
                        .into_iter()
                        .map(|h| (h, item_set[i]))
                        .collect())
                })
                .collect::<Result<Vec<_>>>()
        })??
        .into_iter()
        .flatten()
        .collect();
        pairs.par_sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        Self::from_hashes(
            pairs.iter().map(|p| p.0).collect(),
            pairs.iter().map(|p| p.1).collect(),
            config,
        )
    }

    /// An index of strictly increasing `hashes` with their sets (from a file).
    ///
    /// # Errors
    /// Unsorted hashes, lengths that disagree, a bad `ngram`.
    pub fn from_hashes(hashes: Vec<u64>, sets: Vec<u32>, config: Config) -> Result<Self> {
        check_ngram(config.ngram)?;
        Ok(Self {
            config,
            set: KeySet::new(hashes, sets)?,
        })
    }

    /// The hashes and their sets.
    pub fn keys(&self) -> &KeySet {
        &self.set
    }

    /// `NGramsDecontFilter.filter`: `None` to keep the document, else the first contaminated
    /// n-gram (in document order) and its set.
    pub fn first_match(&self, text: &str, splits: &Splits) -> Option<(String, u32)> {
        let s = simplify(text);
        let mut toks = Vec::new();
        splits.tokens(&s, &mut toks);
        let mut buf = String::new();
        for w in toks.windows(self.config.ngram) {
            if let Some(set) = self.set.get(hash_joined(w, &mut buf)) {
                return Some((buf, set));
            }
        }
        None
    }

    /// [`DtIndex::first_match`] of every row, in parallel.
    ///
    /// # Errors
    /// Invalid UTF-8, `n_threads == 0`.
    pub fn filter<T: Texts + ?Sized>(
        &self,
        texts: &T,
        splits: &Splits,
        n_threads: Option<usize>,
    ) -> Result<Vec<Option<(String, u32)>>> {
        with_threads(n_threads, || {
            (0..texts.len())
                .into_par_iter()
                .map(|i| -> Result<_> {
                    Ok(texts.get(i)?.and_then(|t| self.first_match(t, splits)))
                })
                .collect()
        })?
    }
}
