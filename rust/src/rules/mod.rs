//! Heuristic quality rules: Gopher quality and repetition (Rae et al. 2021), C4 (Raffel et al.
//! 2020) and FineWeb (Penedo et al. 2024), with datatrove 0.10.1's definitions, defaults and rule
//! names.
//!
//! Each enabled family is checked in the configured order; a document is kept when no rule fails,
//! and its `reason` is the first failing rule (the family order, then datatrove's order inside a
//! family). Words come from [`words`], a spaCy-compatible English tokenizer (datatrove uses
//! spaCy's); every other statistic follows datatrove's Python definitions exactly (code point
//! lengths, `str.splitlines`, `str.strip`, `str.isalpha`). Differences from datatrove on
//! degenerate input: a ratio over zero words or lines is 0 (datatrove raises
//! `ZeroDivisionError`), a null text is the empty text, and a threshold of 0 is a threshold
//! (datatrove's `if threshold and ...` disables it; tamis disables a rule with `None`).
//!
//! Work is per document, in parallel over rows; the output is the same for any thread count.

mod affixes;
pub mod c4;
pub mod chars;
mod exceptions;
pub mod fineweb;
pub mod gopher;
mod tables;
pub mod words;

use rayon::prelude::*;

use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::parallel::with_threads;

pub use c4::C4;
pub use fineweb::FineWeb;
pub use gopher::{GopherQuality, GopherRepetition};

/// Why a document is dropped: datatrove's rule names (see [`Reason::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Reason {
    GopherShortDoc,
    GopherLongDoc,
    GopherBelowAvgThreshold,
    GopherAboveAvgThreshold,
    GopherTooManyHashes,
    GopherTooManyEllipsis,
    GopherTooManyBullets,
    GopherTooManyEndEllipsis,
    GopherBelowAlphaThreshold,
    GopherEnoughStopWords,
    GopherRepetitionEmpty,
    DupParaFrac,
    DupParaCharFrac,
    DupLineFrac,
    DupLineCharFrac,
    TopNGram(usize),
    DuplicatedNGrams(usize),
    LoremIpsum,
    CurlyBracket,
    TooFewSentences,
    FineWebEmpty,
    LinePunctRatio,
    ShortLineRatio,
    CharDupRatio,
    ListRatio,
}

impl Reason {
    /// datatrove's name of the rule.
    pub fn name(self) -> String {
        match self {
            Reason::GopherShortDoc => "gopher_short_doc".into(),
            Reason::GopherLongDoc => "gopher_long_doc".into(),
            Reason::GopherBelowAvgThreshold => "gopher_below_avg_threshold".into(),
            Reason::GopherAboveAvgThreshold => "gopher_above_avg_threshold".into(),
            Reason::GopherTooManyHashes => "gopher_too_many_hashes".into(),
            Reason::GopherTooManyEllipsis => "gopher_too_many_ellipsis".into(),
            Reason::GopherTooManyBullets => "gopher_too_many_bullets".into(),
            Reason::GopherTooManyEndEllipsis => "gopher_too_many_end_ellipsis".into(),
            Reason::GopherBelowAlphaThreshold => "gopher_below_alpha_threshold".into(),
            Reason::GopherEnoughStopWords => "gopher_enough_stop_words".into(),
            Reason::GopherRepetitionEmpty | Reason::FineWebEmpty => "empty".into(),
            Reason::DupParaFrac => "dup_para_frac".into(),
            Reason::DupParaCharFrac => "dup_para_char_frac".into(),
            Reason::DupLineFrac => "dup_line_frac".into(),
            Reason::DupLineCharFrac => "dup_line_char_frac".into(),
            Reason::TopNGram(n) => format!("top_{n}_gram"),
            Reason::DuplicatedNGrams(n) => format!("duplicated_{n}_n_grams"),
            Reason::LoremIpsum => "lorem_ipsum".into(),
            Reason::CurlyBracket => "curly_bracket".into(),
            Reason::TooFewSentences => "too_few_sentences".into(),
            Reason::LinePunctRatio => "line_punct_ratio".into(),
            Reason::ShortLineRatio => "short_line_ratio".into(),
            Reason::CharDupRatio => "char_dup_ratio".into(),
            Reason::ListRatio => "list_ratio".into(),
        }
    }
}

/// A rule family, with its thresholds.
#[derive(Clone, Debug)]
pub enum Family {
    /// Gopher quality.
    Gopher(GopherQuality),
    /// Gopher repetition.
    GopherRepetition(GopherRepetition),
    /// C4.
    C4(C4),
    /// FineWeb.
    FineWeb(FineWeb),
}

impl Family {
    /// The family's name on the command line (`gopher`, `gopher-repetition`, `c4`, `fineweb`).
    pub fn name(&self) -> &'static str {
        match self {
            Family::Gopher(_) => "gopher",
            Family::GopherRepetition(_) => "gopher-repetition",
            Family::C4(_) => "c4",
            Family::FineWeb(_) => "fineweb",
        }
    }

    /// Every reason the family can give, in check order.
    pub fn reasons(&self) -> Vec<Reason> {
        use Reason as R;
        match self {
            Family::Gopher(_) => vec![
                R::GopherShortDoc,
                R::GopherLongDoc,
                R::GopherBelowAvgThreshold,
                R::GopherAboveAvgThreshold,
                R::GopherTooManyHashes,
                R::GopherTooManyEllipsis,
                R::GopherTooManyBullets,
                R::GopherTooManyEndEllipsis,
                R::GopherBelowAlphaThreshold,
                R::GopherEnoughStopWords,
            ],
            Family::GopherRepetition(p) => {
                let mut v = vec![
                    R::GopherRepetitionEmpty,
                    R::DupParaFrac,
                    R::DupParaCharFrac,
                    R::DupLineFrac,
                    R::DupLineCharFrac,
                ];
                v.extend(p.top_n_grams.iter().map(|&(n, _)| R::TopNGram(n)));
                v.extend(p.dup_n_grams.iter().map(|&(n, _)| R::DuplicatedNGrams(n)));
                v
            }
            Family::C4(_) => vec![R::LoremIpsum, R::CurlyBracket, R::TooFewSentences],
            Family::FineWeb(_) => vec![
                R::FineWebEmpty,
                R::LinePunctRatio,
                R::ShortLineRatio,
                R::CharDupRatio,
                R::ListRatio,
            ],
        }
    }

    /// Names of the family's statistics columns.
    pub fn stat_names(&self) -> Vec<String> {
        let named = |prefix: &str, names: &[&str]| -> Vec<String> {
            names.iter().map(|n| format!("{prefix}{n}")).collect()
        };
        match self {
            Family::Gopher(_) => named(
                "gopher_",
                &[
                    "n_words",
                    "n_non_symbol_words",
                    "avg_word_length",
                    "hash_ratio",
                    "ellipsis_ratio",
                    "bullet_lines_ratio",
                    "ellipsis_lines_ratio",
                    "alpha_words_ratio",
                    "n_stop_words",
                ],
            ),
            Family::GopherRepetition(p) => {
                let mut v = named(
                    "gopher_",
                    &[
                        "dup_para_frac",
                        "dup_para_char_frac",
                        "dup_line_frac",
                        "dup_line_char_frac",
                    ],
                );
                v.extend(
                    p.top_n_grams
                        .iter()
                        .map(|(n, _)| format!("gopher_top_{n}_gram_frac")),
                );
                v.extend(
                    p.dup_n_grams
                        .iter()
                        .map(|(n, _)| format!("gopher_duplicated_{n}_n_grams_frac")),
                );
                v
            }
            Family::C4(_) => named("c4_", &["n_lines", "n_kept_lines", "n_sentences"]),
            Family::FineWeb(_) => named(
                "fineweb_",
                &[
                    "line_punct_ratio",
                    "short_line_ratio",
                    "char_dup_ratio",
                    "list_ratio",
                ],
            ),
        }
    }

    fn check(
        &self,
        text: &str,
        words: &words::LazyWords<'_>,
        stats: Option<&mut Vec<f64>>,
    ) -> Option<Reason> {
        let all = stats.is_some();
        match self {
            Family::Gopher(q) => {
                let (s, r) = gopher::quality(text, words, q);
                if let Some(out) = stats {
                    s.values(out);
                }
                r
            }
            Family::GopherRepetition(q) => {
                let (s, r) = gopher::repetition(text, words, q, all);
                if let Some(out) = stats {
                    out.extend([
                        s.dup_para_frac,
                        s.dup_para_char_frac,
                        s.dup_line_frac,
                        s.dup_line_char_frac,
                    ]);
                    // Empty text: no n-gram statistic was computed.
                    let get = |v: &[(usize, f64)], i: usize| v.get(i).map_or(f64::NAN, |x| x.1);
                    out.extend((0..q.top_n_grams.len()).map(|i| get(&s.top_n_grams, i)));
                    out.extend((0..q.dup_n_grams.len()).map(|i| get(&s.dup_n_grams, i)));
                }
                r
            }
            Family::C4(q) => {
                let (s, r) = c4::c4(text, q, all);
                if let Some(out) = stats {
                    out.extend([
                        s.n_lines as f64,
                        s.n_kept_lines as f64,
                        s.n_sentences as f64,
                    ]);
                }
                r
            }
            Family::FineWeb(q) => {
                let (s, r) = fineweb::fineweb(text, words, q, all);
                if let Some(out) = stats {
                    out.extend([
                        s.line_punct_ratio,
                        s.short_line_ratio,
                        s.char_dup_ratio,
                        s.list_ratio,
                    ]);
                }
                r
            }
        }
    }
}

/// Statistics that write themselves as a row of columns.
pub(crate) trait Stat {
    fn values(&self, out: &mut Vec<f64>);
}

/// The rule families to apply, in order.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Families in check order.
    pub families: Vec<Family>,
}

/// The decisions for a column of documents.
#[derive(Clone, Debug, Default)]
pub struct Decisions {
    /// Whether each document passes every rule.
    pub keep: Vec<bool>,
    /// 0 for a kept document, else 1 + the index of the failing rule in [`Rules::reasons`].
    pub reason: Vec<u16>,
    /// Row-major statistics (`n_rows × Rules::stat_names().len()`), empty unless asked for.
    pub stats: Vec<f64>,
}

impl Rules {
    /// Checks the thresholds (finite, n-gram sizes ≥ 1, at most 10,000 reasons).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the threshold.
    pub fn new(families: Vec<Family>) -> Result<Self> {
        let finite = |name: &'static str, v: Option<f64>| -> Result<()> {
            match v {
                Some(x) if x.is_nan() => Err(Error::param(name, "must be a number, got NaN")),
                _ => Ok(()),
            }
        };
        for f in &families {
            match f {
                Family::Gopher(q) => {
                    finite("min_doc_words", q.min_doc_words)?;
                    finite("max_doc_words", q.max_doc_words)?;
                    finite("min_avg_word_length", q.min_avg_word_length)?;
                    finite("max_avg_word_length", q.max_avg_word_length)?;
                    finite("max_symbol_word_ratio", q.max_symbol_word_ratio)?;
                    finite("max_bullet_lines_ratio", q.max_bullet_lines_ratio)?;
                    finite("max_ellipsis_lines_ratio", q.max_ellipsis_lines_ratio)?;
                    finite("max_non_alpha_words_ratio", q.max_non_alpha_words_ratio)?;
                    finite("min_stop_words", q.min_stop_words)?;
                }
                Family::GopherRepetition(q) => {
                    finite("dup_para_frac", q.dup_para_frac)?;
                    finite("dup_para_char_frac", q.dup_para_char_frac)?;
                    finite("dup_line_frac", q.dup_line_frac)?;
                    finite("dup_line_char_frac", q.dup_line_char_frac)?;
                    for (name, list) in [
                        ("top_n_grams", &q.top_n_grams),
                        ("dup_n_grams", &q.dup_n_grams),
                    ] {
                        for &(n, t) in list {
                            if n == 0 {
                                return Err(Error::param(name, "n-gram sizes must be >= 1, got 0"));
                            }
                            finite(name, Some(t))?;
                        }
                    }
                }
                Family::C4(_) => {}
                Family::FineWeb(q) => {
                    finite("line_punct_thr", Some(q.line_punct_thr))?;
                    finite("short_line_thr", Some(q.short_line_thr))?;
                    finite("char_duplicates_ratio", Some(q.char_duplicates_ratio))?;
                    finite("new_line_ratio", Some(q.new_line_ratio))?;
                }
            }
        }
        let rules = Self { families };
        if rules.reasons().len() >= usize::from(u16::MAX) {
            return Err(Error::param(
                "top_n_grams",
                "too many rules (at most 65,534)",
            ));
        }
        Ok(rules)
    }

    /// Every reason, as `(family name, rule name)`, in check order; reason code `i + 1`.
    pub fn reasons(&self) -> Vec<(&'static str, Reason)> {
        self.families
            .iter()
            .flat_map(|f| f.reasons().into_iter().map(move |r| (f.name(), r)))
            .collect()
    }

    /// Names of the statistics columns, in order.
    pub fn stat_names(&self) -> Vec<String> {
        self.families.iter().flat_map(Family::stat_names).collect()
    }

    /// Applies the rules to one text: `(reason code, statistics if asked)`.
    fn apply_one(&self, text: &str, stats: Option<&mut Vec<f64>>) -> u16 {
        let mut offset = 0usize;
        let mut found = 0u16;
        let mut stats = stats;
        let words = words::LazyWords::new(text);
        for f in &self.families {
            let reasons = f.reasons();
            let r = if let Some(out) = stats.as_deref_mut() {
                f.check(text, &words, Some(out))
            } else if found != 0 {
                None
            } else {
                f.check(text, &words, None)
            };
            if let (0, Some(r)) = (found, r) {
                let i = reasons.iter().position(|x| *x == r).unwrap_or(0);
                found = u16::try_from(offset + i + 1).unwrap_or(u16::MAX);
            }
            if found != 0 && stats.is_none() {
                break;
            }
            offset += reasons.len();
        }
        found
    }

    /// Decides every document of `texts` (nulls are empty texts) on `n_threads` threads.
    ///
    /// # Errors
    /// Invalid UTF-8 (naming the row), `n_threads == Some(0)`, or an output too large.
    pub fn apply(
        &self,
        texts: &dyn Texts,
        with_stats: bool,
        n_threads: Option<usize>,
    ) -> Result<Decisions> {
        let n = texts.len();
        let n_stats = if with_stats {
            self.stat_names().len()
        } else {
            0
        };
        let mut reason = alloc::zeroed::<u16>(n, "texts", "reason codes")?;
        let mut stats = alloc::zeroed_2d::<f64>(n, n_stats, "texts", "rule statistics")?;
        with_threads(n_threads, || {
            if n_stats == 0 {
                reason
                    .par_iter_mut()
                    .enumerate()
                    .with_min_len(16)
                    .try_for_each(|(i, code)| -> Result<()> {
                        *code = self.apply_one(texts.get(i)?.unwrap_or(""), None);
                        Ok(())
                    })
            } else {
                reason
                    .par_iter_mut()
                    .zip(stats.par_chunks_mut(n_stats))
                    .enumerate()
                    .with_min_len(16)
                    .try_for_each(|(i, (code, row))| -> Result<()> {
                        let mut buf = Vec::with_capacity(n_stats);
                        *code = self.apply_one(texts.get(i)?.unwrap_or(""), Some(&mut buf));
                        row.copy_from_slice(&buf);
                        Ok(())
                    })
            }
        })??;
        let keep = reason.iter().map(|&c| c == 0).collect();
        Ok(Decisions {
            keep,
            reason,
            stats,
        })
    }
}

#[cfg(test)]
mod tests;
