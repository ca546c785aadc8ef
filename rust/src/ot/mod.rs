//! Entropic optimal transport between weighted point clouds: log-domain Sinkhorn.
//!
//! The problem (Cuturi 2013; the log-domain iteration of Peyré & Cuturi 2019, §4.4): for pool
//! points `x_i` with mass `a_i`, target points `y_j` with mass `b_j` and cost `M_ij`, the plan
//! `P = diag(u) K diag(v)`, `K = exp(-M / eps)`, with the scalings found by alternating
//!
//! ```text
//! log v_j = log b_j - LSE_i(-M_ij/eps + log u_i)
//! log u_i = log a_i - LSE_j(-M_ij/eps + log v_j)
//! ```
//!
//! from `log u = log v = 0`, exactly as POT's `ot.bregman.sinkhorn_log` iterates (same order,
//! same initialisation, the same marginal error `‖Pᵀ1 − b‖₂` checked every 10 iterations), so
//! the potentials `f = eps·log u`, `g = eps·log v` equal POT's, not merely up to a constant.
//! Working with logarithms keeps it stable at small `eps`, where `K` underflows.
//!
//! Memory: the cost is computed in blocks of pool rows from the embeddings (one GEMM per block,
//! faer), and cached whole only when `n × m × 8` bytes fit `cache_bytes`; otherwise every pass
//! recomputes it, so memory is O(block × m) for a pool of millions. One pass over the pool per
//! iteration does both updates with one `exp` per entry (`pass::pass_fused`): for each row, the
//! new `log u_i` from `e_ij = exp(k_ij + log v_j − max_j)`, then the plan's entries
//! `P_ij = e_ij · a_i / Σ_j e_ij` are added into the column sums `S_j`, and the next column
//! log-sum-exp is `ln S_j − log v_j` (the same sums give the marginal error). Where a column sum
//! falls below 1e-250 (its terms may have underflowed: small `eps`, a far target point) the pass
//! is redone exactly, maximum first, two `exp` per entry (`pass::pass_exact`, also the first
//! pass). Blocks are combined in index order and the vector loops fix their summation order
//! (`kernel`), so the result has the same bits for any thread count and instruction set.
//!
//! Written here rather than called from a library: POT is Python/numpy (several full-matrix
//! temporaries per iteration, one thread for `exp`); no maintained Rust crate has a batched,
//! streaming log-domain Sinkhorn.

// x, y, a, b, f, g, n, m, d, M: the names of the formulas (and of POT's API).
#![allow(clippy::many_single_char_names)]

use faer::linalg::matmul::matmul;
use faer::{Accum, MatRef, Par};
use rayon::prelude::*;

use crate::alloc;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, Stop};
use pass::{pass_exact, pass_fused, transport_cost, Cost, FUSED_MIN};

/// Rows of the pool per block (a block's cost rows are computed by one GEMM).
const BLOCK: usize = 256;

/// How the cost between a pool point and a target point is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// `1 − cos(x, y)` (scipy's `cdist(metric="cosine")`, POT's `ot.dist(metric="cosine")`).
    Cosine,
    /// `‖x − y‖²` (POT's default `ot.dist`).
    SqEuclidean,
}

/// Solver settings.
#[derive(Clone, Copy, Debug)]
pub struct SinkhornConfig {
    /// Entropic regularisation (POT's `reg`), > 0.
    pub eps: f64,
    /// Iterations at most (POT's `numItermax`).
    pub max_iter: usize,
    /// Stop when the marginal error is below this (POT's `stopThr`), checked every 10 iterations.
    pub tol: f64,
    /// Cache the whole cost matrix when it takes at most this many bytes.
    pub cache_bytes: usize,
}

/// The solution.
#[derive(Clone, Debug)]
pub struct Sinkhorn {
    /// `⟨P, M⟩`, the transport cost of the entropic plan (POT's `sinkhorn2`).
    pub cost: f64,
    /// Dual potential of each pool point, `eps · log u_i`.
    pub f: Vec<f64>,
    /// Dual potential of each target point, `eps · log v_j`.
    pub g: Vec<f64>,
    /// Iterations run (POT's `log["niter"]`: the index of the last one).
    pub n_iter: usize,
    /// Last marginal error computed.
    pub err: f64,
    /// Whether `err < tol` was reached.
    pub converged: bool,
}

/// A row-major matrix of `rows × dim` points.
#[derive(Clone, Copy, Debug)]
pub struct Points<'a> {
    data: &'a [f64],
    rows: usize,
    dim: usize,
}

impl<'a> Points<'a> {
    /// Checks the buffer against the shape; `name` is the parameter named in errors.
    ///
    /// # Errors
    /// A shape mismatch, or a value that is not finite.
    pub fn new(data: &'a [f64], rows: usize, dim: usize, name: &'static str) -> Result<Self> {
        if rows.checked_mul(dim) != Some(data.len()) {
            return Err(Error::ShapeMismatch(format!(
                "{name} has {} values for {rows} × {dim}",
                data.len()
            )));
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::param(
                name,
                format!(
                    "must be finite, row {} holds {}",
                    pos / dim.max(1),
                    data[pos]
                ),
            ));
        }
        Ok(Self { data, rows, dim })
    }

    fn block(&self, r0: usize, r1: usize) -> MatRef<'a, f64> {
        MatRef::from_row_major_slice(&self.data[r0 * self.dim..r1 * self.dim], r1 - r0, self.dim)
    }

    fn norms_sq(&self) -> Vec<f64> {
        self.data
            .chunks(self.dim.max(1))
            .take(self.rows)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect()
    }
}

/// Computes blocks of the cost matrix from the points.
struct CostBlocks<'a> {
    x: Points<'a>,
    y: Points<'a>,
    metric: Metric,
    /// Squared norms (sqeuclidean) or inverse norms (cosine) of the points.
    x_norms: Vec<f64>,
    y_norms: Vec<f64>,
}

impl<'a> CostBlocks<'a> {
    fn new(x: Points<'a>, y: Points<'a>, metric: Metric) -> Result<Self> {
        if x.dim != y.dim {
            return Err(Error::ShapeMismatch(format!(
                "pool points have {} dimensions, target points {}",
                x.dim, y.dim
            )));
        }
        let mut x_norms = x.norms_sq();
        let mut y_norms = y.norms_sq();
        if metric == Metric::Cosine {
            for (name, norms) in [("pool", &mut x_norms), ("target", &mut y_norms)] {
                if let Some(i) = norms.iter().position(|&v| v == 0.0) {
                    return Err(Error::param(
                        "metric",
                        format!("'cosine' needs non-zero vectors; {name} row {i} is all zeros"),
                    ));
                }
                for v in norms.iter_mut() {
                    *v = 1.0 / v.sqrt();
                }
            }
        }
        Ok(Self {
            x,
            y,
            metric,
            x_norms,
            y_norms,
        })
    }

    /// Cost rows `r0..r1` times `scale` into `out` (`(r1 - r0) × m`, row-major); the solver
    /// asks for `scale = −1/eps`, the matrix its loops read.
    fn fill(&self, r0: usize, r1: usize, out: &mut [f64], scale: f64) {
        let m = self.y.rows;
        let rows = r1 - r0;
        let mut dst = faer::MatMut::from_row_major_slice_mut(&mut out[..rows * m], rows, m);
        // out = X_block · Yᵀ
        matmul(
            dst.as_mut(),
            Accum::Replace,
            self.x.block(r0, r1),
            self.y.block(0, m).transpose(),
            1.0,
            Par::Seq,
        );
        // The metric is matched outside the loops so that they vectorise (a fifth of the
        // streamed pass went to this loop when it matched and divided per entry).
        let rows = out[..rows * m]
            .chunks_exact_mut(m)
            .zip(&self.x_norms[r0..r1]);
        match self.metric {
            // The norms are stored inverted: 1 − ⟨x, y⟩ / (‖x‖ ‖y‖).
            Metric::Cosine => {
                for (row, &xi) in rows {
                    for (v, &yi) in row.iter_mut().zip(&self.y_norms) {
                        *v = (1.0 - *v * xi * yi) * scale;
                    }
                }
            }
            Metric::SqEuclidean => {
                for (row, &xn) in rows {
                    for (v, &yn) in row.iter_mut().zip(&self.y_norms) {
                        *v = (xn + yn - 2.0 * *v).max(0.0) * scale;
                    }
                }
            }
        }
    }
}

fn check(a: &[f64], name: &'static str) -> Result<Vec<f64>> {
    if a.is_empty() {
        return Err(Error::param(name, "must not be empty".to_string()));
    }
    if let Some(i) = a.iter().position(|&v| !(v.is_finite() && v > 0.0)) {
        return Err(Error::param(
            name,
            format!("must hold positive finite masses, item {i} is {}", a[i]),
        ));
    }
    Ok(a.iter().map(|v| v.ln()).collect())
}

fn solve(
    cost: &Cost<'_>,
    n: usize,
    a: &[f64],
    b: &[f64],
    cfg: &SinkhornConfig,
    stop: &Stop,
) -> Result<Sinkhorn> {
    let m = cost.cols();
    if a.len() != n || b.len() != m {
        return Err(Error::ShapeMismatch(format!(
            "{} pool masses for {n} points, {} target masses for {m} points",
            a.len(),
            b.len()
        )));
    }
    let log_a = check(a, "a")?;
    let log_b = check(b, "b")?;
    let mut log_u = alloc::zeroed::<f64>(n, "pool", "Sinkhorn potentials")?;
    let mut log_v = vec![0.0; m];
    let mut cols = pass_exact(cost, &log_a, &mut log_u, None);
    let mut err = f64::INFINITY;
    let mut it = 0;
    let mut converged = false;
    while it < cfg.max_iter {
        stop.check()?;
        for j in 0..m {
            log_v[j] = log_b[j] - cols[j];
        }
        let sums = pass_fused(cost, a, &log_a, &mut log_u, &log_v);
        if sums.iter().all(|s| s.is_finite() && *s >= FUSED_MIN) {
            for (c, (s, v)) in cols.iter_mut().zip(sums.iter().zip(&log_v)) {
                *c = s.ln() - v;
            }
        } else {
            cols = pass_exact(cost, &log_a, &mut log_u, Some(&log_v));
        }
        if it % 10 == 0 {
            // Column sums of the plan: exp(log v_j + L_j) with L of the new log u.
            err = (0..m)
                .map(|j| ((log_v[j] + cols[j]).exp() - b[j]).powi(2))
                .sum::<f64>()
                .sqrt();
            if err < cfg.tol {
                converged = true;
                break;
            }
        }
        it += 1;
    }
    let n_iter = it.min(cfg.max_iter - 1);
    let total = transport_cost(cost, cfg.eps, &log_u, &log_v);
    Ok(Sinkhorn {
        cost: total,
        f: log_u.iter().map(|v| v * cfg.eps).collect(),
        g: log_v.iter().map(|v| v * cfg.eps).collect(),
        n_iter,
        err,
        converged,
    })
}

fn check_config(cfg: &SinkhornConfig) -> Result<()> {
    if !(cfg.eps.is_finite() && cfg.eps > 0.0) {
        return Err(Error::param(
            "eps",
            format!("must be a positive number, got {}", cfg.eps),
        ));
    }
    if cfg.max_iter == 0 {
        return Err(Error::param("max_iter", "must be >= 1, got 0".to_string()));
    }
    Ok(())
}

/// Entropic OT between point clouds `x` (pool, mass `a`) and `y` (target, mass `b`).
///
/// # Errors
/// Bad shapes or masses, `eps <= 0`, non-finite points, a zero vector with the cosine metric,
/// a failed allocation, an interrupt.
#[allow(clippy::too_many_arguments)]
pub fn sinkhorn_points(
    x: Points<'_>,
    y: Points<'_>,
    a: &[f64],
    b: &[f64],
    metric: Metric,
    cfg: &SinkhornConfig,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Sinkhorn> {
    check_config(cfg)?;
    let blocks = CostBlocks::new(x, y, metric)?;
    let (n, m) = (x.rows, y.rows);
    with_threads(n_threads, || {
        let bytes = n as u128 * m as u128 * 8;
        let cost = if bytes <= cfg.cache_bytes as u128 {
            let mut all = alloc::zeroed_2d::<f64>(n, m, "pool", "the cost matrix")?;
            all.par_chunks_mut(BLOCK * m.max(1))
                .enumerate()
                .for_each(|(b, out)| {
                    let r0 = b * BLOCK;
                    blocks.fill(r0, (r0 + BLOCK).min(n), out, -1.0 / cfg.eps);
                });
            Cost::Cached(all, m)
        } else {
            Cost::Streamed(&blocks, -1.0 / cfg.eps)
        };
        solve(&cost, n, a, b, cfg, stop)
    })?
}

/// Entropic OT for a given `n × m` cost matrix (row-major), as POT's `sinkhorn_log`.
///
/// # Errors
/// As [`sinkhorn_points`]; a non-finite cost.
#[allow(clippy::too_many_arguments)]
pub fn sinkhorn_cost(
    cost: &[f64],
    n: usize,
    m: usize,
    a: &[f64],
    b: &[f64],
    cfg: &SinkhornConfig,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Sinkhorn> {
    check_config(cfg)?;
    Points::new(cost, n, m, "M")?;
    with_threads(n_threads, || {
        solve(&Cost::Given(cost, m, cfg.eps), n, a, b, cfg, stop)
    })?
}

mod kernel;
mod pass;
#[cfg(test)]
mod tests;
