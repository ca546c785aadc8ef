//! SemDeDup (Abbas et al., "SemDeDup: Data-efficient learning at web-scale through semantic
//! deduplication", 2023): inside each k-means cluster, rows are ordered by a keep priority and a
//! row is removed when its cosine similarity to an earlier row is at least `1 − eps`.
//!
//! Two rules: [`Rule::Paper`] is the paper's: with the cluster's rows in priority order and
//! `M_j = max_{i<j} cos(x_i, x_j)` (the column maxima of the upper triangle of the similarity
//! matrix), row j is removed iff `M_j ≥ 1 − eps`, whether or not the earlier row was kept (so
//! `M` does not depend on `eps`). [`Rule::Kept`] compares only with earlier *kept* rows (a greedy
//! cover: every removed row is within `eps` of a kept one, and no two kept rows are).
//!
//! Priority: similarity to the cluster's centroid, farthest first (the paper's default) or
//! closest first, or a caller's score, highest first; ties by the caller's `tie` key (a rank of
//! the document ids), so the result depends on neither the input order nor the thread count.
//!
//! Memory is bounded per cluster: its rows are gathered (normalised) and the similarities are
//! computed in [`TILE`] × [`TILE`] blocks by `faer` products, never as a full matrix. Tiles are
//! fixed by the priority order, so each similarity is computed the same way for any thread count
//! or input order. Clusters run in parallel.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::{members, normalize, Real, Rows};
use crate::error::{Error, Result};
use crate::parallel::{with_threads, Stop};

/// Rows per similarity tile.
pub const TILE: usize = 256;

/// Which earlier rows can make a row a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Any earlier row (the paper's upper-triangle maximum).
    Paper,
    /// Earlier kept rows only.
    Kept,
}

/// Keep priority inside a cluster.
#[derive(Clone, Copy, Debug)]
pub enum Priority<'a, T> {
    /// Lowest cosine to the centroid first (row-major k × d centroids).
    Farthest(&'a [T]),
    /// Highest cosine to the centroid first.
    Closest(&'a [T]),
    /// Highest score first.
    Score(&'a [f64]),
}

/// Per-row result of [`semdedup`].
#[derive(Clone, Debug, Default)]
pub struct Dedup {
    /// Whether the row is kept.
    pub keep: Vec<bool>,
    /// The most similar earlier row (kept rows with [`Rule::Kept`]) of a removed row; -1 for kept
    /// rows.
    pub duplicate_of: Vec<i64>,
    /// The row's largest cosine to an earlier (kept, with [`Rule::Kept`]) row of its cluster; NaN
    /// for the first row of a cluster.
    pub similarity: Vec<f64>,
    /// Rank of the row in its cluster's priority order (0 = first).
    pub rank: Vec<u64>,
}

/// Fixed-order dot product (the same bits whatever the position of the rows in memory).
fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        for l in 0..4 {
            acc[l] += x[l].to_f64() * y[l].to_f64();
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x.to_f64() * y.to_f64();
    }
    s
}

/// Semantic dedup of the rows of `x` grouped by `labels`, keeping rows whose similarity to every
/// earlier row (see [`Rule`]) is below `1 − eps`.
///
/// # Errors
/// `eps` outside [0, 2], length mismatches, a zero row, centroids of the wrong shape, a
/// non-finite score, [`Error::Interrupted`].
#[allow(clippy::too_many_arguments)]
pub fn semdedup<T: Real>(
    x: &Rows<'_, T>,
    labels: &[u32],
    priority: Priority<'_, T>,
    tie: &[u64],
    eps: f64,
    rule: Rule,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Dedup> {
    let (n, d) = (x.n, x.d);
    if !(eps.is_finite() && (0.0..=2.0).contains(&eps)) {
        return Err(Error::param("eps", format!("must be in [0, 2], got {eps}")));
    }
    if labels.len() != n || tie.len() != n {
        return Err(Error::ShapeMismatch(format!(
            "X has {n} rows, labels {} and tie {}",
            labels.len(),
            tie.len()
        )));
    }
    let k = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let centroids = match priority {
        Priority::Farthest(c) | Priority::Closest(c) => {
            if c.len() % d != 0 || c.len() / d < k {
                return Err(Error::ShapeMismatch(format!(
                    "centroids have {} values: need at least {k} rows of {d} (the largest label is {})",
                    c.len(),
                    k.saturating_sub(1)
                )));
            }
            Some(c)
        }
        Priority::Score(s) => {
            if s.len() != n {
                return Err(Error::ShapeMismatch(format!(
                    "score has {} values for {n} rows",
                    s.len()
                )));
            }
            if let Some(i) = s.iter().position(|v| v.is_nan()) {
                return Err(Error::param("score", format!("row {i} is NaN")));
            }
            None
        }
    };
    let threshold = 1.0 - eps;
    with_threads(n_threads, || {
        let (order, starts) = members(labels, k);
        let results: Vec<Result<ClusterOut>> = (0..k)
            .into_par_iter()
            .map(|j| {
                stop.check()?;
                let rows = &order[starts[j]..starts[j + 1]];
                let cj = centroids.map(|c| &c[j * d..(j + 1) * d]);
                one_cluster(x, rows, cj, priority, tie, threshold, rule)
            })
            .collect();
        let mut out = Dedup {
            keep: vec![true; n],
            duplicate_of: vec![-1; n],
            similarity: vec![f64::NAN; n],
            rank: vec![0; n],
        };
        for r in results {
            let r = r?;
            for (pos, &i) in r.rows.iter().enumerate() {
                out.keep[i] = r.keep[pos];
                out.duplicate_of[i] = r.dup[pos];
                out.similarity[i] = r.sim[pos];
                out.rank[i] = pos as u64;
            }
        }
        Ok(out)
    })?
}

struct ClusterOut {
    rows: Vec<usize>,
    keep: Vec<bool>,
    dup: Vec<i64>,
    sim: Vec<f64>,
}

fn one_cluster<T: Real>(
    x: &Rows<'_, T>,
    rows: &[usize],
    centroid: Option<&[T]>,
    priority: Priority<'_, T>,
    tie: &[u64],
    threshold: f64,
    rule: Rule,
) -> Result<ClusterOut> {
    let d = x.d;
    let m = rows.len();
    // Normalised rows (and centroid) of the cluster, in input order first.
    let mut buf: Vec<T> = Vec::new();
    buf.try_reserve_exact(m * d)
        .map_err(|_| crate::alloc::out_of_memory::<T>((m * d) as u128, "X", "a cluster's rows"))?;
    for &i in rows {
        buf.extend_from_slice(x.row(i));
    }
    for (pos, row) in buf.chunks_mut(d).enumerate() {
        if !normalize(row) {
            return Err(Error::param(
                "X",
                format!("row {} has norm 0: cosine needs non-zero rows", rows[pos]),
            ));
        }
    }
    let key: Vec<f64> = match (priority, centroid) {
        (Priority::Score(s), _) => rows.iter().map(|&i| s[i]).collect(),
        (p, Some(c)) => {
            let mut c = c.to_vec();
            normalize(&mut c);
            let sign = if matches!(p, Priority::Farthest(_)) {
                -1.0
            } else {
                1.0
            };
            buf.chunks(d).map(|r| sign * dot(r, &c)).collect()
        }
        (_, None) => vec![0.0; m],
    };
    // Priority order: key descending, then tie ascending.
    let mut perm: Vec<usize> = (0..m).collect();
    perm.sort_by(|&a, &b| {
        key[b]
            .total_cmp(&key[a])
            .then(tie[rows[a]].cmp(&tie[rows[b]]))
    });
    let sorted_rows: Vec<usize> = perm.iter().map(|&p| rows[p]).collect();
    let mut xs: Vec<T> = Vec::with_capacity(m * d);
    for &p in &perm {
        xs.extend_from_slice(&buf[p * d..(p + 1) * d]);
    }
    drop(buf);
    let (best, arg, keep) = scan_tiles(&xs, m, d, threshold, rule);
    let dup = (0..m)
        .map(|j| {
            if keep[j] {
                -1
            } else {
                sorted_rows[arg[j]] as i64
            }
        })
        .collect();
    let sim = best
        .iter()
        .map(|&v| if v == f64::NEG_INFINITY { f64::NAN } else { v })
        .collect();
    Ok(ClusterOut {
        rows: sorted_rows,
        keep,
        dup,
        sim,
    })
}

/// The tiles of one cluster (rows `xs`, m × d, unit length, in priority order): for each row, the
/// largest similarity to an earlier (kept, with [`Rule::Kept`]) row, which row that is (ties: the
/// earliest), and whether the row is kept.
fn scan_tiles<T: Real>(
    xs: &[T],
    m: usize,
    d: usize,
    threshold: f64,
    rule: Rule,
) -> (Vec<f64>, Vec<usize>, Vec<bool>) {
    let mut best = vec![f64::NEG_INFINITY; m];
    let mut arg = vec![usize::MAX; m];
    let mut keep = vec![true; m];
    let mut s: Vec<T> = Vec::new();
    s.resize(TILE * TILE, T::from_f64(0.0));
    for j0 in (0..m).step_by(TILE) {
        let j1 = (j0 + TILE).min(m);
        let xj = MatRef::from_row_major_slice(&xs[j0 * d..j1 * d], j1 - j0, d);
        for i0 in (0..=j0).step_by(TILE) {
            let i1 = (i0 + TILE).min(m);
            let (ri, rj) = (i1 - i0, j1 - j0);
            let xi = MatRef::from_row_major_slice(&xs[i0 * d..i1 * d], ri, d);
            let mut g = MatMut::from_row_major_slice_mut(&mut s[..ri * rj], ri, rj);
            matmul(
                g.as_mut(),
                Accum::Replace,
                xi,
                xj.transpose(),
                T::from_f64(1.0),
                Par::Seq,
            );
            if i0 < j0 {
                for (a, srow) in s[..ri * rj].chunks(rj).enumerate() {
                    let i = i0 + a;
                    if rule == Rule::Kept && !keep[i] {
                        continue;
                    }
                    for (b, v) in srow.iter().enumerate() {
                        let v = v.to_f64();
                        if v > best[j0 + b] {
                            best[j0 + b] = v;
                            arg[j0 + b] = i;
                        }
                    }
                }
            } else {
                // The diagonal tile: in order, so a row's fate is known before later rows use it.
                for b in 0..rj {
                    let j = j0 + b;
                    for a in 0..b {
                        let i = i0 + a;
                        if rule == Rule::Kept && !keep[i] {
                            continue;
                        }
                        let v = s[a * rj + b].to_f64();
                        if v > best[j] {
                            best[j] = v;
                            arg[j] = i;
                        }
                    }
                    keep[j] = best[j] < threshold;
                }
            }
        }
    }
    (best, arg, keep)
}
