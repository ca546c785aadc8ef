//! k-means on dense embeddings, agglomerative merging of centroids, and semantic dedup.
//!
//! - [`fit`]: Lloyd's algorithm (Lloyd 1982) or mini-batch k-means (Sculley 2010, with the
//!   per-centre learning rate 1/count), initialised by greedy k-means++ (Arthur & Vassilvitskii
//!   2007; 2 + ⌊ln k⌋ candidates per centre, as scikit-learn does) or by k distinct random rows
//!   (faiss' default). Metric L2, or cosine (rows and centroids normalised: spherical k-means).
//! - [`assign`]: nearest centroid of new rows (streaming assignment to saved centroids).
//! - [`merge::merge`]: agglomerative merging of centroids into super-clusters (CLIMB,
//!   Diao et al. 2025), Ward / average / complete / single linkage.
//! - [`semdedup::semdedup`]: SemDeDup (Abbas et al. 2023) inside each cluster.
//!
//! Distances use the GEMM identity ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²: a block of rows times the
//! transposed centroids is one `faer` matrix product (see `sensitivity/mod.rs` for why faer),
//! computed in the input's precision (f32 or f64); sums of squares, centroid sums and inertia are
//! accumulated in f64.
//!
//! Invariants: the same seed gives the same bits for any thread count. Rows are processed in fixed
//! blocks of [`BLOCK`] rows (each block's product is sequential), per-row results are written in
//! place, block sums are added in block order, and each centroid sums its members in row order.
//! Random draws are keyed by `(seed, step)` ([`crate::rng`]).

// Matrix code follows the papers' notation (X, c, d, k, n): single letters read best here.
#![allow(clippy::many_single_char_names)]

mod init;
mod iterate;
pub mod merge;
pub mod semdedup;
#[cfg(test)]
mod tests;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::alloc;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, Stop};
use crate::rng;
use init::{kmeans_plus_plus, random_rows};
use iterate::{lloyd, minibatch};

/// Rows per block: the unit of parallel work and of the fixed summation order.
pub const BLOCK: usize = 256;

/// The float types k-means runs in (f32, f64).
pub trait Real:
    faer::traits::RealField + Copy + Send + Sync + Default + std::fmt::Debug + 'static
{
    /// Conversion from f64 (rounding for f32).
    fn from_f64(v: f64) -> Self;
    /// Conversion to f64 (exact).
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

/// A borrowed, row-major n × d matrix.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a, T> {
    data: &'a [T],
    n: usize,
    d: usize,
}

impl<'a, T: Real> Rows<'a, T> {
    /// Wraps `data` (row-major, `n × d`) without copying; `name` names it in errors.
    ///
    /// # Errors
    /// Length mismatch, `d == 0`, or a NaN/inf entry (the message names the first bad row).
    pub fn new(data: &'a [T], n: usize, d: usize, name: &'static str) -> Result<Self> {
        if n.checked_mul(d) != Some(data.len()) {
            return Err(Error::ShapeMismatch(format!(
                "{name} has {} entries, expected {n} × {d}",
                data.len()
            )));
        }
        if d == 0 {
            return Err(Error::param(name, "must have at least one column, got 0"));
        }
        if let Some(i) = data.iter().position(|v| !v.to_f64().is_finite()) {
            return Err(Error::param(
                name,
                format!("must be finite, row {} contains NaN or inf", i / d),
            ));
        }
        Ok(Self { data, n, d })
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of columns.
    pub fn d(&self) -> usize {
        self.d
    }

    fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

/// The distance k-means minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Cosine: rows and centroids are normalised to unit length (spherical k-means); the inertia
    /// is Σ‖x/‖x‖ − c‖² = Σ 2(1 − cos).
    Cosine,
}

/// How the first centroids are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Greedy k-means++ with `2 + ⌊ln k⌋` candidates per centre.
    KMeansPlusPlus,
    /// k distinct rows drawn uniformly (faiss' initialisation).
    Random,
}

/// Full-batch Lloyd iterations or mini-batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Lloyd: every iteration assigns all rows and recomputes the means.
    Lloyd,
    /// Mini-batch (Sculley 2010): each step assigns `batch_size` rows drawn with replacement and
    /// moves their centroids with learning rate 1/count; `max_iter` counts passes over the data.
    MiniBatch {
        /// Rows per step.
        batch_size: usize,
    },
}

/// Parameters of [`fit`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of clusters.
    pub k: usize,
    /// Distance.
    pub metric: Metric,
    /// Initialisation.
    pub init: Init,
    /// Lloyd or mini-batch.
    pub algorithm: Algorithm,
    /// Lloyd iterations (mini-batch: passes over the data).
    pub max_iter: usize,
    /// Lloyd stops when the total squared centroid shift is at most `tol` × the mean per-feature
    /// variance of the data (scikit-learn's rule); 0 runs all `max_iter` iterations unless the
    /// assignment stops changing.
    pub tol: f64,
    /// Independent runs (different seeds); the one with the lowest inertia is returned.
    pub n_init: usize,
    /// Seed of every random draw.
    pub seed: u64,
}

/// The result of [`fit`].
#[derive(Clone, Debug)]
pub struct Fit<T> {
    /// Centroids, row-major k × d.
    pub centroids: Vec<T>,
    /// Cluster of each row.
    pub labels: Vec<u32>,
    /// Squared distance of each row to its centroid.
    pub distances: Vec<f64>,
    /// Σ distances.
    pub inertia: f64,
    /// Rows per cluster.
    pub counts: Vec<u64>,
    /// Iterations run (of the best run).
    pub n_iter: usize,
    /// Whether the best run met the tolerance (or stopped changing) before `max_iter`.
    pub converged: bool,
}

/// The result of [`assign`].
#[derive(Clone, Debug)]
pub struct Assignment {
    /// Nearest centroid of each row (ties: the lower index).
    pub labels: Vec<u32>,
    /// Squared distance to it (cosine: 2(1 − cos)).
    pub distances: Vec<f64>,
}

fn check_config(cfg: &Config, n: usize) -> Result<()> {
    if cfg.k == 0 {
        return Err(Error::param("k", "must be >= 1, got 0"));
    }
    if cfg.k > n {
        return Err(Error::param(
            "k",
            format!("must be at most the number of rows ({n}), got {}", cfg.k),
        ));
    }
    if cfg.k > u32::MAX as usize {
        return Err(Error::param("k", format!("must be < 2^32, got {}", cfg.k)));
    }
    if cfg.max_iter == 0 {
        return Err(Error::param("max_iter", "must be >= 1, got 0"));
    }
    if cfg.n_init == 0 {
        return Err(Error::param("n_init", "must be >= 1, got 0"));
    }
    if !(cfg.tol.is_finite() && cfg.tol >= 0.0) {
        return Err(Error::param(
            "tol",
            format!("must be a finite number >= 0, got {}", cfg.tol),
        ));
    }
    if let Algorithm::MiniBatch { batch_size: 0 } = cfg.algorithm {
        return Err(Error::param("batch_size", "must be >= 1, got 0"));
    }
    Ok(())
}

/// Rows scaled to unit length (cosine), or `None` when the metric is L2.
fn normalized<T: Real>(
    x: &Rows<'_, T>,
    metric: Metric,
    name: &'static str,
) -> Result<Option<Vec<T>>> {
    if metric == Metric::L2 {
        return Ok(None);
    }
    let mut out = alloc::with_capacity(x.data.len(), name, "normalised rows")?;
    out.extend_from_slice(x.data);
    let zero = out
        .par_chunks_mut(x.d)
        .enumerate()
        .map(|(i, row)| if normalize(row) { None } else { Some(i) })
        .min_by_key(|z| z.unwrap_or(usize::MAX))
        .flatten();
    if let Some(i) = zero {
        return Err(Error::param(
            name,
            format!("row {i} has norm 0: cosine needs non-zero rows"),
        ));
    }
    Ok(Some(out))
}

/// Scales `v` to unit length in place; false (and `v` untouched) when its norm is 0.
pub(crate) fn normalize<T: Real>(v: &mut [T]) -> bool {
    let s: f64 = v.iter().map(|&a| a.to_f64() * a.to_f64()).sum();
    if s <= 0.0 {
        return false;
    }
    let inv = 1.0 / s.sqrt();
    for a in v.iter_mut() {
        *a = T::from_f64(a.to_f64() * inv);
    }
    true
}

fn sq_norm<T: Real>(v: &[T]) -> T {
    let mut s = T::from_f64(0.0);
    for &a in v {
        s += a * a;
    }
    s
}

fn sq_norms<T: Real>(data: &[T], d: usize) -> Vec<T> {
    data.par_chunks(d.max(1))
        .with_min_len(BLOCK)
        .map(sq_norm)
        .collect()
}

/// `g` (rows × m, row-major) = ‖x_r − c_j‖² for a block of rows and m centroids, by the GEMM
/// identity (clamped at 0: rounding can make it slightly negative).
fn sq_dists<T: Real>(
    block: &[T],
    block_norms: &[T],
    c: &[T],
    c_norms: &[T],
    d: usize,
    g: &mut [T],
) {
    let rows = block_norms.len();
    let m = c_norms.len();
    let x = MatRef::from_row_major_slice(block, rows, d);
    let ct = MatRef::from_row_major_slice(c, m, d).transpose();
    let mut out = MatMut::from_row_major_slice_mut(&mut g[..rows * m], rows, m);
    matmul(
        out.as_mut(),
        Accum::Replace,
        x,
        ct,
        T::from_f64(-2.0),
        Par::Seq,
    );
    let zero = T::from_f64(0.0);
    for (r, row) in g[..rows * m].chunks_mut(m).enumerate() {
        for (v, &cn) in row.iter_mut().zip(c_norms) {
            let s = *v + cn + block_norms[r];
            *v = if s > zero { s } else { zero };
        }
    }
}

/// Nearest centroid of every row (ties: the lower index), by blocks of [`BLOCK`] rows.
fn assign_rows<T: Real>(
    data: &[T],
    norms: &[T],
    d: usize,
    c: &[T],
    c_norms: &[T],
    labels: &mut [u32],
    dist: &mut [f64],
) {
    let m = c_norms.len();
    labels
        .par_chunks_mut(BLOCK)
        .zip(dist.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, (lab, dis))| {
            let r0 = b * BLOCK;
            let rows = lab.len();
            let mut g = vec![T::from_f64(0.0); rows * m];
            sq_dists(
                &data[r0 * d..(r0 + rows) * d],
                &norms[r0..r0 + rows],
                c,
                c_norms,
                d,
                &mut g,
            );
            for (r, row) in g.chunks(m).enumerate() {
                let mut best = 0;
                let mut bv = row[0];
                for (j, &v) in row.iter().enumerate().skip(1) {
                    if v < bv {
                        bv = v;
                        best = j;
                    }
                }
                lab[r] = best as u32;
                dis[r] = bv.to_f64();
            }
        });
}

/// Sum of `v` by fixed blocks, blocks added in order (the same bits for any thread count).
fn block_sum(v: &[f64]) -> f64 {
    let parts: Vec<f64> = v.par_chunks(BLOCK).map(|c| c.iter().sum()).collect();
    parts.iter().sum()
}

/// Assigns `x` to the nearest of `centroids` (row-major k × d): streaming assignment of new rows
/// to saved centroids. With cosine, rows and centroids are normalised first.
///
/// # Errors
/// Shape mismatch between `x` and `centroids`, no centroid, a zero row under cosine, a bad
/// thread count.
pub fn assign<T: Real>(
    x: &Rows<'_, T>,
    centroids: &Rows<'_, T>,
    metric: Metric,
    n_threads: Option<usize>,
) -> Result<Assignment> {
    if x.d != centroids.d {
        return Err(Error::ShapeMismatch(format!(
            "X has {} columns, the centroids have {}",
            x.d, centroids.d
        )));
    }
    if centroids.n == 0 {
        return Err(Error::param("centroids", "must have at least one row"));
    }
    with_threads(n_threads, || {
        let xn = normalized(x, metric, "X")?;
        let data = xn.as_deref().unwrap_or(x.data);
        let cn = normalized(centroids, metric, "centroids")?;
        let c = cn.as_deref().unwrap_or(centroids.data);
        let norms = sq_norms(data, x.d);
        let c_norms = sq_norms(c, x.d);
        let mut labels = alloc::zeroed(x.n, "X", "labels")?;
        let mut distances = alloc::zeroed(x.n, "X", "distances")?;
        assign_rows(data, &norms, x.d, c, &c_norms, &mut labels, &mut distances);
        Ok(Assignment { labels, distances })
    })?
}

/// Everything one run needs about the data, computed once.
struct Prepared<'a, T> {
    data: &'a [T],
    norms: Vec<T>,
    n: usize,
    d: usize,
    metric: Metric,
}

/// Clusters the rows of `x` into `cfg.k` clusters.
///
/// # Errors
/// A parameter out of range (`k` > n, `max_iter` = 0, …), a zero row under cosine, allocation
/// failure, a bad thread count, or [`Error::Interrupted`] when `stop` is requested.
pub fn fit<T: Real>(
    x: &Rows<'_, T>,
    cfg: &Config,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Fit<T>> {
    check_config(cfg, x.n)?;
    with_threads(n_threads, || {
        let xn = normalized(x, cfg.metric, "X")?;
        let data = xn.as_deref().unwrap_or(x.data);
        let p = Prepared {
            data,
            norms: sq_norms(data, x.d),
            n: x.n,
            d: x.d,
            metric: cfg.metric,
        };
        let mut best: Option<Fit<T>> = None;
        for run in 0..cfg.n_init {
            let seed = rng::mix64(cfg.seed ^ (run as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let seed = if run == 0 { cfg.seed } else { seed };
            let f = fit_once(&p, cfg, seed, stop)?;
            if best.as_ref().is_none_or(|b| f.inertia < b.inertia) {
                best = Some(f);
            }
        }
        best.ok_or_else(|| Error::param("n_init", "must be >= 1, got 0"))
    })?
}

fn fit_once<T: Real>(p: &Prepared<'_, T>, cfg: &Config, seed: u64, stop: &Stop) -> Result<Fit<T>> {
    let mut c = match cfg.init {
        Init::KMeansPlusPlus => kmeans_plus_plus(p, cfg.k, seed, stop)?,
        Init::Random => random_rows(p, cfg.k, seed)?,
    };
    let (n_iter, converged) = match cfg.algorithm {
        Algorithm::Lloyd => lloyd(p, &mut c, cfg, stop)?,
        Algorithm::MiniBatch { batch_size } => {
            minibatch(p, &mut c, cfg, batch_size, seed, stop)?;
            (cfg.max_iter, false)
        }
    };
    let c_norms = sq_norms(&c, p.d);
    let mut labels = alloc::zeroed(p.n, "X", "labels")?;
    let mut distances = alloc::zeroed(p.n, "X", "distances")?;
    assign_rows(
        p.data,
        &p.norms,
        p.d,
        &c,
        &c_norms,
        &mut labels,
        &mut distances,
    );
    let mut counts = vec![0u64; cfg.k];
    for &l in &labels {
        counts[l as usize] += 1;
    }
    Ok(Fit {
        inertia: block_sum(&distances),
        centroids: c,
        labels,
        distances,
        counts,
        n_iter,
        converged,
    })
}

/// Rows of each cluster in row order: `(order, starts)` with cluster j's rows at
/// `order[starts[j]..starts[j + 1]]` (a counting sort).
pub(crate) fn members(labels: &[u32], k: usize) -> (Vec<usize>, Vec<usize>) {
    let mut starts = vec![0usize; k + 1];
    for &l in labels {
        starts[l as usize + 1] += 1;
    }
    for j in 0..k {
        starts[j + 1] += starts[j];
    }
    let mut next = starts.clone();
    let mut order = vec![0usize; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        order[next[l as usize]] = i;
        next[l as usize] += 1;
    }
    (order, starts)
}
