//! Weighted row samplers for coresets, and the keyed random numbers they use.
//!
//! Random numbers are a pure function of (seed, stream, index) ([`crate::rng::uniform`]), so a
//! row's draw does not depend on which thread handles it or on the other rows.

use rayon::prelude::*;

use crate::error::{Error, Result};
/// The keyed draws of the samplers (defined in [`crate::rng`]).
pub use crate::rng::{normal, uniform};

const STREAM_IID: u64 = 0x6969_6400;
const STREAM_BERNOULLI: u64 = 0x6265_726e_0000;
const STREAM_PRIORITY: u64 = 0x7072_696f_0000;

/// The three samplers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampler {
    /// k draws with replacement from q = s/Σs; a row drawn c times gets weight c/(k·q_i).
    Iid,
    /// Independent inclusion with p_i = min(1, c·s_i), Σp_i = k (expected size k); weight 1/p_i.
    Bernoulli,
    /// Priority sampling (Duffield, Lund & Thorup 2007): the k largest s_i/u_i, exactly k rows;
    /// weight max(s_i, τ)/s_i with τ the (k+1)-th largest priority.
    Priority,
}

/// Selected rows (ascending, distinct), their weights and inclusion probabilities.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Row indices, ascending and distinct.
    pub indices: Vec<usize>,
    /// Weights making Σ_{i∈S} w_i f_i an unbiased estimate of Σ_i f_i.
    pub weights: Vec<f64>,
    /// Probability that each selected row is in the sample (for priority sampling, the
    /// conditional probability min(1, s_i/τ) given the threshold).
    pub probabilities: Vec<f64>,
}

/// Inclusion probabilities p_i = min(1, c·s_i) with Σp_i = k, by water-filling over the scores
/// sorted in decreasing order (exact; ties broken by row index).
///
/// # Errors
/// Invalid scores, or `k` larger than the number of rows with a positive score.
pub fn bernoulli_probabilities(scores: &[f64], k: usize) -> Result<Vec<f64>> {
    let n_pos = check_scores(scores, k)?;
    if k > n_pos {
        return Err(Error::param(
            "k",
            format!("must be <= the number of rows with a positive score ({n_pos}), got {k}"),
        ));
    }
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > 0.0).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
    // suffix[t] = sum of the scores of order[t..], summed from the small end for accuracy.
    let mut suffix = vec![0.0; order.len() + 1];
    for t in (0..order.len()).rev() {
        suffix[t] = suffix[t + 1] + scores[order[t]];
    }
    // Smallest t (number of rows capped at 1) with c = (k − t)/suffix[t] and c·s_(t) ≤ 1.
    let mut c = 0.0;
    for t in 0..k {
        let ct = (k - t) as f64 / suffix[t];
        if ct * scores[order[t]] <= 1.0 {
            c = ct;
            break;
        }
        // Unreachable in exact arithmetic: at t = k − 1, c·s_(t) = s_(t)/suffix[t] <= 1.
        c = ct;
    }
    Ok(scores.iter().map(|&s| (c * s).min(1.0)).collect())
}

fn check_scores(scores: &[f64], k: usize) -> Result<usize> {
    if let Some(i) = scores.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
        return Err(Error::param(
            "scores",
            format!("must be finite and >= 0, got {} at row {i}", scores[i]),
        ));
    }
    if k == 0 {
        return Err(Error::param("k", "must be >= 1, got 0"));
    }
    if k > scores.len() {
        return Err(Error::param(
            "k",
            format!("must be <= the number of rows ({}), got {k}", scores.len()),
        ));
    }
    let n_pos = scores.iter().filter(|&&s| s > 0.0).count();
    if n_pos == 0 {
        return Err(Error::param(
            "scores",
            "must have at least one positive entry",
        ));
    }
    Ok(n_pos)
}

/// Samples about `k` rows (exactly `k` draws for [`Sampler::Iid`], exactly `k` rows for
/// [`Sampler::Priority`], `k` in expectation for [`Sampler::Bernoulli`]) with probabilities
/// driven by `scores`. Rows with score 0 are never selected.
///
/// # Errors
/// Scores not finite and non-negative or all zero, `k == 0`, `k > n`, and for the Bernoulli and
/// priority samplers `k` larger than the number of positive scores.
pub fn sample(
    scores: &[f64],
    k: usize,
    method: Sampler,
    seed: u64,
    n_threads: Option<usize>,
) -> Result<Sample> {
    let n_pos = check_scores(scores, k)?;
    match method {
        Sampler::Iid => crate::parallel::with_threads(n_threads, || iid(scores, k, seed)),
        Sampler::Bernoulli => {
            let p = bernoulli_probabilities(scores, k)?;
            crate::parallel::with_threads(n_threads, || bernoulli(&p, seed))
        }
        Sampler::Priority => {
            if k > n_pos {
                return Err(Error::param(
                    "k",
                    format!(
                        "must be <= the number of rows with a positive score ({n_pos}), got {k}"
                    ),
                ));
            }
            crate::parallel::with_threads(n_threads, || priority(scores, k, seed))
        }
    }
}

fn iid(scores: &[f64], k: usize, seed: u64) -> Sample {
    let mut cum = Vec::with_capacity(scores.len());
    let mut acc = 0.0;
    for &s in scores {
        acc += s;
        cum.push(acc);
    }
    let total = acc;
    let last_pos = scores.iter().rposition(|&s| s > 0.0).unwrap_or(0);
    let mut draws: Vec<usize> = (0..k as u64)
        .into_par_iter()
        .map(|j| {
            let u = uniform(seed ^ STREAM_IID, j) * total;
            cum.partition_point(|&c| c <= u).min(last_pos)
        })
        .collect();
    draws.sort_unstable();
    let mut out = Sample::default();
    let kf = k as f64;
    for chunk in draws.chunk_by(|a, b| a == b) {
        let i = chunk[0];
        let q = scores[i] / total;
        out.indices.push(i);
        out.weights.push(chunk.len() as f64 / (kf * q));
        out.probabilities.push(-(kf * (-q).ln_1p()).exp_m1());
    }
    out
}

fn bernoulli(p: &[f64], seed: u64) -> Sample {
    let picked: Vec<usize> = (0..p.len())
        .into_par_iter()
        .with_min_len(4096)
        .filter(|&i| {
            p[i] > 0.0 && (p[i] >= 1.0 || uniform(seed ^ STREAM_BERNOULLI, i as u64) < p[i])
        })
        .collect();
    Sample {
        weights: picked.iter().map(|&i| 1.0 / p[i]).collect(),
        probabilities: picked.iter().map(|&i| p[i]).collect(),
        indices: picked,
    }
}

fn priority(scores: &[f64], k: usize, seed: u64) -> Sample {
    let mut cand: Vec<(f64, usize)> = (0..scores.len())
        .into_par_iter()
        .with_min_len(4096)
        .filter(|&i| scores[i] > 0.0)
        .map(|i| (scores[i] / uniform(seed ^ STREAM_PRIORITY, i as u64), i))
        .collect();
    // Larger priority first; ties by smaller row index, so the order is total.
    let cmp = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let tau = if k < cand.len() {
        cand.select_nth_unstable_by(k, cmp);
        cand[k].0
    } else {
        0.0
    };
    cand.truncate(k);
    cand.sort_unstable_by_key(|c| c.1);
    let mut out = Sample::default();
    for (_, i) in cand {
        let s = scores[i];
        out.indices.push(i);
        out.weights.push(s.max(tau) / s);
        out.probabilities
            .push(if tau > 0.0 { (s / tau).min(1.0) } else { 1.0 });
    }
    out
}
