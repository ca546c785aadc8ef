//! Agglomerative merging of centroids into super-clusters (CLIMB, Diao et al. 2025, merges
//! k-means clusters whose centroids are close), by the Lance–Williams recurrence.
//!
//! Distances start as Euclidean distances between centroids; with `weights` (cluster sizes) Ward
//! starts from `sqrt(2 w_i w_j / (w_i + w_j)) ‖c_i − c_j‖`, the distance Ward's method gives two
//! clusters of `w_i` and `w_j` points at their centroids (with unit weights, SciPy's `ward`).
//! Each step merges the closest pair (ties: the lowest pair of slots) and updates the
//! distances with the linkage's Lance–Williams coefficients. O(k²) memory, O(k³) time: meant for
//! the k ≤ a few thousand centroids of a k-means run.
//!
//! The output mirrors SciPy's linkage matrix: merge `s` joins clusters `a < b` (ids < k are
//! centroids, id k + s is the cluster formed at step s) at `distance` with `size` total weight.

use crate::error::{Error, Result};

/// The Lance–Williams linkage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linkage {
    /// Minimum increase of the within-cluster sum of squares.
    Ward,
    /// Size-weighted mean distance (UPGMA).
    Average,
    /// Largest distance.
    Complete,
    /// Smallest distance.
    Single,
}

/// One merge of the dendrogram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Merge {
    /// The smaller cluster id.
    pub a: usize,
    /// The larger cluster id.
    pub b: usize,
    /// Linkage distance at which they merge.
    pub distance: f64,
    /// Total weight of the merged cluster.
    pub size: f64,
}

/// The full dendrogram of `k` centroids (row-major k × d, f64), `k − 1` merges in order.
///
/// # Errors
/// Shape mismatch, non-finite values, or weights that are not positive.
pub fn linkage(
    centroids: &[f64],
    k: usize,
    d: usize,
    weights: Option<&[f64]>,
    method: Linkage,
) -> Result<Vec<Merge>> {
    if k.checked_mul(d) != Some(centroids.len()) || d == 0 {
        return Err(Error::ShapeMismatch(format!(
            "centroids have {} entries, expected {k} × {d} with d >= 1",
            centroids.len()
        )));
    }
    if centroids.iter().any(|v| !v.is_finite()) {
        return Err(Error::param("centroids", "must be finite"));
    }
    let w: Vec<f64> = match weights {
        Some(w) if w.len() != k => {
            return Err(Error::ShapeMismatch(format!(
                "weights has {} values for {k} centroids",
                w.len()
            )))
        }
        Some(w) => {
            if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(Error::param(
                    "weights",
                    format!("must be finite and > 0, got {} at {i}", w[i]),
                ));
            }
            w.to_vec()
        }
        None => vec![1.0; k],
    };
    let mut size = w.clone();
    // Condensed upper triangle would halve memory; a full matrix keeps the updates simple.
    let mut dist = vec![0.0f64; k * k];
    for i in 0..k {
        for j in i + 1..k {
            let ci = &centroids[i * d..(i + 1) * d];
            let cj = &centroids[j * d..(j + 1) * d];
            let mut e: f64 = ci.iter().zip(cj).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            if method == Linkage::Ward {
                e *= 2.0 * w[i] * w[j] / (w[i] + w[j]);
            }
            let e = e.sqrt();
            dist[i * k + j] = e;
            dist[j * k + i] = e;
        }
    }
    let mut active = vec![true; k];
    let mut id: Vec<usize> = (0..k).collect();
    let mut out = Vec::with_capacity(k.saturating_sub(1));
    for step in 0..k.saturating_sub(1) {
        let mut best = (f64::INFINITY, 0, 0);
        for i in (0..k).filter(|&i| active[i]) {
            for j in (i + 1..k).filter(|&j| active[j]) {
                if dist[i * k + j] < best.0 {
                    best = (dist[i * k + j], i, j);
                }
            }
        }
        let (dij, i, j) = best;
        let (ni, nj) = (size[i], size[j]);
        for m in (0..k).filter(|&m| active[m] && m != i && m != j) {
            let (dim, djm) = (dist[i * k + m], dist[j * k + m]);
            let nm = size[m];
            let v = match method {
                Linkage::Single => dim.min(djm),
                Linkage::Complete => dim.max(djm),
                Linkage::Average => (ni * dim + nj * djm) / (ni + nj),
                Linkage::Ward => {
                    let t = ni + nj + nm;
                    (((ni + nm) * dim * dim + (nj + nm) * djm * djm - nm * dij * dij) / t)
                        .max(0.0)
                        .sqrt()
                }
            };
            dist[i * k + m] = v;
            dist[m * k + i] = v;
        }
        active[j] = false;
        size[i] = ni + nj;
        let (a, b) = (id[i].min(id[j]), id[i].max(id[j]));
        out.push(Merge {
            a,
            b,
            distance: dij,
            size: size[i],
        });
        id[i] = k + step;
    }
    Ok(out)
}

/// Flat super-cluster labels of the `k` centroids after the first `k − n_clusters` merges of
/// `merges` (or, with `threshold`, every merge at distance ≤ threshold). Labels are numbered in
/// order of their first centroid (centroid 0 is in super-cluster 0).
///
/// # Errors
/// `n_clusters` outside `1..=k`.
pub fn cut(
    merges: &[Merge],
    k: usize,
    n_clusters: Option<usize>,
    threshold: Option<f64>,
) -> Result<Vec<u32>> {
    let n_merges = match (n_clusters, threshold) {
        (Some(c), _) => {
            if c == 0 || c > k {
                return Err(Error::param(
                    "n_clusters",
                    format!("must be in 1..={k}, got {c}"),
                ));
            }
            k - c
        }
        (None, Some(t)) => merges.iter().take_while(|m| m.distance <= t).count(),
        (None, None) => 0,
    };
    // Union-find over cluster ids 0..2k-1.
    let mut parent: Vec<usize> = (0..2 * k).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for (s, m) in merges.iter().take(n_merges).enumerate() {
        let (ra, rb) = (find(&mut parent, m.a), find(&mut parent, m.b));
        parent[ra] = k + s;
        parent[rb] = k + s;
    }
    let mut label_of_root = std::collections::BTreeMap::new();
    let mut labels = Vec::with_capacity(k);
    for i in 0..k {
        let r = find(&mut parent, i);
        let next = label_of_root.len() as u32;
        labels.push(*label_of_root.entry(r).or_insert(next));
    }
    Ok(labels)
}
