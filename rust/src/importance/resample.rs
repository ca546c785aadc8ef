//! Resampling by importance weight, seeded and order-free.
//!
//! Without replacement: Gumbel top-k (Vieira 2014; Kool, van Hoof, Welling 2019): the k largest
//! `log w_i + G_i` with `G_i` standard Gumbel are a sample without replacement from the successive
//! draws `∝ w_i`. The noise of a document is a pure function of `(seed, target, id hash)`, not of
//! its position, so any sharding or shard order gives the same selection, and a top-k of per-shard
//! top-ks is exact ([`TopK::merge`]). Ties (equal keys) are broken by id hash, then position.
//!
//! With replacement: k inverse-CDF draws over the weights in input order (O(n) memory).
//!
//! Several targets (the reference's `separate_targets`): target `t` takes `k_t` documents among
//! those not taken by targets `< t`; keeping the top `k_t + Σ_{s<t} k_s` per target in the stream
//! is enough to resolve this exactly afterwards ([`select_sequential`]).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use crate::alloc;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// The keyed Gumbel noise of the top-k (defined in [`crate::rng`]).
pub use crate::rng::gumbel;

/// One candidate: larger `key` is better; ties go to the smaller id hash, then position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// Sort key (log weight, plus Gumbel noise when sampling).
    pub key: f64,
    /// Hash of the document id.
    pub id_hash: u64,
    /// Global position of the document in the input.
    pub pos: u64,
}

impl Eq for Entry {}

impl Ord for Entry {
    /// `Greater` means better.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then(other.id_hash.cmp(&self.id_hash))
            .then(other.pos.cmp(&self.pos))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` entries of a stream, in O(k) memory.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    // Min-heap on "better": the worst kept entry is on top.
    heap: BinaryHeap<std::cmp::Reverse<Entry>>,
    seen: u64,
}

impl TopK {
    /// An empty selection of capacity `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 20) + 1),
            seen: 0,
        }
    }

    /// Capacity.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Entries offered so far (including merged ones).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True if nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Offers one entry; returns true if it is kept (for now). NaN keys are rejected.
    pub fn push(&mut self, e: Entry) -> bool {
        if e.key.is_nan() {
            return false;
        }
        self.seen += 1;
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(e));
            return true;
        }
        match self.heap.peek() {
            Some(std::cmp::Reverse(worst)) if e > *worst => {
                self.heap.pop();
                self.heap.push(std::cmp::Reverse(e));
                true
            }
            _ => false,
        }
    }

    /// Adds the entries of another selection (e.g. another shard's).
    pub fn merge(&mut self, other: TopK) {
        let seen = self.seen + other.seen;
        for std::cmp::Reverse(e) in other.heap {
            self.push(e);
        }
        self.seen = seen;
    }

    /// Kept entries, best first.
    pub fn into_sorted(self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }

    /// Kept entries in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.heap.iter().map(|r| &r.0)
    }
}

/// Capacity each target's [`TopK`] needs for [`select_sequential`]: `k_t + Σ_{s<t} k_s`.
pub fn sequential_capacities(ks: &[usize]) -> Vec<usize> {
    let mut before = 0;
    ks.iter()
        .map(|&k| {
            before += k;
            before
        })
        .collect()
}

/// Resolves per-target candidates (each sorted best first) into the final selection: target `t`
/// takes its best `ks[t]` candidates not taken by an earlier target. Returns `(pos, target)`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `k` when a target has too few candidates (the eligible pool
/// is smaller than `Σ ks`).
pub fn select_sequential(candidates: &[Vec<Entry>], ks: &[usize]) -> Result<Vec<(u64, usize)>> {
    if candidates.len() != ks.len() {
        return Err(Error::ShapeMismatch(format!(
            "{} candidate lists for {} targets",
            candidates.len(),
            ks.len()
        )));
    }
    let mut taken: HashSet<u64> = HashSet::new();
    // Never more than the candidates: `ks` comes from the user and may be huge.
    let n_cands: usize = candidates.iter().map(Vec::len).sum();
    let total_k = ks.iter().fold(0usize, |a, &k| a.saturating_add(k));
    let mut out = Vec::with_capacity(total_k.min(n_cands));
    for (t, (cands, &k)) in candidates.iter().zip(ks).enumerate() {
        let mut got = 0;
        for e in cands {
            if got == k {
                break;
            }
            if taken.insert(e.pos) {
                out.push((e.pos, t));
                got += 1;
            }
        }
        if got < k {
            return Err(Error::param(
                "k",
                format!(
                    "asks for {} documents but only {} eligible documents are left for target {t}",
                    total_k,
                    out.len()
                ),
            ));
        }
    }
    Ok(out)
}

/// Splits `k` across targets as the reference does: `floor(k·p_t)` each, the remainder to the
/// last target. `proportions` must be non-negative with a positive sum.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `target_proportions`.
pub fn split_k(k: usize, proportions: &[f64]) -> Result<Vec<usize>> {
    let sum: f64 = proportions.iter().sum();
    if proportions.is_empty()
        || proportions.iter().any(|p| !(p.is_finite() && *p >= 0.0))
        || sum.partial_cmp(&0.0) != Some(Ordering::Greater)
    {
        return Err(Error::param(
            "target_proportions",
            format!("must be non-negative with a positive sum, got {proportions:?}"),
        ));
    }
    let mut ks: Vec<usize> = proportions
        .iter()
        .map(|p| (k as f64 * (p / sum)) as usize)
        .collect();
    let assigned: usize = ks.iter().sum();
    if let Some(last) = ks.last_mut() {
        *last += k.saturating_sub(assigned);
    }
    Ok(ks)
}

/// `k` draws with replacement, `P(i) ∝ exp(log_weights[i])` over eligible rows; returns the drawn
/// row indices sorted ascending (repeats allowed). Deterministic in `seed`.
///
/// # Errors
/// Sizes that differ, or no eligible row with a finite weight while `k > 0`.
pub fn sample_with_replacement(
    log_weights: &[f64],
    eligible: Option<&[bool]>,
    k: usize,
    seed: u64,
) -> Result<Vec<u64>> {
    if let Some(m) = eligible {
        if m.len() != log_weights.len() {
            return Err(Error::ShapeMismatch(format!(
                "eligible has {} entries for {} weights",
                m.len(),
                log_weights.len()
            )));
        }
    }
    let ok = |i: usize| {
        let keep = match eligible {
            Some(m) => m[i],
            None => true,
        };
        keep && log_weights[i].is_finite()
    };
    let max = (0..log_weights.len())
        .filter(|&i| ok(i))
        .map(|i| log_weights[i])
        .fold(f64::NEG_INFINITY, f64::max);
    if k == 0 {
        return Ok(Vec::new());
    }
    if max == f64::NEG_INFINITY {
        return Err(Error::param(
            "k",
            format!("asks for {k} draws but no document is eligible"),
        ));
    }
    let mut cum = Vec::with_capacity(log_weights.len());
    let mut total = 0.0;
    for (i, &lw) in log_weights.iter().enumerate() {
        if ok(i) {
            total += (lw - max).exp();
        }
        cum.push(total);
    }
    let mut rng = SplitMix64::new(seed);
    let what = format!("{k} draws with replacement");
    let mut draws: Vec<f64> = alloc::with_capacity(k, "k", &what)?;
    draws.extend((0..k).map(|_| rng.next_f64() * total));
    draws.sort_unstable_by(f64::total_cmp);
    let mut out = alloc::with_capacity(k, "k", &what)?;
    let mut i = 0;
    for u in draws {
        // First row whose cumulative weight exceeds u (skips zero-weight rows).
        while i + 1 < cum.len() && cum[i] <= u {
            i += 1;
        }
        out.push(i as u64);
    }
    Ok(out)
}
