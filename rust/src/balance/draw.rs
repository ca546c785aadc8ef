//! The balancing draws: MetaCLIP's per-entry cap and the keys of a per-group cap.
//!
//! MetaCLIP (Xu et al. 2023, Algorithm 1) keeps a text if, for any entry `e` it matches, a uniform
//! draw passes `u < t / count_e`: entries matched by at most `t` texts (the tail) keep all of
//! them, an entry matched by `count_e > t` texts (the head) keeps about `t`. A document matching
//! entries `E` is kept with probability `1 − Π_{e ∈ E} (1 − min(1, t / count_e))`.
//!
//! Here every draw is keyed: `u = keyed_uniform(seed, key_e, id_hash)`, where `key_e` is a hash
//! of the entry and `id_hash` one of the document id ([`crate::rng::keyed_uniform`]). The decision
//! for a document therefore depends only on its id, its entries, the counts and the seed: the
//! same documents are kept whatever the batching, sharding, file order or thread count, provided
//! the counts come from the whole corpus.

use rayon::prelude::*;

use super::CsrView;
use crate::alloc;
use crate::error::{Error, Result};
use crate::parallel::with_threads;
use crate::rng::keyed_uniform;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 4096;

/// The result of [`balance`], one value per document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draw {
    /// Whether the document is kept.
    pub keep: Vec<bool>,
    /// Its probability of being kept, `1 − Π (1 − p_e)` over its entries (for a document without
    /// entries: 1 if unmatched documents are kept, else 0).
    pub probability: Vec<f64>,
    /// The entry whose draw kept it: among the entries that passed, the one with the fewest
    /// documents (lowest index on ties); −1 for a document that is not kept or has no entry.
    pub entry: Vec<i64>,
}

/// The inclusion probability of entry `e`: `min(1, t / count)`.
#[inline]
pub fn entry_probability(t: f64, count: u64) -> f64 {
    if count == 0 {
        1.0
    } else {
        (t / count as f64).min(1.0)
    }
}

/// Checks `t > 0` (finite).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `t`.
pub fn check_t(t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "t",
            format!("must be a positive number, got {t}"),
        ))
    }
}

/// MetaCLIP's balancing draw over a document × entry match matrix.
///
/// `matches` has one row per document (any non-zero value means the entry occurs), `counts[e]` is
/// the number of documents of the *whole corpus* matching entry `e`, `entry_keys[e]` its draw key
/// and `id_hashes[i]` the hash of document `i`'s id. Documents without entries are kept iff
/// `keep_unmatched`.
///
/// # Errors
/// `t` not positive, lengths that disagree, a matched entry whose count is 0 (the counts do not
/// cover this document: they must come from a pass over the whole corpus).
#[allow(clippy::too_many_arguments)]
pub fn balance(
    matches: CsrView<'_, u32>,
    counts: &[u64],
    entry_keys: &[u64],
    id_hashes: &[u64],
    t: f64,
    seed: u64,
    keep_unmatched: bool,
    n_threads: Option<usize>,
) -> Result<Draw> {
    check_t(t)?;
    let n = matches.n_rows();
    if counts.len() != matches.n_cols || entry_keys.len() != matches.n_cols {
        return Err(Error::ShapeMismatch(format!(
            "{} entries in the matches, {} counts and {} entry keys",
            matches.n_cols,
            counts.len(),
            entry_keys.len()
        )));
    }
    if id_hashes.len() != n {
        return Err(Error::ShapeMismatch(format!(
            "{n} documents in the matches but {} id hashes",
            id_hashes.len()
        )));
    }
    let mut keep = alloc::zeroed::<bool>(n, "matches", "keep mask")?;
    let mut probability = alloc::zeroed::<f64>(n, "matches", "probabilities")?;
    let mut entry = alloc::filled::<i64>(n, -1, "matches", "kept entries")?;
    let unmatched = if keep_unmatched { 1.0 } else { 0.0 };
    with_threads(n_threads, || {
        keep.par_chunks_mut(ROWS_PER_TASK)
            .zip(probability.par_chunks_mut(ROWS_PER_TASK))
            .zip(entry.par_chunks_mut(ROWS_PER_TASK))
            .enumerate()
            .try_for_each(|(c, ((keep, prob), entry))| {
                for (j, ((k, p), en)) in keep
                    .iter_mut()
                    .zip(prob.iter_mut())
                    .zip(entry.iter_mut())
                    .enumerate()
                {
                    let i = c * ROWS_PER_TASK + j;
                    let (cols, vals) = matches.row(i);
                    let mut miss = 1.0;
                    let mut any = false;
                    let mut best: Option<(u64, u32)> = None;
                    for (&e, &v) in cols.iter().zip(vals) {
                        if v == 0 {
                            continue;
                        }
                        any = true;
                        let count = counts[e as usize];
                        if count == 0 {
                            return Err(Error::param(
                                "counts",
                                format!(
                                    "entry {e} occurs in document {i} but its count is 0: \
                                     counts must come from a pass over the whole corpus"
                                ),
                            ));
                        }
                        let pe = entry_probability(t, count);
                        miss *= 1.0 - pe;
                        let u = keyed_uniform(seed, entry_keys[e as usize], id_hashes[i]);
                        if u <= pe && best.is_none_or(|b| (count, e) < b) {
                            best = Some((count, e));
                        }
                    }
                    if any {
                        *p = 1.0 - miss;
                        *k = best.is_some();
                        *en = best.map_or(-1, |(_, e)| i64::from(e));
                    } else {
                        *p = unmatched;
                        *k = keep_unmatched;
                    }
                }
                Ok(())
            })
    })??;
    Ok(Draw {
        keep,
        probability,
        entry,
    })
}

/// `keyed_uniform(seed, keys[i], id_hashes[i])` for every `i`: the draw of row `i` under key
/// `keys[i]` (a group, an entry), in `(0, 1]`.
///
/// # Errors
/// Lengths that disagree, or a thread-pool failure.
pub fn keyed_uniforms(
    keys: &[u64],
    id_hashes: &[u64],
    seed: u64,
    n_threads: Option<usize>,
) -> Result<Vec<f64>> {
    if keys.len() != id_hashes.len() {
        return Err(Error::ShapeMismatch(format!(
            "{} keys for {} id hashes",
            keys.len(),
            id_hashes.len()
        )));
    }
    let mut out = alloc::zeroed::<f64>(keys.len(), "ids", "keyed draws")?;
    with_threads(n_threads, || {
        out.par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (j, o) in chunk.iter_mut().enumerate() {
                    let i = c * ROWS_PER_TASK + j;
                    *o = keyed_uniform(seed, keys[i], id_hashes[i]);
                }
            });
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_tail_and_samples_head() {
        // Entry 0 in every document (head), entry 1 in documents 0..10 (tail).
        let n = 20_000usize;
        let mut indptr = vec![0i64];
        let mut indices = Vec::new();
        for i in 0..n {
            indices.push(0u32);
            if i < 10 {
                indices.push(1);
            }
            indptr.push(indices.len() as i64);
        }
        let values = vec![1u32; indices.len()];
        let m = CsrView::new("matches", &indptr, &indices, &values, 2).unwrap();
        let counts = [n as u64, 10];
        let keys = [11u64, 12];
        let ids: Vec<u64> = (0..n as u64).map(|i| i * 7919).collect();
        let d = balance(m, &counts, &keys, &ids, 1000.0, 5, false, Some(2)).unwrap();
        assert!(
            d.keep[..10].iter().all(|&k| k),
            "tail entries are always kept"
        );
        let kept = d.keep[10..].iter().filter(|&&k| k).count() as f64;
        // Binomial(19990, 0.05): mean 999.5, sd 30.8.
        assert!((kept - 999.5).abs() < 5.0 * 30.8, "kept {kept}");
        assert!((d.probability[0] - 1.0).abs() < 1e-12);
        assert!((d.probability[20] - 0.05).abs() < 1e-12);
        assert_eq!(d.entry[0], 1);
        let d1 = balance(m, &counts, &keys, &ids, 1000.0, 5, false, Some(1)).unwrap();
        assert_eq!(d, d1);
    }

    #[test]
    fn rejects_inconsistent_counts() {
        let m = CsrView::new("matches", &[0, 1], &[0], &[1u32], 1).unwrap();
        assert!(balance(m, &[0], &[1], &[1], 1.0, 0, false, None).is_err());
        assert!(balance(m, &[1], &[1], &[1], 0.0, 0, false, None).is_err());
        assert!(balance(m, &[1], &[1], &[1, 2], 1.0, 0, false, None).is_err());
        assert!(CsrView::new("matches", &[0, 2], &[0], &[1u32], 1).is_err());
        assert!(CsrView::new("matches", &[0, 1], &[3], &[1u32], 1).is_err());
    }
}
