//! Leverage scores and the weighted quadratic forms a_iᵀ(AᵀS²A)⁺a_i behind them.

use faer::linalg::matmul::matmul;
use faer::linalg::triangular_inverse::{invert_lower_triangular, invert_upper_triangular};
use faer::{Accum, Mat, MatRef, Par, Side};
use rayon::prelude::*;

use super::blocks::{gram, row_quad};
use super::Matrix;
use crate::error::{Error, Result};
use crate::parallel::with_threads;
use crate::rng::{normal, uniform_bits};

/// Above this estimate of cond(AᵀA) (after scaling its diagonal to 1) the Gram/Cholesky route
/// loses more than ~1e-8 relative accuracy, so the column-pivoted QR of A is used instead.
const GRAM_COND_MAX: f64 = 1e8;

/// Which factorisation produced the scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    /// Gram matrix AᵀA → Cholesky (fast path, well-conditioned full-rank A).
    Cholesky,
    /// Column-pivoted QR of A (ill-conditioned or rank-deficient A).
    Qr,
    /// Column-pivoted QR of a CountSketch of A (approximate).
    Sketch,
}

impl Solver {
    /// Lower-case name, as reported to Python.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Cholesky => "cholesky",
            Solver::Qr => "qr",
            Solver::Sketch => "sketch",
        }
    }
}

/// Scores with the facts needed to trust them.
#[derive(Clone, Debug)]
pub struct Leverage {
    /// One score per row.
    pub scores: Vec<f64>,
    /// Numerical rank of A (of the sketch, for [`Solver::Sketch`]); Σ exact leverage = rank.
    pub rank: usize,
    /// The factorisation used.
    pub solver: Solver,
    /// Estimate of cond(AᵀA) with unit diagonal (∞ when rank deficient); within a factor d.
    pub gram_condition: f64,
}

/// CountSketch parameters for [`sketched_leverage_scores`].
#[derive(Clone, Copy, Debug)]
pub struct SketchConfig {
    /// Rows of the sketch SA (Drineas et al. use O(d²); `None`: min(4d², n)).
    pub sketch_rows: Option<usize>,
    /// Columns of the Gaussian JL projection applied after R⁻¹ (`None`: no projection, exact
    /// a_iR⁻¹ norms; only worth it when jl_dim ≪ d).
    pub jl_dim: Option<usize>,
    /// Seed of the hash and the projection.
    pub seed: u64,
}

/// T = P·R₁₁⁻¹ (d × r) from a column-pivoted QR X·P = Q·R truncated at numerical rank r, so that
/// a_iᵀ(XᵀX)⁺a_i = ‖a_iᵀT‖² for rows in the row space of X.
fn pivoted_qr_map(x: MatRef<'_, f64>, rcond: f64) -> (Mat<f64>, usize) {
    let d = x.ncols();
    let qr = x.col_piv_qr();
    let r = qr.R();
    let r00 = r[(0, 0)].abs();
    let rank = if r00 > 0.0 {
        (0..d)
            .take_while(|&j| r[(j, j)].abs() > rcond * r00)
            .count()
    } else {
        0
    };
    let mut t = Mat::<f64>::zeros(d, rank);
    if rank > 0 {
        let r11 = r.get(..rank, ..rank);
        let mut inv = Mat::<f64>::zeros(rank, rank);
        invert_upper_triangular(inv.as_mut(), r11, Par::Seq);
        let (fwd, _) = qr.P().arrays();
        for j in 0..rank {
            for c in j..rank {
                t[(fwd[j], c)] = inv[(j, c)];
            }
        }
    }
    (t, rank)
}

fn default_rcond(n: usize, d: usize) -> f64 {
    n.max(d) as f64 * f64::EPSILON
}

/// q_i = a_iᵀ(AᵀS²A)⁺a_i with S = diag(scale) (`None`: identity); the leverage of row i of SA
/// is scale_i²·q_i. Runs on the current rayon pool.
///
/// Tries the Gram/Cholesky route and falls back to column-pivoted QR of SA when AᵀS²A is not
/// numerically positive definite or its scaled condition estimate exceeds 1e8. Rank-deficient
/// input gets pseudo-inverse forms (numerical rank with relative tolerance max(n, d)·ε on R).
pub fn quadratic_forms(a: &Matrix, scale: Option<&[f64]>) -> Leverage {
    let d = a.d;
    let g = gram(a, scale);
    if let Some((t, cond)) = cholesky_map(&g) {
        return Leverage {
            scores: row_quad(a, t.as_ref(), true),
            rank: d,
            solver: Solver::Cholesky,
            gram_condition: cond,
        };
    }
    // Fallback: QR of the scaled matrix (an n × d copy) with unit-norm columns, so that the rank
    // decision does not depend on column scaling (leverage does not either).
    let col: Vec<f64> = (0..d)
        .map(|j| g[(j, j)])
        .map(|v| if v > 0.0 { 1.0 / v.sqrt() } else { 0.0 })
        .collect();
    let mut x = Mat::<f64>::zeros(a.n, d);
    for i in 0..a.n {
        let s = scale.map_or(1.0, |s| s[i]);
        for j in 0..d {
            x[(i, j)] = s * a.get(i, j) * col[j];
        }
    }
    let (mut t, rank) = pivoted_qr_map(x.as_ref(), default_rcond(a.n, d));
    for j in 0..d {
        for c in 0..rank {
            t[(j, c)] *= col[j];
        }
    }
    let cond = if rank < d {
        f64::INFINITY
    } else {
        // ‖R⁻¹‖_F² with unit-norm columns: the same estimate as the Cholesky route's.
        (0..d)
            .map(|j| (0..rank).map(|c| (t[(j, c)] / col[j]).powi(2)).sum::<f64>())
            .sum()
    };
    Leverage {
        scores: row_quad(a, t.as_ref(), false),
        rank,
        solver: Solver::Qr,
        gram_condition: cond,
    }
}

/// T = (L⁻¹D)ᵀ where D = diag(G)^{-1/2} and DGD = LLᵀ, with the condition estimate ‖L⁻¹‖_F²
/// (cond(DGD) lies within a factor d of it). `None` when the route is not accurate enough.
pub(super) fn cholesky_map(g: &Mat<f64>) -> Option<(Mat<f64>, f64)> {
    let d = g.nrows();
    let dinv: Vec<f64> = (0..d).map(|j| g[(j, j)]).map(|v| 1.0 / v.sqrt()).collect();
    if dinv.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let gs = Mat::<f64>::from_fn(d, d, |i, j| g[(i, j)] * dinv[i] * dinv[j]);
    let llt = gs.llt(Side::Lower).ok()?;
    let mut linv = Mat::<f64>::zeros(d, d);
    invert_lower_triangular(linv.as_mut(), llt.L(), Par::Seq);
    let mut cond = 0.0;
    for i in 0..d {
        for j in 0..=i {
            cond += linv[(i, j)] * linv[(i, j)];
        }
    }
    if !(cond.is_finite() && cond <= GRAM_COND_MAX) {
        return None;
    }
    let t = Mat::<f64>::from_fn(
        d,
        d,
        |j, i| if j <= i { linv[(i, j)] * dinv[j] } else { 0.0 },
    );
    Some((t, cond))
}

/// Exact leverage scores τ_i = a_iᵀ(AᵀA)⁺a_i (Στ = rank A).
///
/// # Errors
/// Only a failure to start the thread pool.
pub fn leverage_scores(a: &Matrix, n_threads: Option<usize>) -> Result<Leverage> {
    with_threads(n_threads, || quadratic_forms(a, None))
}

/// Approximate leverage scores from a CountSketch S (each row hashed to one of m buckets with a
/// random sign, keyed by (seed, row)): R from the QR of SA, τ̃_i = ‖a_iᵀR⁻¹(G/√k)‖² with an
/// optional k-column Gaussian projection G (Drineas, Magdon-Ismail, Mahoney & Woodruff 2012).
///
/// # Errors
/// `sketch_rows < d` or `jl_dim == 0`.
pub fn sketched_leverage_scores(
    a: &Matrix,
    cfg: &SketchConfig,
    n_threads: Option<usize>,
) -> Result<Leverage> {
    let (n, d) = (a.n, a.d);
    let m = cfg
        .sketch_rows
        .unwrap_or_else(|| d.saturating_mul(d).saturating_mul(4).min(n));
    // A sketch with more rows than A is no smaller than A: n bounds the m × d buffers.
    if m < d || m > n {
        return Err(Error::param(
            "sketch_rows",
            format!("must be in d..=n = {d}..={n} (the rows of A), got {m}"),
        ));
    }
    if m > u32::MAX as usize {
        return Err(Error::param(
            "sketch_rows",
            format!("must be < 2^32, got {m}"),
        ));
    }
    // The projection is a rank × jl_dim matrix and every row block gets BLOCK × jl_dim scratch;
    // more columns than A has rows cannot help.
    if let Some(k) = cfg.jl_dim {
        if k == 0 || k > n {
            return Err(Error::param(
                "jl_dim",
                format!("must be in 1..=n = {n} (the rows of A), got {k}"),
            ));
        }
    }
    with_threads(n_threads, || {
        let sa = count_sketch(a, m, cfg.seed);
        let (mut t, rank) = pivoted_qr_map(sa.as_ref(), default_rcond(m, d));
        if let Some(k) = cfg.jl_dim {
            let scale = 1.0 / (k as f64).sqrt();
            let g = Mat::<f64>::from_fn(rank, k, |j, c| {
                scale * normal(cfg.seed ^ 0x4a4c_5f70_726f_6a00, (j * k + c) as u64)
            });
            let mut tg = Mat::<f64>::zeros(d, k);
            matmul(
                tg.as_mut(),
                Accum::Replace,
                t.as_ref(),
                g.as_ref(),
                1.0,
                Par::Seq,
            );
            t = tg;
        }
        Leverage {
            scores: row_quad(a, t.as_ref(), false),
            rank,
            solver: Solver::Sketch,
            gram_condition: f64::NAN,
        }
    })
}

/// SA for a CountSketch S with m rows: rows grouped by bucket (counting sort, row order kept),
/// then each bucket summed in row order, so the result does not depend on the thread count.
fn count_sketch(a: &Matrix, m: usize, seed: u64) -> Mat<f64> {
    let (n, d) = (a.n, a.d);
    let hashes: Vec<u64> = (0..n)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| uniform_bits(seed ^ 0x636f_756e_7473_6b00, i as u64))
        .collect();
    let bucket = |h: u64| crate::hash::bucket(h >> 1, m as u32) as usize;
    let mut start = vec![0usize; m + 1];
    for &h in &hashes {
        start[bucket(h) + 1] += 1;
    }
    for b in 0..m {
        start[b + 1] += start[b];
    }
    let mut fill = start.clone();
    let mut order = vec![0usize; n];
    for (i, &h) in hashes.iter().enumerate() {
        let b = bucket(h);
        order[fill[b]] = i;
        fill[b] += 1;
    }
    let mut out = vec![0.0f64; m * d];
    out.par_chunks_mut(d).enumerate().for_each(|(b, row)| {
        for &i in &order[start[b]..start[b + 1]] {
            let sign = if hashes[i] & 1 == 0 { 1.0 } else { -1.0 };
            for (j, o) in row.iter_mut().enumerate() {
                *o += sign * a.get(i, j);
            }
        }
    });
    Mat::<f64>::from_fn(m, d, |i, j| out[i * d + j])
}
