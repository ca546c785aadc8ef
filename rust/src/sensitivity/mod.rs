//! l_p sensitivity sampling: leverage scores, Lewis weights and weighted coresets.
//!
//! Given a dense matrix A (n × d, rows are documents: embeddings, hashed features, gradients), the
//! l_p sensitivity of row i is σ_i = sup_x |a_iᵀx|^p / ‖Ax‖_p^p. Sampling rows with probability
//! proportional to an upper bound on σ_i and weighting the kept rows by 1/probability gives a small
//! weighted subset that preserves ‖Ax‖_p for every x (Woodruff & Yasuda, "Sharper Bounds for l_p
//! Sensitivity Sampling", ICML 2023). The bounds computed here:
//!
//! - leverage scores τ_i = a_iᵀ(AᵀA)⁺a_i, exact ([`leverage_scores`], Gram → Cholesky, or
//!   column-pivoted QR when AᵀA is ill-conditioned or A is rank deficient) or sketched
//!   ([`sketched_leverage_scores`], Clarkson–Woodruff CountSketch, Drineas et al. 2012);
//! - l_p Lewis weights ([`lewis_weights`], the Cohen & Peng 2015 fixed point, 1 ≤ p < 4):
//!   σ_i ≤ d^{max(0, p/2−1)} w_i;
//! - root leverage τ_i^{p/2} (σ_i ≤ τ_i^{p/2} for p ≤ 2) and mixtures with leverage
//!   (Munteanu & Omlor 2024), in [`sensitivity_scores`];
//! - the samplers in [`sample`]: i.i.d., independent Bernoulli with Σp_i = k, priority sampling.
//!
//! Invariants: every routine returns the same bits for any thread count. Rows are processed in
//! fixed blocks of [`BLOCK`] rows whose boundaries depend only on (n, d), partial Gram matrices are
//! summed in block order, and random numbers are keyed by (seed, row).
//!
//! Dense linear algebra comes from `faer`: pure Rust (no BLAS/LAPACK system dependency, so the
//! wheel builds anywhere `cargo` does), SIMD-fast matmul/Cholesky/QR, actively maintained. Its
//! compile time is significant, so it is built with `default-features = false, features = ["std"]`
//! (no rayon, npy, rand or sparse): we parallelise over row blocks ourselves, which is also what
//! makes the output independent of the thread count. Arithmetic is in f64 (float32 input is
//! widened one block at a time, float64 input is read in place), except the first Lewis
//! iterations, which run their two passes over an f32 copy of A (see `blocks`).

// Matrix code follows the papers' notation (A, d, n, p, q, t, w): single letters read best here.
#![allow(clippy::many_single_char_names)]

mod blocks;
mod leverage;
mod lewis;
pub mod sample;
#[cfg(test)]
mod tests;

pub use leverage::{
    leverage_scores, quadratic_forms, sketched_leverage_scores, Leverage, SketchConfig, Solver,
};
pub use lewis::{lewis_weights, sensitivity_scores, Lewis, Scheme};
pub use sample::{sample, Sample, Sampler};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// Rows per block: the unit of parallel work and of the fixed summation order (1024 rows keep
/// faer's syrk kernel efficient; the output depends on it, never on the thread count).
pub const BLOCK: usize = 1024;

/// Borrowed row-major data of a dense matrix.
#[derive(Clone, Copy, Debug)]
pub enum Data<'a> {
    /// float32 entries (widened to f64 block by block).
    F32(&'a [f32]),
    /// float64 entries (read in place).
    F64(&'a [f64]),
}

/// Columns whose largest magnitude lies outside `[2^-COL_EXP, 2^COL_EXP]` are rescaled.
const COL_EXP: i32 = 200;

/// A borrowed, C-contiguous n × d matrix with finite entries and n ≥ d ≥ 1.
///
/// Every routine here is invariant under A → A·D for an invertible diagonal D (leverage scores,
/// Lewis weights and sensitivities depend on the column space only), and sees A·D where D scales
/// each column whose largest magnitude is far from 1 (outside 2^±200) by a power of two. So
/// `A · 1e300` and `A · 1e-300` give the scores of A (the Gram matrix would overflow or underflow
/// otherwise), and ordinary input is untouched, bit for bit.
#[derive(Clone, Debug)]
pub struct Matrix<'a> {
    data: Data<'a>,
    n: usize,
    d: usize,
    col_scale: Option<Vec<f64>>,
}

impl<'a> Matrix<'a> {
    /// Wraps row-major `data` as an `n × d` matrix without copying.
    ///
    /// # Errors
    /// Length mismatch, `d == 0`, `n < d`, or a NaN/inf entry (the message names the first bad row).
    pub fn new(data: Data<'a>, n: usize, d: usize) -> Result<Self> {
        let len = match data {
            Data::F32(s) => s.len(),
            Data::F64(s) => s.len(),
        };
        if n.checked_mul(d) != Some(len) {
            return Err(Error::ShapeMismatch(format!(
                "data has {len} entries, expected n × d = {n} × {d}"
            )));
        }
        if d == 0 {
            return Err(Error::param(
                "A",
                "must have at least one column, got d = 0",
            ));
        }
        if n < d {
            return Err(Error::param(
                "A",
                format!("must have at least as many rows as columns, got n = {n} < d = {d}"),
            ));
        }
        let mut m = Self {
            data,
            n,
            d,
            col_scale: None,
        };
        if let Some(row) = m.first_non_finite_row() {
            return Err(Error::param(
                "A",
                format!("must be finite, row {row} contains NaN or inf"),
            ));
        }
        m.col_scale = m.column_scales();
        Ok(m)
    }

    /// Power-of-two scales bringing each column's largest magnitude near 1, or `None` when
    /// every column is already within 2^±[`COL_EXP`] (or zero).
    fn column_scales(&self) -> Option<Vec<f64>> {
        let d = self.d;
        let fold_max = |mut acc: Vec<f64>, row: &[f64]| {
            for (m, v) in acc.iter_mut().zip(row) {
                *m = m.max(v.abs());
            }
            acc
        };
        let merge = |a: Vec<f64>, b: Vec<f64>| fold_max(a, &b);
        let max_abs = match self.data {
            Data::F32(s) => s
                .par_chunks(d)
                .with_min_len(BLOCK)
                .fold(
                    || vec![0.0; d],
                    |acc, row| {
                        let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
                        fold_max(acc, &row)
                    },
                )
                .reduce(|| vec![0.0; d], merge),
            Data::F64(s) => s
                .par_chunks(d)
                .with_min_len(BLOCK)
                .fold(|| vec![0.0; d], fold_max)
                .reduce(|| vec![0.0; d], merge),
        };
        let (lo, hi) = (2f64.powi(-COL_EXP), 2f64.powi(COL_EXP));
        if max_abs.iter().all(|&m| m == 0.0 || (lo..=hi).contains(&m)) {
            return None;
        }
        Some(
            max_abs
                .iter()
                .map(|&m| {
                    if m == 0.0 || (lo..=hi).contains(&m) {
                        1.0
                    } else {
                        // Clamped so that the scale itself is a normal, finite number.
                        let e = (m.log2().floor() as i32).clamp(-1020, 1020);
                        2f64.powi(-e)
                    }
                })
                .collect(),
        )
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.n
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.d
    }

    fn first_non_finite_row(&self) -> Option<usize> {
        let d = self.d;
        let bad = match self.data {
            Data::F32(s) => s
                .par_chunks(d)
                .position_first(|r| r.iter().any(|v| !v.is_finite())),
            Data::F64(s) => s
                .par_chunks(d)
                .position_first(|r| r.iter().any(|v| !v.is_finite())),
        };
        bad
    }

    /// Entry (i, j) as f64.
    #[inline]
    fn get(&self, i: usize, j: usize) -> f64 {
        let v = match self.data {
            Data::F32(s) => f64::from(s[i * self.d + j]),
            Data::F64(s) => s[i * self.d + j],
        };
        match &self.col_scale {
            Some(c) => v * c[j],
            None => v,
        }
    }

    /// Squared Euclidean norm of every row.
    fn row_norms_sq(&self) -> Vec<f64> {
        (0..self.n)
            .into_par_iter()
            .with_min_len(BLOCK)
            .map(|i| (0..self.d).map(|j| self.get(i, j).powi(2)).sum())
            .collect()
    }

    /// Calls `f` with rows `r0..r1` as an f64 matrix view, each row multiplied by `scale[i]` when
    /// given (and columns by the column scales). float64 input without any scaling is viewed in
    /// place; otherwise `buf` holds a copy.
    fn block<R>(
        &self,
        r0: usize,
        r1: usize,
        scale: Option<&[f64]>,
        buf: &mut Vec<f64>,
        f: impl FnOnce(faer::MatRef<'_, f64>) -> R,
    ) -> R {
        let d = self.d;
        let rows = r1 - r0;
        if let (Data::F64(s), None, None) = (self.data, scale, &self.col_scale) {
            return f(faer::MatRef::from_row_major_slice(
                &s[r0 * d..r1 * d],
                rows,
                d,
            ));
        }
        buf.clear();
        buf.reserve(rows * d);
        match self.data {
            Data::F32(s) => buf.extend(s[r0 * d..r1 * d].iter().map(|&v| f64::from(v))),
            Data::F64(s) => buf.extend_from_slice(&s[r0 * d..r1 * d]),
        }
        if let Some(cs) = &self.col_scale {
            for row in buf.chunks_mut(d) {
                for (v, c) in row.iter_mut().zip(cs) {
                    *v *= c;
                }
            }
        }
        if let Some(sc) = scale {
            for (row, &c) in buf.chunks_mut(d).zip(&sc[r0..r1]) {
                for v in row.iter_mut() {
                    *v *= c;
                }
            }
        }
        f(faer::MatRef::from_row_major_slice(buf, rows, d))
    }
}

pub(crate) fn check_p(p: f64) -> Result<()> {
    if !(p.is_finite() && p >= 1.0) {
        return Err(Error::param(
            "p",
            format!("must be a finite number >= 1, got {p}"),
        ));
    }
    Ok(())
}
