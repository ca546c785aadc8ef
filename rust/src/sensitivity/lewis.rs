//! l_p Lewis weights (Cohen & Peng 2015) and the sensitivity upper bounds built on them.

use rayon::prelude::*;

use super::blocks::{quadratic_forms_f32, Single};
use super::leverage::quadratic_forms;
use super::{check_p, Matrix};
use crate::alloc;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, Stop};

/// Residual below which the Lewis iteration leaves f32 at the latest.
const F32_FLOOR: f64 = 1e-3;
/// f32 iterations stop once the residual is within this factor of cond · 2^-24 · √BLOCK
/// (the relative error of the f32 forms, cond the Gram condition estimate).
const F32_MARGIN: f64 = 30.0 / (1u64 << 24) as f64;

/// Lewis weights with convergence facts.
#[derive(Clone, Debug)]
pub struct Lewis {
    /// w_i ≥ 0 with Σw = rank A at the fixed point; zero rows get 0.
    pub weights: Vec<f64>,
    /// Fixed-point iterations run (each is one Gram pass and one solve pass over A).
    pub n_iter: usize,
    /// Whether the residual max_i |ln(T(w)_i/w_i)| fell below `tol`.
    pub converged: bool,
    /// Last residual max_i |ln(T(w)_i/w_i)|.
    pub max_change: f64,
    /// Numerical rank of A.
    pub rank: usize,
}

/// l_p Lewis weights: the fixed point w_i = (a_iᵀ(AᵀW^{1−2/p}A)⁺a_i)^{p/2}, found by iterating the
/// map T from w = 1 (Cohen & Peng 2015: T contracts ln w by |p/2 − 1|), Chebyshev-accelerated
/// in log space (see the iteration's comments); one iteration at p = 2 (where w = leverage).
/// Stops when the residual max_i |ln(T(w)_i / w_i)| < `tol` and returns T(w).
///
/// # Errors
/// `p < 1`, `p >= 4` (the fixed point no longer contracts; the concave program of
/// Fazel–Lee–Padmanabhan–Sidford 2022 is not implemented), `tol <= 0`, `max_iter == 0`,
/// [`Error::Interrupted`] when `stop` (checked before every iteration) is requested.
pub fn lewis_weights(
    a: &Matrix,
    p: f64,
    tol: f64,
    max_iter: usize,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Lewis> {
    check_p(p)?;
    if p >= 4.0 {
        return Err(Error::param(
            "p",
            format!(
                "must be < 4 for Lewis weights (the fixed-point iteration diverges for p >= 4 \
                 and the concave program is not implemented), got {p}"
            ),
        ));
    }
    if tol.is_nan() || tol <= 0.0 {
        return Err(Error::param("tol", format!("must be > 0, got {tol}")));
    }
    if max_iter == 0 {
        return Err(Error::param("max_iter", "must be >= 1, got 0"));
    }
    with_threads(n_threads, || lewis_loop(a, p, tol, max_iter, stop))?
}

/// The Chebyshev coefficients of [`lewis_weights`]: the spectrum of I − J (J the Jacobian of the
/// map in log space at the fixed point) lies in [θ − δ, θ + δ].
struct Chebyshev {
    theta: f64,
    delta: f64,
    /// ρ_{k−1}; `None` before the first step.
    rho: Option<f64>,
}

impl Chebyshev {
    /// (momentum, step) of the next update d_k = momentum·d_{k−1} + step·r_k (Saad, "Iterative
    /// Methods for Sparse Linear Systems", Alg. 12.1, written without 1/δ so that δ → 0, i.e.
    /// p → 2, stays finite).
    fn next(&mut self) -> (f64, f64) {
        let (th, de) = (self.theta, self.delta);
        match self.rho {
            None => {
                self.rho = Some(de / th);
                (0.0, 1.0 / th)
            }
            Some(prev) => {
                let rho = de / (2.0 * th - de * prev);
                self.rho = Some(rho);
                (rho * prev, 2.0 / (2.0 * th - de * prev))
            }
        }
    }
}

/// The iteration of [`lewis_weights`] on the current pool.
///
/// Works in log space, x = ln w: a step costs one exp (the row scale w^{1/2−1/p} = e^{(1/2−1/p)x})
/// and one ln (ln T(w) = (p/2)·ln q) per row besides the Gram and solve passes; the first version
/// spent five powf/ln per row, 19% of the run in a perf profile (n = 200k, d = 64, 1 thread).
///
/// Acceleration: at the fixed point the Jacobian of ln T is (1 − p/2)·P with P similar to a PSD
/// matrix of spectral radius 1, so I − J has its spectrum in [min(1, p/2), max(1, p/2)], a
/// known interval: Chebyshev semi-iteration on it converges at (√κ − 1)/(√κ + 1) per step
/// (κ = max/min: p = 1: 0.17, p = 3: 0.10) instead of |p − 2|/2 for plain Cohen–Peng steps
/// (0.5) or |p − 2|/(p + 2) for the best fixed over-relaxation (1/3 and 1/5). Far from the fixed
/// point the map is not linear: when a residual exceeds twice the best one seen, the iteration
/// falls back to plain Cohen–Peng steps (x ← ln T(w), a global contraction) for good.
fn lewis_loop(a: &Matrix, p: f64, tol: f64, max_iter: usize, stop: &Stop) -> Result<Lewis> {
    let n = a.n;
    // ln w; −∞ for rows of zeros (weight 0).
    let mut x = alloc::zeroed::<f64>(n, "A", "Lewis log-weights")?;
    let norms = a.row_norms_sq();
    x.par_iter_mut()
        .zip(&norms)
        .with_min_len(4096)
        .for_each(|(xi, &r)| *xi = if r > 0.0 { 0.0 } else { f64::NEG_INFINITY });
    drop(norms);
    let mut lt = alloc::zeroed::<f64>(n, "A", "Lewis log-map")?; // ln T(w)
    let mut dir = alloc::zeroed::<f64>(n, "A", "Lewis step")?; // d_{k−1}
    let mut scale = alloc::zeroed::<f64>(n, "A", "Lewis row scales")?;
    let expo = 0.5 - 1.0 / p;
    let mut cheb = Chebyshev {
        theta: (2.0 + p) / 4.0,
        delta: (p - 2.0).abs() / 4.0,
        rho: None,
    };
    let mut plain = false;
    let mut best = f64::INFINITY;
    // At p = 2 the map is constant after one step: T(w) is the leverage of A.
    let exact = (p - 2.0).abs() < f64::EPSILON;
    // The first iterations run their two passes in f32 (see `blocks`) while the residual stays
    // above `f32_until`: at least 100× the estimated f32 error of the forms, 10× `tol` and 1e-3.
    // The iterations below it, and the one whose residual is returned, are all f64.
    let mut single = if exact { None } else { Single::of(a)? };
    let f32_floor = F32_FLOOR.max(10.0 * tol);
    let mut f32_until = f32_floor;
    let mut out = Lewis {
        weights: Vec::new(),
        n_iter: 0,
        converged: false,
        max_change: f64::INFINITY,
        rank: 0,
    };
    for it in 1..=max_iter {
        stop.check()?;
        // Elementwise maps run in parallel; each entry depends on its own row only, so the bits
        // do not depend on the thread count.
        scale
            .par_iter_mut()
            .zip(&x)
            .with_min_len(4096)
            .for_each(|(s, &xi)| {
                *s = if xi.is_finite() {
                    (expo * xi).exp()
                } else {
                    0.0
                }
            });
        let (scores, rank, in_f32) = forms(
            a,
            &mut single,
            &scale,
            out.max_change,
            f32_floor,
            &mut f32_until,
        );
        let half_p = p / 2.0;
        // Residual of the fixed-point equation, max_i |ln(T(w)_i / w_i)|; max is exact in any
        // order, so the parallel reduction is deterministic.
        let change = lt
            .par_iter_mut()
            .zip(&scores)
            .zip(&x)
            .with_min_len(4096)
            .map(|((l, &q), &xi)| {
                *l = if q > 0.0 {
                    half_p * q.ln()
                } else {
                    f64::NEG_INFINITY
                };
                match (xi.is_finite(), l.is_finite()) {
                    (true, true) => (*l - xi).abs(),
                    (false, false) => 0.0,
                    _ => f64::INFINITY,
                }
            })
            .reduce(|| 0.0, f64::max);
        out.n_iter = it;
        out.max_change = change;
        out.rank = rank;
        if (change < tol && !in_f32) || exact || it == max_iter {
            out.converged = change < tol || exact;
            break;
        }
        if change > 2.0 * best {
            plain = true;
        }
        best = best.min(change);
        // The first step is a plain one, x ← ln T(1) = (p/2)·ln τ: the start is far from the
        // fixed point (e^16 on the bench's rare-column rows), where Chebyshev's extrapolation
        // overshoots; starting the Chebyshev sequence from there saves one step at p = 1 and 3.
        let (momentum, step) = if plain || it == 1 {
            (0.0, 1.0)
        } else {
            cheb.next()
        };
        update(&mut x, &mut dir, &lt, momentum, step);
    }
    // T(w) of the last iterate (what the residual was measured on).
    lt.par_iter_mut()
        .with_min_len(4096)
        .for_each(|l| *l = l.exp());
    out.weights = lt;
    Ok(out)
}

/// x ← x + d with d = momentum·d + step·(ln T(w) − x); rows whose x or ln T is −∞ (zero rows)
/// take ln T as is. Each entry depends on its own row only.
fn update(x: &mut [f64], dir: &mut [f64], lt: &[f64], momentum: f64, step: f64) {
    x.par_iter_mut()
        .zip(dir)
        .zip(lt)
        .with_min_len(4096)
        .for_each(|((xi, di), &li)| {
            if xi.is_finite() && li.is_finite() {
                *di = momentum * *di + step * (li - *xi);
                *xi += *di;
            } else {
                *di = 0.0;
                *xi = li;
            }
        });
}

/// The forms q_i = a_iᵀ(AᵀS²A)⁺a_i at S = diag(scale), with the rank and whether f32 passes made
/// them: f32 while `single` is there and the last residual exceeds `f32_until` (which is then
/// raised to the error margin of this Gram's condition), else f64, and then `single` is freed.
fn forms(
    a: &Matrix,
    single: &mut Option<Single>,
    scale: &[f64],
    last_change: f64,
    f32_floor: f64,
    f32_until: &mut f64,
) -> (Vec<f64>, usize, bool) {
    if let Some(s) = single.as_ref().filter(|_| last_change > *f32_until) {
        if let Some((q, cond)) = quadratic_forms_f32(s, scale) {
            *f32_until = f32_floor.max(F32_MARGIN * cond);
            return (q, a.d, true);
        }
    }
    *single = None;
    let lev = quadratic_forms(a, Some(scale));
    (lev.scores, lev.rank, false)
}

/// How row scores are turned into sampling scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheme {
    /// Every row scores 1.
    Uniform,
    /// Leverage τ_i (an l_2 sensitivity).
    Leverage,
    /// τ_i^{p/2}, an upper bound on the l_p sensitivity for p ≤ 2 (a heuristic above 2).
    RootLeverage,
    /// d^{max(0, p/2−1)}·w_i with w the l_p Lewis weights: an upper bound for 1 ≤ p < 4.
    Lewis,
    /// α·τ/Στ + (1−α)·s/Σs with s the Lewis bound (Munteanu & Omlor 2024).
    Mixed {
        /// Weight α ∈ [0, 1] of leverage.
        alpha: f64,
    },
}

/// Sampling scores of every row under `scheme` (see [`Scheme`]); `tol` and `max_iter` are passed
/// to [`lewis_weights`] when the scheme needs them.
///
/// # Errors
/// Those of [`lewis_weights`]; `alpha` outside [0, 1].
#[allow(clippy::too_many_arguments)]
pub fn sensitivity_scores(
    a: &Matrix,
    p: f64,
    scheme: Scheme,
    tol: f64,
    max_iter: usize,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Vec<f64>> {
    check_p(p)?;
    let lewis_bound = |a: &Matrix| -> Result<Vec<f64>> {
        let lw = lewis_weights(a, p, tol, max_iter, n_threads, stop)?;
        let c = (a.d as f64).powf((p / 2.0 - 1.0).max(0.0));
        Ok(lw.weights.into_iter().map(|w| c * w).collect())
    };
    let lev = |a: &Matrix| -> Result<Vec<f64>> {
        Ok(with_threads(n_threads, || quadratic_forms(a, None))?.scores)
    };
    match scheme {
        Scheme::Uniform => Ok(vec![1.0; a.n]),
        Scheme::Leverage => lev(a),
        Scheme::RootLeverage => Ok(lev(a)?
            .into_iter()
            .map(|t| t.max(0.0).powf(p / 2.0))
            .collect()),
        Scheme::Lewis => lewis_bound(a),
        Scheme::Mixed { alpha } => {
            if !(0.0..=1.0).contains(&alpha) {
                return Err(Error::param(
                    "mix",
                    format!("must be in [0, 1], got {alpha}"),
                ));
            }
            let t = lev(a)?;
            let s = lewis_bound(a)?;
            let (st, ss) = (t.iter().sum::<f64>(), s.iter().sum::<f64>());
            Ok(t.iter()
                .zip(&s)
                .map(|(&t, &s)| alpha * t / st + (1.0 - alpha) * s / ss)
                .collect())
        }
    }
}
