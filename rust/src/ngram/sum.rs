//! The streaming sum of n-gram counts over a corpus (what DSIR's fit needs).

use rayon::prelude::*;

use super::{row_chunks, AccumulateStats, NgramConfig, Scratch};
use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, PerThread};

/// Adds the n-gram counts of every row into `counts` (length `n_buckets`) without materialising
/// per-document features. Integer sums make the result independent of the thread count.
///
/// # Errors
/// Invalid parameters, `counts` of the wrong length, or a row that is not UTF-8.
pub fn accumulate<T: Texts + ?Sized>(
    cfg: &NgramConfig,
    texts: &T,
    counts: &mut [u64],
    n_threads: Option<usize>,
) -> Result<AccumulateStats> {
    cfg.validate()?;
    let nb = cfg.n_buckets as usize;
    if counts.len() != nb {
        return Err(Error::ShapeMismatch(format!(
            "counts has {} entries, expected n_buckets = {nb}",
            counts.len()
        )));
    }
    // One accumulator per worker thread, every task (64 rows) a job of its own (see
    // [`PerThread`]). Integer sums make the result independent of which thread counted a row.
    let (slots, outcome) = with_threads(n_threads, || {
        let slots = PerThread::new(Split::default);
        let outcome = row_chunks(texts.len())
            .into_par_iter()
            .with_max_len(1)
            .try_for_each(|(lo, hi)| -> Result<()> {
                slots.with(|sp| {
                    for i in lo..hi {
                        sp.stats.n_docs += 1;
                        match texts.get(i)? {
                            Some(t) => sp.add(cfg, t)?,
                            None => sp.stats.n_null += 1,
                        }
                    }
                    Ok(())
                })
            });
        (slots, outcome)
    })?;
    outcome?;
    let mut stats = AccumulateStats::default();
    for sp in slots.into_inner() {
        let sp = sp.flush();
        if !sp.wide.is_empty() {
            counts.iter_mut().zip(&sp.wide).for_each(|(c, a)| *c += a);
        }
        stats.n_docs += sp.stats.n_docs;
        stats.n_null += sp.stats.n_null;
        stats.n_tokens += sp.stats.n_tokens;
        stats.n_ngrams += sp.stats.n_ngrams;
    }
    Ok(stats)
}

/// The n-grams of a document of `n_units` tokens (or characters): `sum(max(0, n_units - n + 1))`
/// over `min_n <= n <= max_n`.
fn n_ngrams(cfg: &NgramConfig, n_units: u64) -> u64 {
    (cfg.min_n as u64..=cfg.max_n as u64)
        .map(|n| (n_units + 1).saturating_sub(n))
        .sum()
}

/// The state of one worker thread of [`accumulate`].
///
/// Counts go into 16-bit counters: the scattered increments were the largest single cost of the
/// summing kernel in `perf` (the increment of a random counter took a third of the kernel's
/// samples), and 16-bit counters keep the table small enough for L1 (10,000 buckets: 20 KB; with
/// 32-bit counters 40 KB, more than the 32 KB L1 of the bench machine). A counter that wraps
/// adds 2^16 to the 64-bit sums (a predictable branch), which also receive the counters at the
/// end, so no count is ever lost.
#[derive(Default)]
struct Split {
    scratch: Scratch,
    narrow: Vec<u16>,
    wide: Vec<u64>,
    stats: AccumulateStats,
}

impl Split {
    fn add(&mut self, cfg: &NgramConfig, text: &str) -> Result<()> {
        let nb = cfg.n_buckets as usize;
        if self.narrow.is_empty() {
            // Allocated on first use, fallibly: one pair per worker thread, n_buckets each.
            self.narrow = alloc::zeroed(nb, "n_buckets", &format!("{nb} bucket counts"))?;
            self.wide = alloc::zeroed(nb, "n_buckets", &format!("{nb} bucket counts"))?;
        }
        // Slices moved into the closure: their pointers and lengths stay in registers in the
        // hash loops (with `&mut Vec` captures they were reloaded after every increment).
        let (narrow, wide) = (&mut self.narrow[..], &mut self.wide[..]);
        let st = cfg.for_each_bucket_unordered(text, &mut self.scratch, move |b| {
            let c = &mut narrow[b as usize];
            *c = c.wrapping_add(1);
            if *c == 0 {
                wide[b as usize] += 1 << 16;
            }
        });
        self.stats.n_ngrams += n_ngrams(cfg, st.n_tokens);
        self.stats.n_tokens += st.n_tokens;
        Ok(())
    }

    /// Adds the 16-bit counters into the 64-bit sums and frees them.
    fn flush(mut self) -> Self {
        for (w, n) in self.wide.iter_mut().zip(&self.narrow) {
            *w += u64::from(*n);
        }
        self.narrow = Vec::new();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Normalizer;

    #[test]
    fn counters_that_wrap_lose_nothing() {
        // One bucket, 70,000 tokens: 139,999 n-grams, more than twice a 16-bit counter's range.
        let cfg = NgramConfig {
            normalizer: Normalizer::default(),
            analyzer: super::super::Analyzer::Word,
            min_n: 1,
            max_n: 2,
            n_buckets: 1,
            seed: 0,
            hash: super::super::HashKind::Xxh3,
        };
        let text = "a ".repeat(70_000);
        let texts = [text.as_str(), "b c"];
        for n_threads in [1, 2] {
            let mut counts = vec![7u64];
            let st = accumulate(&cfg, &texts[..], &mut counts, Some(n_threads)).unwrap();
            assert_eq!(counts, [7 + 139_999 + 3]);
            assert_eq!((st.n_docs, st.n_ngrams), (2, 139_999 + 3));
        }
    }
}
