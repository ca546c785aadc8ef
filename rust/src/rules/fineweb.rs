//! FineWeb's rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the Finest
//! Text Data at Scale", section 3.3) with datatrove 0.10.1's `FineWebQualityFilter` defaults.

use super::chars::{is_terminal_punctuation, n_chars, py_strip};
use super::gopher::{find_duplicates, ratio};
use super::words::LazyWords;
use super::Reason;

/// FineWeb thresholds. Defaults: datatrove's.
#[derive(Clone, Debug)]
pub struct FineWeb {
    /// Share of lines ending in a stop character below: `line_punct_ratio`.
    pub line_punct_thr: f64,
    /// Do not drop documents with no line ending in a stop character.
    pub line_punct_exclude_zero: bool,
    /// Line endings (`None`: datatrove's `TERMINAL_PUNCTUATION`).
    pub stop_chars: Option<Vec<String>>,
    /// Share of short lines above: `short_line_ratio`.
    pub short_line_thr: f64,
    /// A line of at most this many characters is short.
    pub short_line_length: usize,
    /// Characters of duplicate lines / characters (newlines excluded) above: `char_dup_ratio`.
    pub char_duplicates_ratio: f64,
    /// Newlines per word above: `list_ratio`.
    pub new_line_ratio: f64,
}

impl Default for FineWeb {
    fn default() -> Self {
        Self {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
        }
    }
}

/// The statistics of the FineWeb rules for one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FineWebStats {
    /// Share of non-blank lines ending in a stop character.
    pub line_punct_ratio: f64,
    /// Share of non-blank lines of at most `short_line_length` characters.
    pub short_line_ratio: f64,
    /// Characters of duplicate lines / characters other than `\n`.
    pub char_dup_ratio: f64,
    /// Newlines per word.
    pub list_ratio: f64,
}

/// Computes the statistics and the first failing rule (datatrove's order).
pub fn fineweb(
    text: &str,
    words: &LazyWords<'_>,
    p: &FineWeb,
    all_stats: bool,
) -> (FineWebStats, Option<Reason>) {
    let mut s = FineWebStats::default();
    let lines = || text.split('\n').filter(|l| !py_strip(l).is_empty());
    let (mut n, mut punct, mut short) = (0usize, 0usize, 0usize);
    for l in lines() {
        n += 1;
        let ends = match &p.stop_chars {
            None => l.chars().next_back().is_some_and(is_terminal_punctuation),
            Some(stops) => stops.iter().any(|x| l.ends_with(x.as_str())),
        };
        punct += usize::from(ends);
        short += usize::from(n_chars(l) <= p.short_line_length);
    }
    if n == 0 {
        return (s, Some(Reason::FineWebEmpty));
    }
    let mut reason = None;
    s.line_punct_ratio = ratio(punct, n);
    if s.line_punct_ratio < p.line_punct_thr
        && !(s.line_punct_ratio == 0.0 && p.line_punct_exclude_zero)
    {
        reason = Some(Reason::LinePunctRatio);
    }
    s.short_line_ratio = ratio(short, n);
    if reason.is_none() && s.short_line_ratio > p.short_line_thr {
        reason = Some(Reason::ShortLineRatio);
    }
    if reason.is_some() && !all_stats {
        return (s, reason);
    }
    let newlines = text.bytes().filter(|&b| b == b'\n').count();
    s.char_dup_ratio = ratio(find_duplicates(lines()).1, n_chars(text) - newlines);
    if reason.is_none() && s.char_dup_ratio > p.char_duplicates_ratio {
        reason = Some(Reason::CharDupRatio);
    }
    if reason.is_some() && !all_stats {
        return (s, reason);
    }
    s.list_ratio = ratio(newlines, words.get().len());
    if reason.is_none() && s.list_ratio > p.new_line_ratio {
        reason = Some(Reason::ListRatio);
    }
    (s, reason)
}
