//! The n-gram buckets of a corpus, kept from the counting pass for the weighting pass.
//!
//! DSIR reads its raw corpus twice: bucket counts (the fit), then log weights. Featurising
//! (tokenising + hashing) is most of the work of both passes; a [`Tape`] keeps each row's buckets
//! (2 bytes per n-gram, for up to 65,536 buckets) so that the second pass only sums log ratios.
//! [`ImportanceModel::log_weights_tape`] sums them in the order of
//! [`ImportanceModel::log_weights`] (text order), so the weights are bit-identical.

use rayon::prelude::*;

use super::{normalise, ImportanceModel, ROWS_PER_TASK};
use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::ngram::{NgramConfig, Scratch};
use crate::parallel::{with_threads, PerThread};

/// The most buckets a tape can hold (its bucket ids are `u16`).
pub const MAX_TAPE_BUCKETS: u32 = 1 << 16;

/// The bucket of every n-gram of every row, in row order and text order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tape {
    /// Bucket ids, row after row.
    pub ids: Vec<u16>,
    /// N-grams per row (0 for a null row).
    pub lens: Vec<u64>,
    /// Tokens per row, as [`ImportanceModel::log_weights`] returns them.
    pub n_tokens: Vec<u64>,
}

/// Adds the bucket counts of every row into `counts` (what `ngram::accumulate` adds) and returns
/// the rows' buckets. Rows are featurised in parallel chunks, concatenated in row order.
///
/// # Errors
/// Invalid parameters, more than [`MAX_TAPE_BUCKETS`] buckets, `counts` of the wrong length, a
/// row that is not UTF-8, or no memory for the tape.
pub fn record<T: Texts + ?Sized>(
    cfg: &NgramConfig,
    texts: &T,
    counts: &mut [u64],
    n_threads: Option<usize>,
) -> Result<Tape> {
    cfg.validate()?;
    if cfg.n_buckets > MAX_TAPE_BUCKETS {
        return Err(Error::param(
            "n_buckets",
            format!(
                "a tape holds at most {MAX_TAPE_BUCKETS} buckets, got {}",
                cfg.n_buckets
            ),
        ));
    }
    if counts.len() != cfg.n_buckets as usize {
        return Err(Error::ShapeMismatch(format!(
            "counts has {} entries, expected n_buckets = {}",
            counts.len(),
            cfg.n_buckets
        )));
    }
    let n = texts.len();
    let per_ngram = cfg.max_n - cfg.min_n + 1;
    let starts: Vec<usize> = (0..n).step_by(ROWS_PER_TASK).collect();
    let nb = cfg.n_buckets as usize;
    // Per worker thread: its scratch and its bucket counts (added up at the end: integer sums,
    // independent of which thread took which rows).
    let (parts, state) = with_threads(n_threads, || {
        let state = PerThread::new(|| (Scratch::default(), Vec::<u64>::new()));
        let parts: Vec<Result<Tape>> = starts
            .par_iter()
            .with_max_len(1)
            .map(|&lo| {
                state.with(|(scratch, cnt)| {
                    if cnt.is_empty() {
                        *cnt = alloc::zeroed(nb, "n_buckets", "bucket counts")?;
                    }
                    let hi = (lo + ROWS_PER_TASK).min(n);
                    let mut part = Tape {
                        ids: Vec::new(),
                        lens: alloc::with_capacity(hi - lo, "texts", "tape rows")?,
                        n_tokens: alloc::with_capacity(hi - lo, "texts", "tape rows")?,
                    };
                    for i in lo..hi {
                        let (mut len, mut toks) = (0, 0);
                        if let Some(text) = texts.get(i)? {
                            // At most one n-gram per byte and length.
                            let bound = text.len().saturating_mul(per_ngram);
                            part.ids.try_reserve(bound).map_err(|_| {
                                alloc::out_of_memory::<u16>(bound as u128, "texts", "tape")
                            })?;
                            let before = part.ids.len();
                            let ids = &mut part.ids;
                            let cnt = &mut cnt[..];
                            // n_buckets <= 2^16 was checked, so every bucket fits in a u16.
                            let st = cfg.for_each_bucket(text, scratch, |b| {
                                ids.push(b as u16);
                                cnt[b as usize] += 1;
                            });
                            len = (part.ids.len() - before) as u64;
                            toks = st.n_tokens;
                        }
                        part.lens.push(len);
                        part.n_tokens.push(toks);
                    }
                    Ok(part)
                })
            })
            .collect();
        (parts, state)
    })?;
    let parts = parts.into_iter().collect::<Result<Vec<Tape>>>()?;
    let total: usize = parts.iter().map(|p| p.ids.len()).sum();
    let mut tape = Tape {
        ids: alloc::with_capacity(total, "texts", "tape")?,
        lens: alloc::with_capacity(n, "texts", "tape rows")?,
        n_tokens: alloc::with_capacity(n, "texts", "tape rows")?,
    };
    for p in parts {
        tape.ids.extend_from_slice(&p.ids);
        tape.lens.extend_from_slice(&p.lens);
        tape.n_tokens.extend_from_slice(&p.n_tokens);
    }
    for (_, cnt) in state.into_inner() {
        if !cnt.is_empty() {
            counts.iter_mut().zip(&cnt).for_each(|(c, a)| *c += a);
        }
    }
    Ok(tape)
}

impl ImportanceModel {
    /// [`ImportanceModel::log_weights`] of the rows a [`Tape`] holds (`ids`, `lens`, `n_tokens`
    /// as [`record`] returned them, possibly one batch's slice), without featurising again.
    ///
    /// # Errors
    /// Lengths that do not add up, a bucket id outside the model, an invalid `length_norm` or
    /// thread count.
    pub fn log_weights_tape(
        &self,
        ids: &[u16],
        lens: &[u64],
        n_tokens: &[u64],
        length_norm: Option<f64>,
        n_threads: Option<usize>,
    ) -> Result<Vec<f64>> {
        super::check_length_norm(length_norm)?;
        let n = lens.len();
        if n_tokens.len() != n {
            return Err(Error::ShapeMismatch(format!(
                "the tape has {n} row lengths but {} token counts",
                n_tokens.len()
            )));
        }
        let mut offsets = alloc::with_capacity::<usize>(n + 1, "lens", "tape offsets")?;
        offsets.push(0);
        let mut end = 0usize;
        for &l in lens {
            end = usize::try_from(l)
                .ok()
                .and_then(|l| end.checked_add(l))
                .filter(|&e| e <= ids.len())
                .ok_or_else(|| {
                    Error::ShapeMismatch(format!("row lengths exceed the {} ids", ids.len()))
                })?;
            offsets.push(end);
        }
        if end != ids.len() {
            return Err(Error::ShapeMismatch(format!(
                "row lengths add up to {end}, the tape has {} ids",
                ids.len()
            )));
        }
        let t = self.n_targets;
        let nb = self.log_ratio.len() / t;
        let mut weights = alloc::zeroed_2d::<f64>(n, t, "lens", "weights (rows × targets)")?;
        let lr = &self.log_ratio;
        // Bucket ids are checked in the parallel pass (a serial scan of the tape took ~1/3 of
        // the pass); the lowest chunk with a bad id is reported, whichever thread saw it first.
        let checked: Vec<Result<()>> = with_threads(n_threads, || {
            weights
                .par_chunks_mut(ROWS_PER_TASK * t)
                .enumerate()
                .with_max_len(1)
                .map(|(chunk, w)| {
                    for (j, row) in w.chunks_mut(t).enumerate() {
                        let i = chunk * ROWS_PER_TASK + j;
                        let grams = &ids[offsets[i]..offsets[i + 1]];
                        if let Some(&b) = grams.iter().find(|&&b| b as usize >= nb) {
                            return Err(Error::param(
                                "ids",
                                format!("bucket {b} is outside the model's {nb} buckets"),
                            ));
                        }
                        if t == 1 {
                            let mut acc = 0.0;
                            for &b in grams {
                                acc += lr[b as usize];
                            }
                            row[0] = acc;
                        } else {
                            for &b in grams {
                                let r = &lr[b as usize * t..(b as usize + 1) * t];
                                row.iter_mut().zip(r).for_each(|(x, y)| *x += y);
                            }
                        }
                        normalise(row, n_tokens[i], length_norm);
                    }
                    Ok(())
                })
                .collect()
        })?;
        checked.into_iter().collect::<Result<()>>()?;
        Ok(weights)
    }
}
