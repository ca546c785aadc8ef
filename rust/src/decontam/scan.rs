//! The scan: every window of every document looked up in the index, documents in parallel.

use rayon::prelude::*;

use super::{bytes_to_chars, Index, Tokens};
use crate::column::Texts;
use crate::error::Result;
use crate::parallel::with_threads;

/// What the scan found in one document. A clean document allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocMatch {
    /// Tokens of the document.
    pub n_tokens: u32,
    /// Windows of `ngram` tokens (`max(0, n_tokens - ngram + 1)`).
    pub n_ngrams: u32,
    /// Windows of `ngram` tokens found in the index.
    pub n_matched: u32,
    /// Windows found among the short items (indexed whole).
    pub n_short_matched: u32,
    /// Every matched window as `(first token, length)`, sorted.
    pub windows: Vec<(u32, u32)>,
    /// Matched character spans (windows merged where they overlap), as `[start, end)` offsets in
    /// characters (Python string indices), sorted.
    pub spans: Vec<(u64, u64)>,
    /// Matched items with their number of matched windows: most windows first, then item
    /// order; at most `max_items`.
    pub items: Vec<(u32, u32)>,
    /// Distinct matched items (before the cap).
    pub n_items: u32,
    /// The eval sets matched, ascending.
    pub sets: Vec<u32>,
}

/// Scans `texts` against `index`; results in row order (nulls are empty documents).
///
/// # Errors
/// Invalid UTF-8 (naming the row), `n_threads == 0`.
pub fn scan<T: Texts + ?Sized>(
    index: &Index,
    texts: &T,
    max_items: usize,
    n_threads: Option<usize>,
) -> Result<Vec<DocMatch>> {
    with_threads(n_threads, || {
        (0..texts.len())
            .into_par_iter()
            .with_min_len(64)
            .map_init(Scratch::default, |s, i| -> Result<DocMatch> {
                Ok(match texts.get(i)? {
                    Some(text) => scan_doc(index, text, max_items, s),
                    None => DocMatch::default(),
                })
            })
            .collect()
    })?
}

#[derive(Default)]
pub(crate) struct Scratch {
    tokens: Tokens,
    hits: Vec<(u32, u32, u32)>,
    items: Vec<u32>,
}

/// Scans one document.
pub(crate) fn scan_doc(index: &Index, text: &str, max_items: usize, s: &mut Scratch) -> DocMatch {
    s.tokens.fill(text);
    s.hits.clear();
    let t = s.tokens.len();
    let n = index.ngram();
    let mut out = DocMatch {
        n_tokens: t as u32,
        n_ngrams: (t + 1).saturating_sub(n) as u32,
        ..DocMatch::default()
    };
    if t >= n && !index.long.is_empty() {
        for start in 0..=t - n {
            if let Some(owner) = index.long.get(s.tokens.window(start, n)) {
                s.hits.push((start as u32, n as u32, owner));
            }
        }
    }
    out.n_matched = s.hits.len() as u32;
    for &k in &index.lengths {
        if t < k {
            break;
        }
        for start in 0..=t - k {
            if let Some(owner) = index.short.get(s.tokens.window(start, k)) {
                s.hits.push((start as u32, k as u32, owner));
            }
        }
    }
    out.n_short_matched = s.hits.len() as u32 - out.n_matched;
    if s.hits.is_empty() {
        return out;
    }
    s.hits.sort_unstable();
    out.windows = s.hits.iter().map(|&(a, l, _)| (a, l)).collect();
    // Spans: windows merged where their byte ranges overlap.
    let spans = &s.tokens.spans;
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for &(a, l, _) in &s.hits {
        let (lo, hi) = (spans[a as usize].0, spans[(a + l - 1) as usize].1);
        match merged.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let mut offs: Vec<usize> = merged.iter().flat_map(|&(a, b)| [a, b]).collect();
    bytes_to_chars(text, &mut offs);
    out.spans = offs
        .chunks_exact(2)
        .map(|p| (p[0] as u64, p[1] as u64))
        .collect();
    // Items, counted by matched window.
    s.items.clear();
    for &(_, _, owner) in &s.hits {
        index.for_items(owner, |it| s.items.push(it));
    }
    s.items.sort_unstable();
    let mut counts: Vec<(u32, u32)> = Vec::new();
    for &it in &s.items {
        match counts.last_mut() {
            Some(last) if last.0 == it => last.1 += 1,
            _ => counts.push((it, 1)),
        }
    }
    let mut sets: Vec<u32> = counts
        .iter()
        .map(|&(it, _)| index.parts.item_set[it as usize])
        .collect();
    sets.sort_unstable();
    sets.dedup();
    out.sets = sets;
    out.n_items = counts.len() as u32;
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.truncate(max_items);
    out.items = counts;
    out
}
