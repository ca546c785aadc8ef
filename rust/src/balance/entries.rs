//! Entry matching for MetaCLIP-style balancing (Xu et al., "Demystifying CLIP Data", 2023).
//!
//! MetaCLIP builds a list of entries (WordNet synsets, Wikipedia titles and n-grams), finds which
//! entries occur in each text by sub-string matching, counts the texts per entry and then caps
//! every entry at `t` texts. This module is the matching part: one Aho–Corasick automaton (Aho &
//! Corasick, "Efficient string matching", 1975; the `aho-corasick` crate) over the normalised
//! entries finds every occurrence of every entry in one pass over a text, overlapping ones
//! included ("new york" and "york" both occur in "new york city").
//!
//! Semantics, which the tests check against a brute-force search and `pyahocorasick`:
//!
//! - entries and texts are normalised the same way ([`Normalizer`]: case folding, NFKC, ...);
//! - an occurrence is a byte range of the normalised text equal to the normalised entry; with
//!   `word_boundary` it counts only if the characters right before and right after it are not word
//!   characters (Python's `\w`) or are the ends of the text, so "cat" matches in "a cat." but not
//!   in "cats" or "concat";
//! - the result per document is the number of occurrences of each entry (a CSR row, sorted by
//!   entry), and per entry the number of documents in which it occurs at least once (MetaCLIP's
//!   count).
//!
//! Invariant: a document's row depends only on its text, the entries and the options, never on
//! the batch or the number of threads.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rayon::prelude::*;

use super::Csr;
use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::parallel::with_threads;
use crate::text::{ascii_class, char_class, CharClass, Normalizer};

/// Rows per parallel task: large enough to amortise scheduling, small enough to balance load.
const ROWS_PER_TASK: usize = 256;

/// How entries are matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchOptions {
    /// Applied to the entries and to every text before matching.
    pub normalizer: Normalizer,
    /// Count an occurrence only between non-word characters (or the text's ends).
    pub word_boundary: bool,
}

/// The occurrences of every entry in a batch of documents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matches {
    /// Documents × entries: occurrences of each entry in each document.
    pub csr: Csr<u32>,
    /// Per entry: documents of the batch in which it occurs at least once.
    pub doc_counts: Vec<u64>,
    /// Null documents (empty rows).
    pub n_null: u64,
}

/// An Aho–Corasick automaton over a list of entries.
#[derive(Clone, Debug)]
pub struct EntryMatcher {
    ac: AhoCorasick,
    n_entries: usize,
    options: MatchOptions,
}

impl EntryMatcher {
    /// Builds the automaton over the normalised `entries` (entry `i` is pattern `i`).
    ///
    /// # Errors
    /// A null, empty (after normalisation) or non-UTF-8 entry, two entries that are equal after
    /// normalisation (both positions named), more than `u32::MAX` entries, or an automaton too
    /// large to build.
    pub fn new<T: Texts + ?Sized>(entries: &T, options: MatchOptions) -> Result<Self> {
        let n = entries.len();
        if n > u32::MAX as usize {
            return Err(Error::param(
                "entries",
                format!("at most {} entries, got {n}", u32::MAX),
            ));
        }
        let mut patterns: Vec<String> = alloc::with_capacity(n, "entries", "normalised entries")?;
        let mut buf = String::new();
        for i in 0..n {
            let Some(raw) = entries.get(i).map_err(|e| match e {
                Error::InvalidUtf8 { offset, .. } => Error::param(
                    "entries",
                    format!("entry {i} is not valid UTF-8 (byte {offset})"),
                ),
                e => e,
            })?
            else {
                return Err(Error::param("entries", format!("entry {i} is null")));
            };
            let norm = options.normalizer.apply(raw, &mut buf);
            if norm.is_empty() {
                return Err(Error::param(
                    "entries",
                    format!("entry {i} ({raw:?}) is empty after normalisation"),
                ));
            }
            patterns.push(norm.to_owned());
        }
        // Equal entries would be two patterns with the same matches: reject them, naming both
        // positions, rather than count one entry twice. Sorting an index is deterministic and
        // needs no hash map.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            patterns[a as usize]
                .cmp(&patterns[b as usize])
                .then(a.cmp(&b))
        });
        for w in order.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if patterns[a] == patterns[b] {
                return Err(Error::param(
                    "entries",
                    format!(
                        "entries {a} and {b} are equal after normalisation ({:?}); remove \
                         duplicates first",
                        patterns[a]
                    ),
                ));
            }
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| Error::param("entries", format!("cannot build the automaton: {e}")))?;
        Ok(Self {
            ac,
            n_entries: n,
            options,
        })
    }

    /// Number of entries.
    pub fn n_entries(&self) -> usize {
        self.n_entries
    }

    /// The options the matcher was built with.
    pub fn options(&self) -> MatchOptions {
        self.options
    }

    /// Heap bytes of the automaton.
    pub fn memory_usage(&self) -> usize {
        self.ac.memory_usage()
    }

    /// Appends the `(entry, occurrences)` of one normalised text to `indices`/`values`, sorted by
    /// entry; `scratch` holds the entry of every accepted occurrence.
    fn match_one(
        &self,
        text: &str,
        scratch: &mut Vec<u32>,
        indices: &mut Vec<u32>,
        values: &mut Vec<u32>,
    ) {
        scratch.clear();
        for m in self.ac.find_overlapping_iter(text) {
            if self.options.word_boundary && !at_word_boundary(text, m.start(), m.end()) {
                continue;
            }
            scratch.push(m.pattern().as_u32());
        }
        scratch.sort_unstable();
        let row_start = indices.len();
        for &e in scratch.iter() {
            match (indices.len() > row_start, values.last_mut()) {
                // Same entry as the previous occurrence of this row (the row is sorted).
                (true, Some(v)) if indices.last() == Some(&e) => *v = v.saturating_add(1),
                _ => {
                    indices.push(e);
                    values.push(1);
                }
            }
        }
    }

    /// The occurrences of every entry in every document of `texts`; null documents have empty
    /// rows.
    ///
    /// # Errors
    /// The first document (lowest row) that is not UTF-8, or a thread-pool failure.
    pub fn match_texts<T: Texts + ?Sized>(
        &self,
        texts: &T,
        n_threads: Option<usize>,
    ) -> Result<Matches> {
        let n = texts.len();
        let chunks: Vec<(usize, usize)> = (0..n)
            .step_by(ROWS_PER_TASK)
            .map(|s| (s, (s + ROWS_PER_TASK).min(n)))
            .collect();
        type Part = (Vec<i64>, Vec<u32>, Vec<u32>, u64);
        let parts: Vec<Result<Part>> = with_threads(n_threads, || {
            chunks
                .into_par_iter()
                .map_init(
                    || (String::new(), Vec::new()),
                    |(buf, scratch), (lo, hi)| {
                        let (mut ends, mut idx, mut val, mut n_null) =
                            (Vec::with_capacity(hi - lo), Vec::new(), Vec::new(), 0u64);
                        for i in lo..hi {
                            let row_start = idx.len();
                            match texts.get(i)? {
                                Some(t) => {
                                    let t = self.options.normalizer.apply(t, buf);
                                    self.match_one(t, scratch, &mut idx, &mut val);
                                    debug_assert!(idx[row_start..].windows(2).all(|w| w[0] < w[1]));
                                }
                                None => n_null += 1,
                            }
                            ends.push(idx.len() as i64);
                        }
                        Ok((ends, idx, val, n_null))
                    },
                )
                .collect()
        })?;
        let mut csr = Csr {
            indptr: alloc::with_capacity(n + 1, "texts", "match row pointers")?,
            ..Csr::default()
        };
        csr.indptr.push(0);
        let mut n_null = 0;
        for part in parts {
            let (ends, idx, val, nn) = part?;
            let base = csr.indices.len() as i64;
            csr.indptr.extend(ends.iter().map(|e| e + base));
            csr.indices.extend_from_slice(&idx);
            csr.values.extend_from_slice(&val);
            n_null += nn;
        }
        let mut doc_counts = alloc::zeroed::<u64>(self.n_entries, "entries", "entry counts")?;
        // Each entry appears at most once per row, so counting indices counts documents.
        for &e in &csr.indices {
            doc_counts[e as usize] += 1;
        }
        Ok(Matches {
            csr,
            doc_counts,
            n_null,
        })
    }
}

/// Whether the character before `start` and the one at `end` are not word characters (or are
/// the ends of `text`). `start..end` is a match of a UTF-8 pattern in UTF-8 text, so both are
/// character boundaries.
#[inline]
fn at_word_boundary(text: &str, start: usize, end: usize) -> bool {
    !is_word(text[..start].chars().next_back()) && !is_word(text[end..].chars().next())
}

#[inline]
fn is_word(c: Option<char>) -> bool {
    match c {
        None => false,
        Some(c) if c.is_ascii() => ascii_class(c as u8) == CharClass::Word,
        Some(c) => char_class(c) == CharClass::Word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(lowercase: bool, word_boundary: bool) -> MatchOptions {
        MatchOptions {
            normalizer: Normalizer {
                lowercase,
                ..Normalizer::default()
            },
            word_boundary,
        }
    }

    /// Every start position where the entry occurs, then the boundary filter: the definition.
    fn brute(entries: &[&str], text: &str, o: MatchOptions) -> Vec<(u32, u32)> {
        let mut buf = String::new();
        let t = o.normalizer.apply(text, &mut buf).to_owned();
        let mut out = Vec::new();
        for (e, raw) in entries.iter().enumerate() {
            let mut b2 = String::new();
            let p = o.normalizer.apply(raw, &mut b2);
            let mut c = 0;
            for s in 0..t.len() {
                if t.is_char_boundary(s)
                    && t[s..].starts_with(p)
                    && (!o.word_boundary || at_word_boundary(&t, s, s + p.len()))
                {
                    c += 1;
                }
            }
            if c > 0 {
                out.push((e as u32, c));
            }
        }
        out
    }

    #[test]
    fn matches_brute_force() {
        let entries = ["cat", "new york", "york", "a", "Café", "aa", "c++"];
        let texts = [
            "A cat sat in New York. concat cats",
            "café CAFÉ Cafés",
            "aaaa a",
            "c++ and c++11 and c+++",
            "",
        ];
        for &(lc, wb) in &[(false, false), (true, false), (false, true), (true, true)] {
            let o = opts(lc, wb);
            let m = EntryMatcher::new(&entries[..], o).unwrap();
            let got = m.match_texts(&texts[..], Some(2)).unwrap();
            for (i, t) in texts.iter().enumerate() {
                let (a, b) = (got.csr.indptr[i] as usize, got.csr.indptr[i + 1] as usize);
                let row: Vec<(u32, u32)> = got.csr.indices[a..b]
                    .iter()
                    .copied()
                    .zip(got.csr.values[a..b].iter().copied())
                    .collect();
                assert_eq!(row, brute(&entries, t, o), "text {t:?} options {o:?}");
            }
        }
    }

    #[test]
    fn counts_documents_and_is_thread_independent() {
        let entries = ["x", "y"];
        let texts: Vec<String> = (0..2000).map(|i| "x ".repeat(i % 3)).collect();
        let m = EntryMatcher::new(&entries[..], opts(true, true)).unwrap();
        let a = m.match_texts(&texts, Some(1)).unwrap();
        let b = m.match_texts(&texts, Some(3)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.doc_counts, vec![1333, 0]);
    }

    #[test]
    fn rejects_bad_entries() {
        let o = opts(true, false);
        assert!(EntryMatcher::new(&["a", "A"][..], o)
            .unwrap_err()
            .to_string()
            .contains("entries 0 and 1"));
        assert!(EntryMatcher::new(&["a", ""][..], o).is_err());
        assert!(EntryMatcher::new(&["a", "A"][..], opts(false, false)).is_ok());
    }
}
