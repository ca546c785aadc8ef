//! DSIR importance weights: "Data Selection for Language Models via Importance Resampling"
//! (Xie, Santurkar, Ma, Liang; NeurIPS 2023, arXiv:2302.03169).
//!
//! A corpus is summarised by its hashed n-gram bucket counts ([`Counts`], integer sums, so counts
//! of shards add up exactly, in any order). A fitted [`ImportanceModel`] holds, per bucket `b` and
//! target `t`, `log_ratio[b][t] = ln(p_t[b] + eps) − ln(p_raw[b] + eps)` with
//! `p[b] = (c[b] + α) / (Σc + α·B)` (add-α smoothing, optionally on the target side only; α = 0
//! and eps = 1e-8 is the reference package). The log importance weight of a document is the sum
//! of `log_ratio` over its n-grams (the bag-of-n-grams likelihood ratio), computed straight from
//! the text without a per-document feature vector, optionally rescaled to a fixed length `L`
//! (`w · L / n_tokens`: the log likelihood ratio of an `L`-token document with the same n-gram
//! mix). Resampling lives in [`resample`].
//!
//! The KL-reduction metric is the paper's Section 6 / Appendix I definition as the authors gave it
//! (p-lambda/dsir issues #9 and #11): on hashed n-gram distributions,
//! `KL(p‖q) = Σ p·(ln(p + 1e-10) − ln(q + 1e-10))` and
//! `KL reduction = mean over targets t of KL(t‖raw) − KL(t‖selected)`.

pub mod resample;
pub mod tape;

use rayon::prelude::*;

use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::ngram::{self, AccumulateStats, NgramConfig, Scratch};
use crate::parallel::{with_threads, PerThread};

/// Rows per parallel task when scoring.
const ROWS_PER_TASK: usize = 64;

/// Bucket counts of a corpus (or a shard of one): mergeable by addition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Count per bucket.
    pub counts: Vec<u64>,
    /// Documents, null rows and tokens seen.
    pub stats: AccumulateStats,
}

impl Counts {
    /// Empty counts over `n_buckets` buckets.
    pub fn new(n_buckets: u32) -> Self {
        Self {
            counts: vec![0; n_buckets as usize],
            stats: AccumulateStats::default(),
        }
    }

    /// Adds the n-grams of every row of `texts`.
    ///
    /// # Errors
    /// Invalid configuration, a bucket count that does not match, or a row that is not UTF-8.
    pub fn add_texts<T: Texts + ?Sized>(
        &mut self,
        cfg: &NgramConfig,
        texts: &T,
        n_threads: Option<usize>,
    ) -> Result<()> {
        let st = ngram::accumulate(cfg, texts, &mut self.counts, n_threads)?;
        self.add_stats(&st);
        Ok(())
    }

    fn add_stats(&mut self, st: &AccumulateStats) {
        self.stats.n_docs += st.n_docs;
        self.stats.n_null += st.n_null;
        self.stats.n_tokens += st.n_tokens;
        self.stats.n_ngrams += st.n_ngrams;
    }

    /// Adds another shard's counts.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if the bucket counts differ.
    pub fn merge(&mut self, other: &Counts) -> Result<()> {
        if other.counts.len() != self.counts.len() {
            return Err(Error::ShapeMismatch(format!(
                "cannot merge counts over {} buckets into counts over {}",
                other.counts.len(),
                self.counts.len()
            )));
        }
        self.counts
            .iter_mut()
            .zip(&other.counts)
            .for_each(|(a, b)| *a += b);
        self.add_stats(&other.stats);
        Ok(())
    }

    /// Total n-grams.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Bucket probabilities with add-`alpha` smoothing: `(c + α) / (Σc + α·B)`; all zeros if the
/// counts are empty and `alpha == 0`.
pub fn probabilities(counts: &[u64], alpha: f64) -> Vec<f64> {
    let total = counts.iter().sum::<u64>() as f64 + alpha * counts.len() as f64;
    if total <= 0.0 {
        return vec![0.0; counts.len()];
    }
    // (c / total) is exactly numpy's `counts / counts.sum()` when alpha is 0.
    counts.iter().map(|&c| (c as f64 + alpha) / total).collect()
}

/// How the bucket distributions are estimated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smoothing {
    /// Pseudo-count added to every bucket (add-α); 0 for none.
    pub alpha: f64,
    /// Smooth the raw distribution too (otherwise only the target side).
    pub raw: bool,
    /// Added to probabilities inside the logarithm (the reference uses 1e-8).
    pub eps: f64,
}

impl Smoothing {
    /// The reference package's estimator: no smoothing, `eps = 1e-8`.
    pub const REFERENCE: Smoothing = Smoothing {
        alpha: 0.0,
        raw: false,
        eps: 1e-8,
    };

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `alpha` or `eps`.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::param(
                "alpha",
                format!("must be finite and >= 0, got {}", self.alpha),
            ));
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(Error::param(
                "eps",
                format!("must be finite and >= 0, got {}", self.eps),
            ));
        }
        if self.eps == 0.0 && !(self.alpha > 0.0 && self.raw) {
            return Err(Error::param(
                "eps",
                "must be > 0 unless alpha > 0 smooths both sides (an empty bucket would give an infinite log ratio)",
            ));
        }
        Ok(())
    }
}

/// A fitted importance model: the featuriser and the per-bucket log ratios of each target.
#[derive(Clone, Debug)]
pub struct ImportanceModel {
    /// The featuriser the counts were taken with.
    pub ngram: NgramConfig,
    n_targets: usize,
    /// Bucket-major: `log_ratio[b * n_targets + t]`, so one n-gram touches one cache line.
    log_ratio: Vec<f64>,
}

impl ImportanceModel {
    /// Fits the log ratios of each target against the raw distribution.
    ///
    /// # Errors
    /// No target, counts of the wrong size, empty raw counts, or invalid smoothing.
    pub fn fit(
        ngram: NgramConfig,
        targets: &[Counts],
        raw: &Counts,
        smoothing: Smoothing,
    ) -> Result<Self> {
        ngram.validate()?;
        smoothing.validate()?;
        let nb = ngram.n_buckets as usize;
        if targets.is_empty() {
            return Err(Error::param("target", "needs at least one target corpus"));
        }
        for c in targets.iter().chain(std::iter::once(raw)) {
            if c.counts.len() != nb {
                return Err(Error::ShapeMismatch(format!(
                    "counts over {} buckets for a featuriser with n_buckets = {nb}",
                    c.counts.len()
                )));
            }
        }
        if raw.total() == 0 && !(smoothing.raw && smoothing.alpha > 0.0) {
            return Err(Error::param("raw", "has no n-grams (empty corpus)"));
        }
        if let Some(i) = targets.iter().position(|t| t.total() == 0) {
            if smoothing.alpha == 0.0 {
                return Err(Error::param(
                    "target",
                    format!("corpus {i} has no n-grams (empty corpus)"),
                ));
            }
        }
        let eps = smoothing.eps;
        let raw_alpha = if smoothing.raw { smoothing.alpha } else { 0.0 };
        let log_raw: Vec<f64> = probabilities(&raw.counts, raw_alpha)
            .into_iter()
            .map(|p| (p + eps).ln())
            .collect();
        let t = targets.len();
        let mut log_ratio =
            alloc::zeroed_2d::<f64>(nb, t, "n_buckets", "log ratios (buckets × targets)")?;
        for (j, target) in targets.iter().enumerate() {
            for (b, p) in probabilities(&target.counts, smoothing.alpha)
                .into_iter()
                .enumerate()
            {
                log_ratio[b * t + j] = (p + eps).ln() - log_raw[b];
            }
        }
        Ok(Self {
            ngram,
            n_targets: t,
            log_ratio,
        })
    }

    /// A model from saved log ratios (bucket-major, `n_buckets × n_targets`).
    ///
    /// # Errors
    /// Sizes that do not match, or non-finite ratios.
    pub fn from_log_ratio(
        ngram: NgramConfig,
        n_targets: usize,
        log_ratio: Vec<f64>,
    ) -> Result<Self> {
        ngram.validate()?;
        if n_targets == 0 || log_ratio.len() != ngram.n_buckets as usize * n_targets {
            return Err(Error::ShapeMismatch(format!(
                "log_ratio has {} entries, expected n_buckets ({}) × n_targets ({n_targets})",
                log_ratio.len(),
                ngram.n_buckets
            )));
        }
        if log_ratio.iter().any(|x| !x.is_finite()) {
            return Err(Error::param("log_ratio", "must be finite"));
        }
        Ok(Self {
            ngram,
            n_targets,
            log_ratio,
        })
    }

    /// Number of targets.
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// The log ratios, bucket-major (`n_buckets × n_targets`).
    pub fn log_ratio(&self) -> &[f64] {
        &self.log_ratio
    }

    /// Log importance weights of every row (row-major `n_rows × n_targets`) and its token count.
    /// A row's weight is the sum of its n-grams' log ratios in text order, divided by its token
    /// count and multiplied by `L` if `length_norm` is `Some(L)`; null and empty rows weigh exactly 0.
    /// Rows are independent, so the output is the same for any thread count and any batching.
    ///
    /// # Errors
    /// A row that is not UTF-8, or an invalid thread count.
    pub fn log_weights<T: Texts + ?Sized>(
        &self,
        texts: &T,
        length_norm: Option<f64>,
        n_threads: Option<usize>,
    ) -> Result<(Vec<f64>, Vec<u64>)> {
        check_length_norm(length_norm)?;
        let t = self.n_targets;
        let n = texts.len();
        let mut weights = alloc::zeroed_2d::<f64>(n, t, "texts", "weights (rows × targets)")?;
        let mut n_tokens = alloc::zeroed::<u64>(n, "texts", "token counts")?;
        let results: Vec<Result<()>> = with_threads(n_threads, || {
            let scratch = PerThread::new(Scratch::default);
            weights
                .par_chunks_mut(ROWS_PER_TASK * t)
                .zip(n_tokens.par_chunks_mut(ROWS_PER_TASK))
                .enumerate()
                .with_max_len(1)
                .map(|(chunk, (w, nt))| {
                    scratch.with(|scratch| {
                        for (j, toks) in nt.iter_mut().enumerate() {
                            let i = chunk * ROWS_PER_TASK + j;
                            let row = &mut w[j * t..(j + 1) * t];
                            let Some(text) = texts.get(i)? else { continue };
                            let st = if t == 1 {
                                let mut acc = 0.0;
                                let st = self.ngram.for_each_bucket(text, scratch, |b| {
                                    acc += self.log_ratio[b as usize];
                                });
                                row[0] = acc;
                                st
                            } else {
                                self.ngram.for_each_bucket(text, scratch, |b| {
                                    let lr = &self.log_ratio[b as usize * t..(b as usize + 1) * t];
                                    row.iter_mut().zip(lr).for_each(|(x, y)| *x += y);
                                })
                            };
                            *toks = st.n_tokens;
                            normalise(row, st.n_tokens, length_norm);
                        }
                        Ok(())
                    })
                })
                .collect()
        })?;
        results.into_iter().collect::<Result<()>>()?;
        Ok((weights, n_tokens))
    }
}

/// `length_norm` must be `None` or a positive finite number of tokens.
fn check_length_norm(length_norm: Option<f64>) -> Result<()> {
    match length_norm {
        Some(l) if !(l.is_finite() && l > 0.0) => Err(Error::param(
            "length_norm",
            format!("must be a positive number of tokens, got {l}"),
        )),
        _ => Ok(()),
    }
}

/// A row's summed log ratios rescaled to `L` tokens (`w / n_tokens · L`), if `length_norm` is
/// `Some(L)` and the row has tokens.
fn normalise(row: &mut [f64], n_tokens: u64, length_norm: Option<f64>) {
    if let (Some(l), true) = (length_norm, n_tokens > 0) {
        let d = n_tokens as f64;
        for x in row.iter_mut() {
            *x = *x / d * l;
        }
    }
}

/// `KL(p‖q) = Σ p·(ln(p + eps) − ln(q + eps))` over two distributions of the same size.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the sizes differ.
pub fn kl_divergence(p: &[f64], q: &[f64], eps: f64) -> Result<f64> {
    if p.len() != q.len() {
        return Err(Error::ShapeMismatch(format!(
            "distributions of sizes {} and {}",
            p.len(),
            q.len()
        )));
    }
    Ok(p.iter()
        .zip(q)
        .map(|(&a, &b)| a * ((a + eps).ln() - (b + eps).ln()))
        .sum())
}

/// The paper's KL reduction: mean over targets of `KL(target‖raw) − KL(target‖selected)`, on
/// normalised bucket counts with `eps = 1e-10` (the authors' `kl_dist`). Positive when the
/// selection is closer to the targets than the raw corpus is.
///
/// # Errors
/// No target, or counts of different sizes.
pub fn kl_reduction(targets: &[Counts], raw: &Counts, selected: &Counts) -> Result<f64> {
    const EPS: f64 = 1e-10;
    if targets.is_empty() {
        return Err(Error::param("target", "needs at least one target corpus"));
    }
    let r = probabilities(&raw.counts, 0.0);
    let s = probabilities(&selected.counts, 0.0);
    let mut sum = 0.0;
    for t in targets {
        let p = probabilities(&t.counts, 0.0);
        sum += kl_divergence(&p, &r, EPS)? - kl_divergence(&p, &s, EPS)?;
    }
    Ok(sum / targets.len() as f64)
}

#[cfg(test)]
mod tests;
