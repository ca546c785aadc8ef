//! Linear classifiers over hashed n-gram features: binary logistic regression and multinomial
//! (softmax) regression, fitted exactly by L-BFGS.
//!
//! Features are the hashed n-gram counts of [`crate::ngram`] (the same as DSIR), reweighted per
//! document by [`Weighting`]: `ln(1 + count)`, then divided by the row's L2 norm (the
//! "log-scaled, L2-normalised" features of the DCLM / PreSelect fastText-style classifiers).
//!
//! The objective is scikit-learn's `LogisticRegression` written as a weighted mean:
//!
//! ```text
//! L(W, b) = (1 / Σ s_i) Σ_i s_i ℓ(y_i, x_i W + b) + (l2 / 2) ‖W‖²
//! ```
//!
//! with `ℓ` the negative log-likelihood of the sigmoid (two classes: one output) or the softmax
//! (`K > 2` classes: `K` outputs), sample weights `s_i` (class weights included), and an
//! unpenalised intercept `b`. It equals scikit-learn's `C Σ s_i ℓ_i + ½‖W‖²` up to the factor
//! `C Σ s_i` when `C = 1 / (l2 Σ s_i)`, so both have the same minimiser; the objective is strictly
//! convex in `W`, and with the softmax the gradients of every feature sum to zero over classes,
//! so starting from zero the iterates stay in the subspace where the minimiser is unique
//! (the intercepts are centred at the end as well).
//!
//! Determinism: the forward pass is per row and the gradient `Xᵀ r` is computed per feature from
//! a column-major copy of `X`, each sum in row order; the per-row losses are summed in row order.
//! No floating-point sum depends on the thread count, so the fitted model is bit-identical for
//! any `n_threads`. L-BFGS itself is sequential ([`lbfgs`]).

// The notation of the papers (x, g, s, y, d; X, W, b, k): single letters are the clearer names.
#![allow(clippy::many_single_char_names)]

pub mod lbfgs;

#[cfg(test)]
mod tests;

use rayon::prelude::*;

use crate::alloc;
use crate::column::Texts;
use crate::error::{Error, Result};
use crate::ngram::{self, NgramConfig};
use crate::parallel::{with_threads, Stop};

/// Rows per parallel task in the forward pass.
const ROWS_PER_TASK: usize = 256;
/// Features per parallel task in the gradient.
const FEATURES_PER_TASK: usize = 4096;

/// A sparse row-major matrix borrowed from the caller (checked by [`CsrView::new`]).
#[derive(Clone, Copy, Debug)]
pub struct CsrView<'a> {
    indptr: &'a [i64],
    indices: &'a [u32],
    values: &'a [f64],
    n_features: usize,
}

impl<'a> CsrView<'a> {
    /// Checks the layout: `indptr` starts at 0, never decreases and ends at `indices.len() ==
    /// values.len()`; every index is `< n_features`; every value is finite.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] or [`Error::InvalidParameter`] naming the array.
    pub fn new(
        indptr: &'a [i64],
        indices: &'a [u32],
        values: &'a [f64],
        n_features: usize,
    ) -> Result<Self> {
        if indptr.first() != Some(&0) {
            return Err(Error::param("indptr", "must start with 0"));
        }
        if indptr.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::param("indptr", "must not decrease"));
        }
        let nnz = *indptr.last().unwrap_or(&0);
        if usize::try_from(nnz).ok() != Some(indices.len()) || indices.len() != values.len() {
            return Err(Error::ShapeMismatch(format!(
                "indptr ends at {nnz}, indices has {} entries, values {}",
                indices.len(),
                values.len()
            )));
        }
        if let Some(j) = indices.iter().find(|&&j| j as usize >= n_features) {
            return Err(Error::param(
                "indices",
                format!("holds column {j}, beyond n_buckets = {n_features}"),
            ));
        }
        if let Some(p) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::param(
                "values",
                format!("must be finite, got {} at entry {p}", values[p]),
            ));
        }
        Ok(Self {
            indptr,
            indices,
            values,
            n_features,
        })
    }

    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Columns.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    #[inline]
    fn row(&self, i: usize) -> (&'a [u32], &'a [f64]) {
        // indptr was checked: non-negative, monotone, within the arrays.
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }
}

/// How counts become feature values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weighting {
    /// `ln(1 + count)` instead of the count.
    pub log: bool,
    /// Divide each row by its L2 norm (empty rows stay empty).
    pub l2_normalize: bool,
}

/// Feature values of CSR counts (`indptr` over `counts`) under `weighting`.
///
/// # Errors
/// A malformed `indptr`, or an allocation failure.
pub fn weigh(indptr: &[i64], counts: &[u32], weighting: Weighting) -> Result<Vec<f64>> {
    let mut out = alloc::with_capacity::<f64>(counts.len(), "counts", "feature values")?;
    out.extend(counts.iter().map(|&c| {
        let c = f64::from(c);
        if weighting.log {
            c.ln_1p()
        } else {
            c
        }
    }));
    if weighting.l2_normalize {
        for w in indptr.windows(2) {
            let (a, b) = (
                usize::try_from(w[0]).unwrap_or(usize::MAX),
                usize::try_from(w[1]).unwrap_or(usize::MAX),
            );
            let row = out
                .get_mut(a..b)
                .ok_or_else(|| Error::param("indptr", "is not a valid row index of counts"))?;
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                for v in row.iter_mut() {
                    *v /= norm;
                }
            }
        }
    }
    Ok(out)
}

/// A fitted linear model: `K` outputs (1 for two classes, else one per class).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearModel {
    /// Input dimension.
    pub n_features: usize,
    /// Outputs `K`.
    pub n_outputs: usize,
    /// Weights, feature-major: `coef[j * K + k]`.
    pub coef: Vec<f64>,
    /// Intercepts, `K` of them.
    pub intercept: Vec<f64>,
}

impl LinearModel {
    /// Checks shapes and finiteness of a model built from stored arrays.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] or [`Error::InvalidParameter`] naming `coef` / `intercept`.
    pub fn new(
        n_features: usize,
        n_outputs: usize,
        coef: Vec<f64>,
        intercept: Vec<f64>,
    ) -> Result<Self> {
        if n_outputs == 0 {
            return Err(Error::param("coef", "has no output column"));
        }
        if Some(coef.len()) != n_features.checked_mul(n_outputs) || intercept.len() != n_outputs {
            return Err(Error::ShapeMismatch(format!(
                "coef has {} values and intercept {}, expected {n_features} × {n_outputs} and \
                 {n_outputs}",
                coef.len(),
                intercept.len()
            )));
        }
        if coef.iter().chain(&intercept).any(|v| !v.is_finite()) {
            return Err(Error::param("coef", "must be finite"));
        }
        Ok(Self {
            n_features,
            n_outputs,
            coef,
            intercept,
        })
    }

    #[inline]
    fn margins(&self, idx: &[u32], val: &[f64], out: &mut [f64]) {
        let k = self.n_outputs;
        out.copy_from_slice(&self.intercept);
        if k == 1 {
            out[0] += idx
                .iter()
                .zip(val)
                .map(|(&j, v)| self.coef[j as usize] * v)
                .sum::<f64>();
        } else {
            for (&j, v) in idx.iter().zip(val) {
                let w = &self.coef[j as usize * k..(j as usize + 1) * k];
                out.iter_mut().zip(w).for_each(|(o, w)| *o += w * v);
            }
        }
    }

    /// Decision values `x W + b`, row-major `n_rows × K` (log-odds of the positive class when
    /// `K == 1`).
    ///
    /// # Errors
    /// `x` of another width, an allocation failure or a thread-pool failure.
    pub fn decision(&self, x: &CsrView<'_>, n_threads: Option<usize>) -> Result<Vec<f64>> {
        if x.n_features != self.n_features {
            return Err(Error::ShapeMismatch(format!(
                "features have {} columns, the model {}",
                x.n_features, self.n_features
            )));
        }
        let k = self.n_outputs;
        let mut out = alloc::zeroed_2d::<f64>(x.n_rows(), k, "texts", "decision values")?;
        with_threads(n_threads, || {
            out.par_chunks_mut(k * ROWS_PER_TASK)
                .enumerate()
                .for_each(|(c, rows)| {
                    for (r, o) in rows.chunks_mut(k).enumerate() {
                        let (idx, val) = x.row(c * ROWS_PER_TASK + r);
                        self.margins(idx, val, o);
                    }
                });
        })?;
        Ok(out)
    }

    /// Decision values of texts: features by `cfg` and `weighting`, then [`Self::decision`].
    ///
    /// # Errors
    /// A row that is not UTF-8, a featuriser of another width, or [`Self::decision`]'s errors.
    pub fn decision_texts<T: Texts + ?Sized>(
        &self,
        cfg: &NgramConfig,
        weighting: Weighting,
        texts: &T,
        n_threads: Option<usize>,
    ) -> Result<Vec<f64>> {
        let csr = ngram::transform_csr(cfg, texts, n_threads)?;
        let values = weigh(&csr.indptr, &csr.counts, weighting)?;
        let x = CsrView::new(&csr.indptr, &csr.indices, &values, cfg.n_buckets as usize)?;
        self.decision(&x, n_threads)
    }
}

/// Regularisation and stopping rules of [`fit`].
#[derive(Clone, Copy, Debug)]
pub struct FitParams {
    /// L2 penalty strength (`l2 / 2 ‖W‖²` next to the mean loss), `>= 0`.
    pub l2: f64,
    /// Fit an (unpenalised) intercept.
    pub fit_intercept: bool,
    /// Stop when the largest absolute gradient entry is `<= tol`.
    pub tol: f64,
    /// Iterations at most.
    pub max_iter: usize,
    /// L-BFGS correction pairs.
    pub memory: usize,
}

/// How a fit ended (see [`lbfgs::LbfgsReport`]).
pub type FitReport = lbfgs::LbfgsReport;

/// Column-major copy of the features, for a gradient summed per feature in row order.
struct Csc {
    colptr: Vec<usize>,
    rows: Vec<u32>,
    values: Vec<f64>,
}

impl Csc {
    fn of(x: &CsrView<'_>) -> Result<Self> {
        let nnz = x.indices.len();
        let mut colptr = alloc::zeroed::<usize>(x.n_features + 1, "n_buckets", "column pointers")?;
        for &j in x.indices {
            colptr[j as usize + 1] += 1;
        }
        for j in 0..x.n_features {
            colptr[j + 1] += colptr[j];
        }
        let mut next = colptr.clone();
        let mut rows = alloc::zeroed::<u32>(nnz, "texts", "column-major features")?;
        let mut values = alloc::zeroed::<f64>(nnz, "texts", "column-major features")?;
        for i in 0..x.n_rows() {
            let (idx, val) = x.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                let p = &mut next[j as usize];
                // Row counts fit in u32: checked by fit().
                rows[*p] = i as u32;
                values[*p] = v;
                *p += 1;
            }
        }
        Ok(Self {
            colptr,
            rows,
            values,
        })
    }
}

struct Objective<'a> {
    x: CsrView<'a>,
    xt: Csc,
    y: &'a [u32],
    /// Sample weights divided by their sum.
    sw: Vec<f64>,
    k: usize,
    l2: f64,
    fit_intercept: bool,
    n_threads: Option<usize>,
}

/// `ln(1 + e^z)` without overflow.
#[inline]
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

#[inline]
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Objective<'_> {
    fn model_of(&self, w: &[f64]) -> LinearModel {
        let nk = self.x.n_features * self.k;
        LinearModel {
            n_features: self.x.n_features,
            n_outputs: self.k,
            coef: w[..nk].to_vec(),
            intercept: if self.fit_intercept {
                w[nk..].to_vec()
            } else {
                vec![0.0; self.k]
            },
        }
    }

    /// Objective and gradient at `w` (coef then intercepts). `resid` and `losses` are scratch.
    fn eval(
        &self,
        w: &[f64],
        grad: &mut [f64],
        resid: &mut [f64],
        losses: &mut [f64],
    ) -> Result<f64> {
        let k = self.k;
        let nk = self.x.n_features * k;
        let coef = &w[..nk];
        let intercept: &[f64] = if self.fit_intercept { &w[nk..] } else { &[] };
        let (x, y, sw) = (&self.x, self.y, &self.sw);
        with_threads(self.n_threads, || {
            // Forward: residuals s_i (p_ik - y_ik) and losses s_i ℓ_i, per row.
            resid
                .par_chunks_mut(k * ROWS_PER_TASK)
                .zip(losses.par_chunks_mut(ROWS_PER_TASK))
                .enumerate()
                .for_each(|(c, (res, loss))| {
                    for (r, (z, l)) in res.chunks_mut(k).zip(loss.iter_mut()).enumerate() {
                        let i = c * ROWS_PER_TASK + r;
                        let (idx, val) = x.row(i);
                        if intercept.is_empty() {
                            z.fill(0.0);
                        } else {
                            z.copy_from_slice(intercept);
                        }
                        if k == 1 {
                            z[0] += idx
                                .iter()
                                .zip(val)
                                .map(|(&j, v)| coef[j as usize] * v)
                                .sum::<f64>();
                            let t = f64::from(y[i]);
                            *l = sw[i] * (softplus(z[0]) - t * z[0]);
                            z[0] = sw[i] * (sigmoid(z[0]) - t);
                        } else {
                            for (&j, v) in idx.iter().zip(val) {
                                let wj = &coef[j as usize * k..(j as usize + 1) * k];
                                z.iter_mut().zip(wj).for_each(|(o, w)| *o += w * v);
                            }
                            let mx = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                            let sum: f64 = z.iter().map(|v| (v - mx).exp()).sum();
                            let lse = mx + sum.ln();
                            let yi = y[i] as usize;
                            *l = sw[i] * (lse - z[yi]);
                            for (c, zc) in z.iter_mut().enumerate() {
                                let p = (*zc - lse).exp();
                                *zc = sw[i] * (p - if c == yi { 1.0 } else { 0.0 });
                            }
                        }
                    }
                });
            // Backward: G[j, :] = Σ_i x_ij r_i + l2 W[j, :], per feature in row order.
            let xt = &self.xt;
            let l2 = self.l2;
            let resid = &*resid;
            grad[..nk]
                .par_chunks_mut(k * FEATURES_PER_TASK)
                .enumerate()
                .for_each(|(c, g)| {
                    for (f, gj) in g.chunks_mut(k).enumerate() {
                        let j = c * FEATURES_PER_TASK + f;
                        let wj = &coef[j * k..(j + 1) * k];
                        gj.iter_mut().zip(wj).for_each(|(g, w)| *g = l2 * w);
                        for p in xt.colptr[j]..xt.colptr[j + 1] {
                            let i = xt.rows[p] as usize;
                            let v = xt.values[p];
                            let r = &resid[i * k..(i + 1) * k];
                            gj.iter_mut().zip(r).for_each(|(g, r)| *g += v * r);
                        }
                    }
                });
        })?;
        if self.fit_intercept {
            let gb = &mut grad[nk..];
            gb.fill(0.0);
            for r in resid.chunks(k) {
                gb.iter_mut().zip(r).for_each(|(g, r)| *g += r);
            }
        }
        let data: f64 = losses.iter().sum();
        let penalty: f64 = coef.iter().map(|v| v * v).sum::<f64>();
        Ok(data + 0.5 * self.l2 * penalty)
    }
}

/// Fits a logistic (`n_classes == 2`: one output, class 1 positive) or softmax (`n_classes > 2`)
/// model to features `x`, labels `y` in `0..n_classes` and per-row `sample_weight`.
///
/// # Errors
/// [`Error::InvalidParameter`] for a label out of range, a negative or non-finite weight, an
/// all-zero weight vector, `l2 < 0`, fewer than two classes; shape mismatches; allocation
/// failures; [`Error::Interrupted`] when `stop` is requested.
pub fn fit(
    x: &CsrView<'_>,
    y: &[u32],
    sample_weight: &[f64],
    n_classes: usize,
    params: &FitParams,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<(LinearModel, FitReport)> {
    let n = x.n_rows();
    if y.len() != n || sample_weight.len() != n {
        return Err(Error::ShapeMismatch(format!(
            "{n} feature rows, {} labels, {} sample weights",
            y.len(),
            sample_weight.len()
        )));
    }
    if u32::try_from(n).is_err() {
        return Err(Error::param(
            "texts",
            format!("at most 2^32 - 1 rows, got {n}"),
        ));
    }
    if n_classes < 2 {
        return Err(Error::param(
            "y",
            format!("needs at least two classes, got {n_classes}"),
        ));
    }
    if let Some(i) = y.iter().position(|&c| c as usize >= n_classes) {
        return Err(Error::param(
            "y",
            format!("row {i}: class {} not below n_classes = {n_classes}", y[i]),
        ));
    }
    if let Some(i) = sample_weight
        .iter()
        .position(|w| !w.is_finite() || *w < 0.0)
    {
        return Err(Error::param(
            "sample_weight",
            format!("row {i}: must be finite and >= 0, got {}", sample_weight[i]),
        ));
    }
    let total: f64 = sample_weight.iter().sum();
    if total <= 0.0 {
        return Err(Error::param("sample_weight", "sums to 0"));
    }
    if !(params.l2.is_finite() && params.l2 >= 0.0) {
        return Err(Error::param(
            "l2",
            format!("must be finite and >= 0, got {}", params.l2),
        ));
    }
    if !(params.tol.is_finite() && params.tol > 0.0) {
        return Err(Error::param(
            "tol",
            format!("must be > 0, got {}", params.tol),
        ));
    }
    let k = if n_classes == 2 { 1 } else { n_classes };
    let nk = alloc::checked_len::<f64>(x.n_features, k, "n_buckets", "weights")?;
    let obj = Objective {
        x: *x,
        xt: Csc::of(x)?,
        y,
        sw: sample_weight.iter().map(|w| w / total).collect(),
        k,
        l2: params.l2,
        fit_intercept: params.fit_intercept,
        n_threads,
    };
    let n_params = nk + if params.fit_intercept { k } else { 0 };
    let mut w = alloc::zeroed::<f64>(n_params, "n_buckets", "weights")?;
    let mut resid = alloc::zeroed_2d::<f64>(n, k, "texts", "residuals")?;
    let mut losses = alloc::zeroed::<f64>(n, "texts", "losses")?;
    let lb = lbfgs::LbfgsParams {
        gtol: params.tol,
        ftol: 64.0 * f64::EPSILON,
        max_iter: params.max_iter,
        memory: params.memory,
    };
    let report = lbfgs::minimize(&mut w, &lb, stop, |w, g| {
        obj.eval(w, g, &mut resid, &mut losses)
    })?;
    let mut model = obj.model_of(&w);
    if k > 1 && params.fit_intercept {
        // Centre: the softmax is invariant to a common shift of the intercepts.
        let mean = model.intercept.iter().sum::<f64>() / k as f64;
        model.intercept.iter_mut().for_each(|b| *b -= mean);
    }
    Ok((model, report))
}
