//! Mixtures of sources: the deterministic interleaving schedule and seeded permutations.
//!
//! - [`Interleaver`]: smooth weighted round-robin (nginx's SWRR, which is the "largest deficit
//!   first" rule of the chairman assignment problem, Tijdeman 1980) over integer weights. After
//!   `n` steps with probabilities `p_i = w_i / W`, the count `c_i(n)` of source `i` satisfies
//!   `n·p_i − (k − 1) < c_i(n) < n·p_i + 1` (proof in `docs/mix.md`), so the realised share of
//!   every source is within `(k − 1) / n` of its weight. Integer arithmetic makes the state
//!   exact, so a saved state resumes bit for bit.
//! - [`permutation`]: a seeded Fisher–Yates shuffle of `0..n` (SplitMix64 draws, unbiased
//!   bounded integers by Lemire's multiply-and-reject), the same on every platform.
//! - [`gather`]: the rows of a batch copied once from the windows' string columns.
//! - [`parquet`]: the text column of a Parquet row group, decoded without copying the texts.

pub mod gather;
pub mod parquet;

use crate::alloc;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// The integer scale of the weights: probabilities are stored as multiples of 2^-32.
pub const WEIGHT_SCALE: f64 = 4_294_967_296.0;

/// Probabilities as integer weights (multiples of 2^-32 of the total; a positive weight never
/// rounds to 0).
///
/// # Errors
/// A negative, NaN or infinite weight, no weights, or weights summing to 0.
pub fn integer_weights(weights: &[f64]) -> Result<Vec<u64>> {
    if weights.is_empty() {
        return Err(Error::param("weights", "must name at least one source"));
    }
    if let Some((i, w)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !w.is_finite() || **w < 0.0)
    {
        return Err(Error::param(
            "weights",
            format!("must be finite and >= 0, got {w} for source {i}"),
        ));
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return Err(Error::param("weights", "must have a positive sum"));
    }
    Ok(weights
        .iter()
        .map(|&w| {
            if w == 0.0 {
                0
            } else {
                ((w / total * WEIGHT_SCALE).round() as u64).max(1)
            }
        })
        .collect())
}

/// The interleaving state: integer weights and the running SWRR credits (one per source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interleaver {
    weights: Vec<u64>,
    total: i64,
    credit: Vec<i64>,
}

/// One stretch of the schedule: the source of each step and how many documents that source had
/// given before it (its consumption index).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Source index per step.
    pub sources: Vec<u32>,
    /// Per step, the number of earlier steps (since the counts were zero) that chose its source.
    pub ranks: Vec<u64>,
}

impl Interleaver {
    /// A fresh interleaver (all credits 0) over integer weights.
    ///
    /// # Errors
    /// No weights, a zero total, or weights whose total does not fit in 62 bits.
    pub fn new(weights: Vec<u64>) -> Result<Self> {
        let credit = vec![0; weights.len()];
        Self::with_credit(weights, credit)
    }

    /// An interleaver resumed from saved credits.
    ///
    /// # Errors
    /// As [`Interleaver::new`], or `credit` of another length than `weights`.
    pub fn with_credit(weights: Vec<u64>, credit: Vec<i64>) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::param("weights", "must name at least one source"));
        }
        if credit.len() != weights.len() {
            return Err(Error::ShapeMismatch(format!(
                "{} credits for {} weights",
                credit.len(),
                weights.len()
            )));
        }
        let total = weights
            .iter()
            .try_fold(0u64, |a, &w| a.checked_add(w))
            .filter(|&t| t > 0 && t < (1u64 << 62))
            .ok_or_else(|| Error::param("weights", "must have a positive total below 2^62"))?;
        // Credits stay within (−total·k, total·k); refuse a state that could overflow.
        let limit = i128::from(total) * (weights.len() as i128 + 1);
        if credit.iter().any(|&c| i128::from(c).abs() > limit) {
            return Err(Error::param(
                "credit",
                "is not a state this interleaver produced",
            ));
        }
        Ok(Self {
            weights,
            total: total as i64,
            credit,
        })
    }

    /// The integer weights.
    pub fn weights(&self) -> &[u64] {
        &self.weights
    }

    /// The credits (the state to save).
    pub fn credit(&self) -> &[i64] {
        &self.credit
    }

    /// Replace the weights, keeping the credits (the deficits carry over).
    ///
    /// # Errors
    /// As [`Interleaver::new`], or a different number of sources.
    pub fn set_weights(&mut self, weights: Vec<u64>) -> Result<()> {
        if weights.len() != self.weights.len() {
            return Err(Error::ShapeMismatch(format!(
                "{} weights for {} sources",
                weights.len(),
                self.weights.len()
            )));
        }
        // The credits of the old weights are deficits in units of the old total; rescale them
        // to the new total so that each source keeps its share of the lag.
        let new_total: u64 = weights
            .iter()
            .try_fold(0u64, |a, &w| a.checked_add(w))
            .unwrap_or(0);
        let next = Self::new(weights)?;
        let old_total = i128::from(self.total);
        let mut credit: Vec<i64> = self
            .credit
            .iter()
            .map(|&c| {
                i64::try_from(i128::from(c) * i128::from(new_total) / old_total).map_err(|_| {
                    Error::param("weights", "change is too large to rescale the state")
                })
            })
            .collect::<Result<_>>()?;
        // Keep the credits summing to 0 (integer division may leave a remainder).
        let rest: i64 = credit.iter().sum();
        if let Some(first) = credit.first_mut() {
            *first -= rest;
        }
        *self = Self::with_credit(next.weights, credit)?;
        Ok(())
    }

    /// The next source: every credit grows by its weight, the largest credit (first on ties)
    /// is chosen and pays the total.
    #[inline]
    pub fn next_source(&mut self) -> usize {
        let mut best = 0;
        let mut best_credit = i64::MIN;
        for (i, (c, &w)) in self.credit.iter_mut().zip(&self.weights).enumerate() {
            *c += w as i64;
            if *c > best_credit {
                best_credit = *c;
                best = i;
            }
        }
        self.credit[best] -= self.total;
        best
    }

    /// The next `n` steps; `consumed[i]` (documents source `i` gave so far) is advanced.
    ///
    /// # Errors
    /// `consumed` of another length than the weights, or `n` too large to allocate.
    pub fn schedule(&mut self, consumed: &mut [u64], n: usize) -> Result<Schedule> {
        if consumed.len() != self.weights.len() {
            return Err(Error::ShapeMismatch(format!(
                "{} consumed counts for {} sources",
                consumed.len(),
                self.weights.len()
            )));
        }
        let mut sources = alloc::with_capacity::<u32>(n, "n", "the schedule")?;
        let mut ranks = alloc::with_capacity::<u64>(n, "n", "the schedule")?;
        for _ in 0..n {
            let s = self.next_source();
            sources.push(s as u32);
            ranks.push(consumed[s]);
            consumed[s] += 1;
        }
        Ok(Schedule { sources, ranks })
    }
}

/// A uniform integer in `0..bound` (`bound >= 1`) from the stream, without modulo bias
/// (Lemire, "Fast random integer generation in an interval", 2019).
#[inline]
fn below(rng: &mut SplitMix64, bound: u64) -> u64 {
    let mut m = u128::from(rng.next_u64()) * u128::from(bound);
    if (m as u64) < bound {
        let threshold = bound.wrapping_neg() % bound;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(bound);
        }
    }
    (m >> 64) as u64
}

/// A seeded uniform permutation of `0..n` (Fisher–Yates over [`SplitMix64`]`(seed)`).
///
/// # Errors
/// `n` too large to allocate.
pub fn permutation(n: usize, seed: u64) -> Result<Vec<u64>> {
    let mut out = alloc::with_capacity::<u64>(n, "n", "the permutation")?;
    out.extend(0..n as u64);
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        out.swap(i, j);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_weights_are_checked_and_scaled() {
        assert_eq!(
            integer_weights(&[1.0, 3.0]).unwrap(),
            vec![1 << 30, 3 << 30]
        );
        assert_eq!(integer_weights(&[0.0, 1.0]).unwrap(), vec![0, 1 << 32]);
        assert!(integer_weights(&[]).is_err());
        assert!(integer_weights(&[0.0]).is_err());
        assert!(integer_weights(&[-1.0, 2.0]).is_err());
        assert!(integer_weights(&[f64::NAN]).is_err());
    }

    #[test]
    fn swrr_matches_the_nginx_example() {
        // nginx's smooth weighted round-robin with weights 5, 1, 1: a a b a c a a.
        let mut it = Interleaver::new(vec![5, 1, 1]).unwrap();
        let got: Vec<usize> = (0..7).map(|_| it.next_source()).collect();
        assert_eq!(got, vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(it.credit(), &[0, 0, 0]);
    }

    #[test]
    fn deviation_stays_within_the_bound() {
        let w = integer_weights(&[0.5, 0.3, 0.15, 0.05]).unwrap();
        let total: u64 = w.iter().sum();
        let k = w.len() as f64;
        let mut it = Interleaver::new(w.clone()).unwrap();
        let mut counts = [0u64; 4];
        for n in 1..=200_000u64 {
            counts[it.next_source()] += 1;
            for i in 0..4 {
                let expect = n as f64 * w[i] as f64 / total as f64;
                let d = expect - counts[i] as f64;
                assert!(d > -1.0 - 1e-9 && d < k - 1.0 + 1e-9, "n={n} i={i} d={d}");
            }
        }
    }

    #[test]
    fn schedule_ranks_count_per_source_and_resume_exactly() {
        let w = integer_weights(&[2.0, 1.0]).unwrap();
        let mut a = Interleaver::new(w.clone()).unwrap();
        let mut consumed = vec![0u64; 2];
        let full = a.schedule(&mut consumed, 10).unwrap();
        assert_eq!(consumed.iter().sum::<u64>(), 10);
        assert!((6..=7).contains(&consumed[0]));
        let mut b = Interleaver::new(w).unwrap();
        let mut c2 = vec![0u64; 2];
        let first = b.schedule(&mut c2, 4).unwrap();
        let mut resumed =
            Interleaver::with_credit(b.weights().to_vec(), b.credit().to_vec()).unwrap();
        let second = resumed.schedule(&mut c2, 6).unwrap();
        let joined: Vec<u32> = first
            .sources
            .iter()
            .chain(&second.sources)
            .copied()
            .collect();
        assert_eq!(joined, full.sources);
        let ranks: Vec<u64> = first.ranks.iter().chain(&second.ranks).copied().collect();
        assert_eq!(ranks, full.ranks);
    }

    #[test]
    fn set_weights_keeps_credits_summing_to_zero() {
        let mut it = Interleaver::new(integer_weights(&[1.0, 1.0, 1.0]).unwrap()).unwrap();
        for _ in 0..5 {
            it.next_source();
        }
        it.set_weights(integer_weights(&[0.7, 0.2, 0.1]).unwrap())
            .unwrap();
        assert_eq!(it.credit().iter().sum::<i64>(), 0);
        assert!(it.set_weights(vec![1, 2]).is_err());
    }

    #[test]
    fn permutation_is_a_seeded_permutation() {
        let p = permutation(1000, 7).unwrap();
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u64>>());
        assert_eq!(p, permutation(1000, 7).unwrap());
        assert_ne!(p, permutation(1000, 8).unwrap());
        assert!(permutation(0, 1).unwrap().is_empty());
        assert_eq!(permutation(1, 1).unwrap(), vec![0]);
    }

    #[test]
    fn permutation_positions_are_uniform() {
        // Each of 4 items lands in each position about 1/4 of the time.
        let mut counts = [[0u32; 4]; 4];
        for seed in 0..8000 {
            for (pos, &item) in permutation(4, seed).unwrap().iter().enumerate() {
                counts[item as usize][pos] += 1;
            }
        }
        for row in counts {
            for c in row {
                assert!((1800..2200).contains(&c), "{c}");
            }
        }
    }
}
