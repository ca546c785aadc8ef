//! Greedy maximisation of a concave-over-modular set function: MIG's information gain (Chen et
//! al., "MIG: Automatic Data Selection for Instruction Tuning by Maximizing Information Gain in
//! Semantic Space", 2025).
//!
//! Each document `i` carries a non-negative vector `w_i` over labels (in MIG: its quality score
//! spread over its labels and propagated along the label graph; the Python layer builds it). The
//! information of a set `S` is
//!
//! ```text
//! F(S) = Σ_j φ( Σ_{i ∈ S} w_ij )
//! ```
//!
//! with `φ` concave, non-decreasing and `φ(0) = 0` (`x^α` with `0 < α ≤ 1`, or `ln(1 + x)`).
//! A concave function of a non-negative modular function is monotone submodular, so the greedy
//! algorithm (add the document with the largest gain `F(S ∪ {i}) − F(S)`, `k` times) returns a
//! set with `F(S) ≥ (1 − 1/e) · max_{|S'| = k} F(S')` (Nemhauser, Wolsey & Fisher 1978).
//!
//! [`greedy`] computes every gain at every step (`k` passes over the matrix, in parallel);
//! [`lazy_greedy`] (Minoux 1978) keeps stale gains in a max-heap: by submodularity a gain can
//! only shrink as `S` grows, so a stale gain is an upper bound and only the top of the heap needs
//! recomputing. Both break ties by the lowest row, so they select the same rows in the same order
//! (the tests check it).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::CsrView;
use crate::alloc;
use crate::error::{Error, Result};
use crate::parallel::with_threads;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 1024;

/// The concave, non-decreasing `φ` of the objective (`φ(0) = 0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phi {
    /// `x^α`, `0 < α ≤ 1` (`α = 1`: modular, greedy = top-k by total weight).
    Power(f64),
    /// `ln(1 + x)`.
    Log1p,
}

impl Phi {
    /// Checks the parameter of `φ`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `alpha`.
    pub fn validate(self) -> Result<()> {
        match self {
            Phi::Power(a) if !(a > 0.0 && a <= 1.0) => Err(Error::param(
                "alpha",
                format!("must be in (0, 1] (φ = x^alpha concave), got {a}"),
            )),
            _ => Ok(()),
        }
    }

    /// `φ(x)` for `x ≥ 0`.
    #[inline]
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Phi::Power(a) => x.powf(a),
            Phi::Log1p => x.ln_1p(),
        }
    }
}

/// The rows chosen by greedy maximisation, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selected {
    /// Rows, in selection order.
    pub order: Vec<u32>,
    /// The gain `F(S ∪ {i}) − F(S)` of each when it was added (non-increasing).
    pub gains: Vec<f64>,
    /// Gain evaluations made (`k · n` for the plain greedy, usually far fewer for the lazy one).
    pub n_evaluations: u64,
}

/// Checks the weights (finite, non-negative, columns strictly increasing within a row) and `k`.
fn check(w: &CsrView<'_, f64>, k: usize, phi: Phi) -> Result<()> {
    phi.validate()?;
    if let Some(p) = w.values.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        let row = w.indptr.partition_point(|&q| q <= p as i64) - 1;
        return Err(Error::param(
            "weights",
            format!("must be finite and >= 0, got {} in row {row}", w.values[p]),
        ));
    }
    for i in 0..w.n_rows() {
        if w.row(i).0.windows(2).any(|c| c[1] <= c[0]) {
            return Err(Error::param(
                "weights",
                format!("row {i} has unsorted or repeated labels (sum duplicates first)"),
            ));
        }
    }
    if k > w.n_rows() {
        return Err(Error::param(
            "k",
            format!("must be <= the number of rows ({}), got {k}", w.n_rows()),
        ));
    }
    Ok(())
}

/// The gain of adding row `i` when the label masses are `mass`.
#[inline]
fn gain(w: &CsrView<'_, f64>, i: usize, mass: &[f64], phi: Phi) -> f64 {
    let (cols, vals) = w.row(i);
    let mut g = 0.0;
    for (&j, &v) in cols.iter().zip(vals) {
        let m = mass[j as usize];
        g += phi.eval(m + v) - phi.eval(m);
    }
    g
}

fn add(w: &CsrView<'_, f64>, i: usize, mass: &mut [f64]) {
    let (cols, vals) = w.row(i);
    for (&j, &v) in cols.iter().zip(vals) {
        mass[j as usize] += v;
    }
}

/// `(gain, row)` ordered by gain, then by *lower* row: the greedy's choice is the maximum.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    gain: f64,
    row: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain
            .total_cmp(&other.gain)
            .then_with(|| other.row.cmp(&self.row))
    }
}

/// Plain greedy: `k` rows of `w` maximising `F`, every gain recomputed at every step.
///
/// # Errors
/// Invalid weights, `alpha` or `k`.
pub fn greedy(
    w: CsrView<'_, f64>,
    phi: Phi,
    k: usize,
    n_threads: Option<usize>,
) -> Result<Selected> {
    check(&w, k, phi)?;
    let n = w.n_rows();
    let mut mass = alloc::zeroed::<f64>(w.n_cols, "weights", "label masses")?;
    let mut taken = alloc::zeroed::<bool>(n, "weights", "selected rows")?;
    let mut out = Selected::default();
    with_threads(n_threads, || {
        for _ in 0..k {
            let best = (0..n)
                .into_par_iter()
                .with_min_len(ROWS_PER_TASK)
                .filter(|&i| !taken[i])
                .map(|i| Candidate {
                    gain: gain(&w, i, &mass, phi),
                    row: i as u32,
                })
                .max();
            let Some(best) = best else { break };
            taken[best.row as usize] = true;
            add(&w, best.row as usize, &mut mass);
            out.order.push(best.row);
            out.gains.push(best.gain);
            out.n_evaluations += (n - out.order.len() + 1) as u64;
        }
    })?;
    Ok(out)
}

/// Lazy greedy (Minoux's accelerated greedy): the same rows as [`greedy`], in the same order.
///
/// # Errors
/// Invalid weights, `alpha` or `k`.
pub fn lazy_greedy(
    w: CsrView<'_, f64>,
    phi: Phi,
    k: usize,
    n_threads: Option<usize>,
) -> Result<Selected> {
    check(&w, k, phi)?;
    let n = w.n_rows();
    let mut mass = alloc::zeroed::<f64>(w.n_cols, "weights", "label masses")?;
    let initial: Vec<Candidate> = with_threads(n_threads, || {
        (0..n)
            .into_par_iter()
            .with_min_len(ROWS_PER_TASK)
            .map(|i| Candidate {
                gain: gain(&w, i, &mass, phi),
                row: i as u32,
            })
            .collect()
    })?;
    let mut out = Selected {
        n_evaluations: n as u64,
        ..Selected::default()
    };
    // `fresh[i]`: the step at which row i's bound was last computed.
    let mut fresh = alloc::zeroed::<usize>(n, "weights", "bound ages")?;
    let mut heap = BinaryHeap::from(initial);
    while out.order.len() < k {
        let Some(top) = heap.pop() else { break };
        let step = out.order.len();
        let row = top.row as usize;
        if fresh[row] == step {
            // Its bound is its current gain and no other bound (an upper bound on that row's
            // gain) beats it: it is the plain greedy's choice, ties included.
            add(&w, row, &mut mass);
            out.order.push(top.row);
            out.gains.push(top.gain);
            continue;
        }
        let updated = Candidate {
            gain: gain(&w, row, &mass, phi),
            row: top.row,
        };
        out.n_evaluations += 1;
        fresh[row] = step;
        heap.push(updated);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn objective(rows: &[Vec<(u32, f64)>], set: &[u32], n_cols: usize, phi: Phi) -> f64 {
        let mut m = vec![0.0; n_cols];
        for &i in set {
            for &(j, v) in &rows[i as usize] {
                m[j as usize] += v;
            }
        }
        m.iter().map(|&x| phi.eval(x)).sum()
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn lazy_equals_plain_equals_definition() {
        let mut r = SplitMix64::new(3);
        for case in 0..20 {
            let (n, l) = (30 + case, 6);
            let mut rows = Vec::new();
            let (mut indptr, mut indices, mut values) = (vec![0i64], vec![], vec![]);
            for _ in 0..n {
                let mut row = Vec::new();
                for j in 0..l {
                    if r.next_f64() < 0.4 {
                        // Coarse values (even cases) make ties common: plain and lazy must
                        // still agree; continuous ones (odd cases) are compared to the definition.
                        let u = r.next_f64() * 4.0;
                        let v = if case % 2 == 0 { u.floor() / 2.0 } else { u };
                        row.push((j as u32, v));
                        indices.push(j as u32);
                        values.push(v);
                    }
                }
                rows.push(row);
                indptr.push(indices.len() as i64);
            }
            let w = CsrView::new("weights", &indptr, &indices, &values, l).unwrap();
            for phi in [Phi::Power(0.5), Phi::Power(0.8), Phi::Log1p] {
                let k = 12;
                let plain = greedy(w, phi, k, Some(2)).unwrap();
                let lazy = lazy_greedy(w, phi, k, Some(1)).unwrap();
                assert_eq!(plain.order, lazy.order);
                // The definition: at each step the best gain F(S ∪ i) − F(S), from scratch.
                let mut set: Vec<u32> = vec![];
                if case % 2 == 0 {
                    // Ties in exact arithmetic are broken by rounding: check optimality instead.
                    for (&i, &g) in plain.order.iter().zip(&plain.gains) {
                        let base = objective(&rows, &set, l, phi);
                        let best = (0..n as u32)
                            .filter(|c| !set.contains(c))
                            .map(|c| objective(&rows, &[&set[..], &[c]].concat(), l, phi) - base)
                            .fold(f64::NEG_INFINITY, f64::max);
                        assert!(
                            (g - best).abs() < 1e-9,
                            "case {case}: gain {g} < best {best}"
                        );
                        set.push(i);
                    }
                    continue;
                }
                for _ in 0..k {
                    let base = objective(&rows, &set, l, phi);
                    let mut best = (f64::NEG_INFINITY, 0u32);
                    for i in 0..n as u32 {
                        if set.contains(&i) {
                            continue;
                        }
                        let mut s2 = set.clone();
                        s2.push(i);
                        let g = objective(&rows, &s2, l, phi) - base;
                        if g > best.0 + 1e-12 {
                            best = (g, i);
                        }
                    }
                    set.push(best.1);
                }
                assert_eq!(plain.order, set, "case {case} {phi:?}");
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let w = CsrView::new("weights", &[0, 1], &[0], &[-1.0], 1).unwrap();
        assert!(greedy(w, Phi::Log1p, 1, None).is_err());
        let w = CsrView::new("weights", &[0, 1], &[0], &[1.0], 1).unwrap();
        assert!(greedy(w, Phi::Log1p, 2, None).is_err());
        assert!(lazy_greedy(w, Phi::Power(1.5), 1, None).is_err());
    }
}
