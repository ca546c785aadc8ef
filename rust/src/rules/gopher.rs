//! Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods,
//! Analysis & Insights from Training Gopher", appendix A1), with datatrove 0.10.1's definitions.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use super::chars::{is_alpha, is_datatrove_punctuation, n_chars, py_strip, splitlines};
use super::words::LazyWords;
use super::{Reason, Stat};

/// A fast deterministic hasher for string keys (each write is folded in with seeded xxh3; no
/// allocation; the maps never leave a document).
#[derive(Default)]
pub(crate) struct Xxh3Hasher(u64);

impl std::hash::Hasher for Xxh3Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
}

pub(crate) type StrMap<'a, V> = HashMap<&'a str, V, BuildHasherDefault<Xxh3Hasher>>;
pub(crate) type StrSet<'a> = HashSet<&'a str, BuildHasherDefault<Xxh3Hasher>>;

/// Gopher quality thresholds (`None` disables a rule). Defaults: datatrove's.
#[derive(Clone, Debug)]
pub struct GopherQuality {
    /// Fewer non-symbol words than this: `gopher_short_doc`.
    pub min_doc_words: Option<f64>,
    /// More non-symbol words than this: `gopher_long_doc`.
    pub max_doc_words: Option<f64>,
    /// Mean non-symbol word length below: `gopher_below_avg_threshold`.
    pub min_avg_word_length: Option<f64>,
    /// Mean non-symbol word length above: `gopher_above_avg_threshold`.
    pub max_avg_word_length: Option<f64>,
    /// `#` or ellipses per word above: `gopher_too_many_hashes` / `gopher_too_many_ellipsis`.
    pub max_symbol_word_ratio: Option<f64>,
    /// Share of lines starting with a bullet above: `gopher_too_many_bullets`.
    pub max_bullet_lines_ratio: Option<f64>,
    /// Share of lines ending with an ellipsis above: `gopher_too_many_end_ellipsis`.
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Share of words with a letter below (datatrove's name): `gopher_below_alpha_threshold`.
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Fewer distinct stop words than this: `gopher_enough_stop_words`.
    pub min_stop_words: Option<f64>,
    /// The stop words (matched case-sensitively against whole words).
    pub stop_words: Vec<String>,
}

impl Default for GopherQuality {
    fn default() -> Self {
        Self {
            min_doc_words: Some(50.0),
            max_doc_words: Some(100_000.0),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            max_non_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2.0),
            stop_words: ["the", "be", "to", "of", "and", "that", "have", "with"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// `a / b`, 0 when `b` is 0 (datatrove divides by zero there; see docs/quality.md).
pub(crate) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Non-overlapping occurrences of `pat` (Python's `str.count`).
fn count(text: &str, pat: &str) -> usize {
    text.matches(pat).count()
}

/// The statistics of the Gopher quality rules for one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QualityStats {
    /// Words (spaCy-compatible tokens).
    pub n_words: usize,
    /// Words with a character outside datatrove's punctuation set.
    pub n_non_symbol_words: usize,
    /// Mean length of the non-symbol words (NaN without any).
    pub avg_word_length: f64,
    /// `#` per word.
    pub hash_ratio: f64,
    /// `...` and `…` per word.
    pub ellipsis_ratio: f64,
    /// Share of lines starting (after whitespace) with `•` or `-`.
    pub bullet_lines_ratio: f64,
    /// Share of lines ending (before whitespace) with `...` or `…`.
    pub ellipsis_lines_ratio: f64,
    /// Share of words with at least one letter.
    pub alpha_words_ratio: f64,
    /// Distinct stop words present.
    pub n_stop_words: usize,
}

/// Computes the statistics and the first failing rule (checked in datatrove's order).
pub fn quality(
    text: &str,
    words: &LazyWords<'_>,
    p: &GopherQuality,
) -> (QualityStats, Option<Reason>) {
    let stop: StrSet<'_> = p.stop_words.iter().map(String::as_str).collect();
    let mut s = QualityStats::default();
    let mut non_symbol_chars = 0usize;
    let mut alpha_words = 0usize;
    let mut seen_stop: StrSet<'_> = StrSet::default();
    for &w in words.get() {
        s.n_words += 1;
        if w.chars().any(|c| !is_datatrove_punctuation(c)) {
            s.n_non_symbol_words += 1;
            non_symbol_chars += n_chars(w);
        }
        if w.chars().any(is_alpha) {
            alpha_words += 1;
        }
        if let Some(&k) = stop.get(w) {
            seen_stop.insert(k);
        }
    }
    s.avg_word_length = if s.n_non_symbol_words == 0 {
        f64::NAN
    } else {
        non_symbol_chars as f64 / s.n_non_symbol_words as f64
    };
    s.hash_ratio = ratio(count(text, "#"), s.n_words);
    s.ellipsis_ratio = ratio(count(text, "...") + count(text, "…"), s.n_words);
    let (mut n_lines, mut bullets, mut ellipses) = (0usize, 0usize, 0usize);
    for line in splitlines(text) {
        n_lines += 1;
        let l = line.trim_start_matches(super::chars::is_space);
        if l.starts_with('•') || l.starts_with('-') {
            bullets += 1;
        }
        let r = line.trim_end_matches(super::chars::is_space);
        if r.ends_with("...") || r.ends_with('…') {
            ellipses += 1;
        }
    }
    s.bullet_lines_ratio = ratio(bullets, n_lines);
    s.ellipsis_lines_ratio = ratio(ellipses, n_lines);
    s.alpha_words_ratio = ratio(alpha_words, s.n_words);
    s.n_stop_words = seen_stop.len();

    let n = s.n_non_symbol_words as f64;
    let avg = s.avg_word_length;
    let reason = if p.min_doc_words.is_some_and(|t| n < t) {
        Some(Reason::GopherShortDoc)
    } else if p.max_doc_words.is_some_and(|t| n > t) {
        Some(Reason::GopherLongDoc)
    } else if p.min_avg_word_length.is_some_and(|t| avg < t) {
        Some(Reason::GopherBelowAvgThreshold)
    } else if p.max_avg_word_length.is_some_and(|t| avg > t) {
        Some(Reason::GopherAboveAvgThreshold)
    } else if p.max_symbol_word_ratio.is_some_and(|t| s.hash_ratio > t) {
        Some(Reason::GopherTooManyHashes)
    } else if p
        .max_symbol_word_ratio
        .is_some_and(|t| s.ellipsis_ratio > t)
    {
        Some(Reason::GopherTooManyEllipsis)
    } else if p
        .max_bullet_lines_ratio
        .is_some_and(|t| s.bullet_lines_ratio > t)
    {
        Some(Reason::GopherTooManyBullets)
    } else if p
        .max_ellipsis_lines_ratio
        .is_some_and(|t| s.ellipsis_lines_ratio > t)
    {
        Some(Reason::GopherTooManyEndEllipsis)
    } else if p
        .max_non_alpha_words_ratio
        .is_some_and(|t| s.alpha_words_ratio < t)
    {
        Some(Reason::GopherBelowAlphaThreshold)
    } else if p
        .min_stop_words
        .is_some_and(|t| (s.n_stop_words as f64) < t)
    {
        Some(Reason::GopherEnoughStopWords)
    } else {
        None
    };
    (s, reason)
}

/// Gopher repetition thresholds (`None` disables a rule). Defaults: datatrove's.
#[derive(Clone, Debug)]
pub struct GopherRepetition {
    /// Duplicate paragraphs / paragraphs above: `dup_para_frac`.
    pub dup_para_frac: Option<f64>,
    /// Characters in duplicate paragraphs / characters above: `dup_para_char_frac`.
    pub dup_para_char_frac: Option<f64>,
    /// Duplicate lines / lines above: `dup_line_frac`.
    pub dup_line_frac: Option<f64>,
    /// Characters in duplicate lines / characters above: `dup_line_char_frac`.
    pub dup_line_char_frac: Option<f64>,
    /// `(n, max fraction)`: characters of the most frequent n-gram × its count: `top_{n}_gram`.
    pub top_n_grams: Vec<(usize, f64)>,
    /// `(n, max fraction)`: characters in repeated n-grams: `duplicated_{n}_n_grams`.
    pub dup_n_grams: Vec<(usize, f64)>,
}

impl Default for GopherRepetition {
    fn default() -> Self {
        Self {
            dup_para_frac: Some(0.3),
            dup_para_char_frac: Some(0.2),
            dup_line_frac: Some(0.3),
            dup_line_char_frac: Some(0.2),
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![
                (5, 0.15),
                (6, 0.14),
                (7, 0.13),
                (8, 0.12),
                (9, 0.11),
                (10, 0.10),
            ],
        }
    }
}

/// datatrove's `find_duplicates`: (elements seen before, their characters).
pub(crate) fn find_duplicates<'a>(items: impl Iterator<Item = &'a str>) -> (usize, usize) {
    let mut seen: StrSet<'a> = StrSet::default();
    let (mut n, mut chars) = (0, 0);
    for x in items {
        if !seen.insert(x) {
            n += 1;
            chars += n_chars(x);
        }
    }
    (n, chars)
}

/// Splits at runs of `\n` of at least `min_run` (1: lines, 2: paragraphs), as `re.split`.
fn split_newline_runs(text: &str, min_run: usize) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut pos = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut i = pos;
        while i < b.len() {
            if b[i] == b'\n' {
                let run = b[i..].iter().take_while(|&&c| c == b'\n').count();
                if run >= min_run {
                    let piece = &text[pos..i];
                    pos = i + run;
                    return Some(piece);
                }
                i += run;
            } else {
                i += 1;
            }
        }
        done = true;
        Some(&text[pos..])
    })
}

/// The words joined two ways, so that every n-gram is one slice: with single spaces (the
/// `" ".join` of the top n-grams) and without (the `"".join` of the duplicated n-grams).
struct Joined {
    spaced: String,
    plain: String,
    /// Byte start of word `i` in `spaced` / `plain`, with one extra entry at the end.
    spaced_at: Vec<usize>,
    plain_at: Vec<usize>,
    /// Code points before word `i` in `plain` (for lengths), with one extra entry.
    chars_at: Vec<usize>,
}

impl Joined {
    fn new(text: &str, words: &[&str]) -> Self {
        let mut j = Joined {
            spaced: String::with_capacity(text.len()),
            plain: String::with_capacity(text.len()),
            spaced_at: Vec::new(),
            plain_at: Vec::new(),
            chars_at: Vec::new(),
        };
        let mut chars = 0;
        for &w in words {
            if !j.spaced.is_empty() {
                j.spaced.push(' ');
            }
            j.spaced_at.push(j.spaced.len());
            j.spaced.push_str(w);
            j.plain_at.push(j.plain.len());
            j.plain.push_str(w);
            j.chars_at.push(chars);
            chars += n_chars(w);
        }
        j.spaced_at.push(j.spaced.len() + 1);
        j.plain_at.push(j.plain.len());
        j.chars_at.push(chars);
        j
    }

    fn n_words(&self) -> usize {
        self.plain_at.len() - 1
    }

    /// `" ".join(words[i:i+n])`.
    fn spaced(&self, i: usize, n: usize) -> &str {
        &self.spaced[self.spaced_at[i]..self.spaced_at[i + n] - 1]
    }

    /// `"".join(words[i:i+n])`.
    fn plain(&self, i: usize, n: usize) -> &str {
        &self.plain[self.plain_at[i]..self.plain_at[i + n]]
    }

    /// Code points of `"".join(words[i:i+n])`.
    fn plain_chars(&self, i: usize, n: usize) -> usize {
        self.chars_at[i + n] - self.chars_at[i]
    }
}

/// datatrove's `find_top_duplicate`: characters of the most frequent n-gram (the first seen
/// among ties) times its count; 0 without n-grams.
fn top_duplicate(j: &Joined, n: usize) -> usize {
    let w = j.n_words();
    if n == 0 || w < n {
        return 0;
    }
    let mut counts: StrMap<'_, (usize, usize)> = StrMap::default(); // count, first index
    for i in 0..=w - n {
        let e = counts.entry(j.spaced(i, n)).or_insert((0, i));
        e.0 += 1;
    }
    let best = counts
        .iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)));
    best.map_or(0, |(g, (c, _))| n_chars(g) * c)
}

/// datatrove's `find_all_duplicate`: characters of repeated n-grams, skipping past each repeat.
fn all_duplicate(joined: &Joined, n: usize) -> usize {
    let n_words = joined.n_words();
    let mut seen: StrSet<'_> = StrSet::default();
    let (mut repeated, mut at) = (0usize, 0usize);
    while n > 0 && at + n <= n_words {
        let gram = joined.plain(at, n);
        if seen.contains(gram) {
            repeated += joined.plain_chars(at, n);
            at += n;
        } else {
            seen.insert(gram);
            at += 1;
        }
    }
    repeated
}

/// The statistics of the Gopher repetition rules for one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepetitionStats {
    /// Duplicate paragraphs / paragraphs.
    pub dup_para_frac: f64,
    /// Characters of duplicate paragraphs / characters.
    pub dup_para_char_frac: f64,
    /// Duplicate lines / lines.
    pub dup_line_frac: f64,
    /// Characters of duplicate lines / characters.
    pub dup_line_char_frac: f64,
    /// `(n, fraction)` for each configured top n-gram.
    pub top_n_grams: Vec<(usize, f64)>,
    /// `(n, fraction)` for each configured duplicated n-gram size.
    pub dup_n_grams: Vec<(usize, f64)>,
}

fn fail(r: Reason, reason: &mut Option<Reason>) {
    if reason.is_none() {
        *reason = Some(r);
    }
}

/// Computes the statistics (all of them when `all_stats`, else until the first failure).
#[allow(clippy::many_single_char_names)] // p, s, n, j: the parameters, statistics, n-gram size
pub fn repetition(
    text: &str,
    words: &LazyWords<'_>,
    p: &GopherRepetition,
    all_stats: bool,
) -> (RepetitionStats, Option<Reason>) {
    let mut s = RepetitionStats::default();
    if text.is_empty() {
        // Nothing is measured (the n-gram statistics are NaN too, see `Family::check`).
        s.dup_para_frac = f64::NAN;
        s.dup_para_char_frac = f64::NAN;
        s.dup_line_frac = f64::NAN;
        s.dup_line_char_frac = f64::NAN;
        return (s, Some(Reason::GopherRepetitionEmpty));
    }
    let mut reason: Option<Reason> = None;
    let len = n_chars(text) as f64;
    let (mut n, mut dup, mut chars) = (0usize, 0usize, 0usize);
    {
        let mut seen: StrSet<'_> = StrSet::default();
        for para in split_newline_runs(py_strip(text), 2) {
            n += 1;
            if !seen.insert(para) {
                dup += 1;
                chars += n_chars(para);
            }
        }
    }
    s.dup_para_frac = ratio(dup, n);
    s.dup_para_char_frac = chars as f64 / len;
    if p.dup_para_frac.is_some_and(|t| s.dup_para_frac > t) {
        fail(Reason::DupParaFrac, &mut reason);
    }
    if p.dup_para_char_frac
        .is_some_and(|t| s.dup_para_char_frac > t)
    {
        fail(Reason::DupParaCharFrac, &mut reason);
    }
    if reason.is_some() && !all_stats {
        return (s, reason);
    }
    let mut n_lines = 0usize;
    let (dup, chars) = find_duplicates(split_newline_runs(text, 1).inspect(|_| n_lines += 1));
    s.dup_line_frac = ratio(dup, n_lines);
    s.dup_line_char_frac = chars as f64 / len;
    if p.dup_line_frac.is_some_and(|t| s.dup_line_frac > t) {
        fail(Reason::DupLineFrac, &mut reason);
    }
    if p.dup_line_char_frac
        .is_some_and(|t| s.dup_line_char_frac > t)
    {
        fail(Reason::DupLineCharFrac, &mut reason);
    }
    if reason.is_some() && !all_stats {
        return (s, reason);
    }
    let j = Joined::new(text, words.get());
    for &(n, frac) in &p.top_n_grams {
        if j.n_words() < n || n == 0 {
            s.top_n_grams.push((n, 0.0));
            continue;
        }
        let f = top_duplicate(&j, n) as f64 / len;
        s.top_n_grams.push((n, f));
        if f > frac {
            fail(Reason::TopNGram(n), &mut reason);
            if !all_stats {
                return (s, reason);
            }
        }
    }
    for &(n, frac) in &p.dup_n_grams {
        let f = all_duplicate(&j, n) as f64 / len;
        s.dup_n_grams.push((n, f));
        if f > frac {
            fail(Reason::DuplicatedNGrams(n), &mut reason);
            if !all_stats {
                return (s, reason);
            }
        }
    }
    (s, reason)
}

impl Stat for QualityStats {
    fn values(&self, out: &mut Vec<f64>) {
        out.extend([
            self.n_words as f64,
            self.n_non_symbol_words as f64,
            self.avg_word_length,
            self.hash_ratio,
            self.ellipsis_ratio,
            self.bullet_lines_ratio,
            self.ellipsis_lines_ratio,
            self.alpha_words_ratio,
            self.n_stop_words as f64,
        ]);
    }
}
