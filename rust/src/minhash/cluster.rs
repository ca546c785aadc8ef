//! Duplicate clusters: LSH buckets → verified edges → union-find → keep policy.
//!
//! The clusters are the connected components of the graph whose edges are the candidate pairs
//! (rows sharing a band) that pass verification (estimated or exact Jaccard >= threshold, or every
//! candidate with [`Verify::None`]). The graph is never materialised: bands are processed one at a
//! time (one sorted `(key, row)` array, 16 bytes per row, alive at once), and inside a bucket each
//! row is compared with the groups built so far until it matches one member of a group, so an
//! exact-duplicate bucket of `m` rows costs `m` comparisons, not `m^2`. Rows already in one
//! component (from earlier bands) are not compared again. Buckets are verified in parallel and the
//! resulting edges applied in bucket order to a union-find whose root is always the smallest row
//! of its component, so cluster ids do not depend on the number of threads.

use rayon::prelude::*;

use super::lsh::{bucket_ranges, check_shapes, sorted_band, LshParams};
use super::{estimate_jaccard, exact_jaccard};
use crate::alloc;
use crate::error::{Error, Result};
use crate::parallel::{with_threads, Stop};

/// How candidate pairs are confirmed.
#[derive(Clone, Copy, Debug)]
pub enum Verify<'a> {
    /// Every candidate pair is a duplicate (plain LSH).
    None,
    /// MinHash estimate (fraction of equal slots) >= `threshold`.
    Estimate {
        /// Jaccard threshold.
        threshold: f64,
    },
    /// Exact Jaccard of the shingle-hash sets (CSR: `indptr`, sorted `hashes`) >= `threshold`.
    Exact {
        /// Jaccard threshold.
        threshold: f64,
        /// Row `i` owns `hashes[indptr[i]..indptr[i+1]]`.
        indptr: &'a [u64],
        /// Sorted, unique shingle hashes per row.
        hashes: &'a [u64],
    },
}

impl Verify<'_> {
    /// Whether candidate rows `u` and `v` are duplicates under this verification
    /// (`signatures` is row-major, `num_perm` slots per row).
    fn is_duplicate(&self, signatures: &[u32], num_perm: usize, u: u32, v: u32) -> bool {
        match *self {
            Verify::None => true,
            Verify::Estimate { threshold } => {
                let (a, b) = (u as usize * num_perm, v as usize * num_perm);
                estimate_jaccard(&signatures[a..a + num_perm], &signatures[b..b + num_perm])
                    >= threshold
            }
            Verify::Exact {
                threshold,
                indptr,
                hashes,
            } => {
                let set =
                    |i: u32| &hashes[indptr[i as usize] as usize..indptr[i as usize + 1] as usize];
                exact_jaccard(set(u), set(v)) >= threshold
            }
        }
    }
}

/// Union-find over `0..n` whose root is the smallest element of each set.
#[derive(Clone, Debug)]
pub struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
        }
    }

    /// Root of `x`, with path halving.
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let gp = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = gp;
            x = gp;
        }
        x
    }

    /// Merges the sets of `a` and `b`; the smaller root becomes the root.
    pub fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }

    /// The root (smallest member) of every element's set.
    pub fn roots(mut self) -> Vec<u32> {
        (0..self.parent.len() as u32)
            .map(|i| self.find(i))
            .collect()
    }
}

/// Clusters rows whose signatures collide in a band and pass `verify`.
///
/// `valid[i] == false` (empty or null documents) keeps row `i` out of the index: it is its own
/// cluster unless `pre_roots` joins it to others. `pre_roots` (e.g. exact-duplicate clusters) seeds
/// the union-find: row `i` starts joined to `pre_roots[i]`.
///
/// Returns the root (smallest row) of every row's cluster. `stop` is checked between bands.
///
/// # Errors
/// Shape mismatches, invalid `params` or threshold, `n_threads == Some(0)`,
/// [`Error::Interrupted`] when `stop` is requested.
#[allow(clippy::too_many_arguments)]
pub fn lsh_clusters(
    signatures: &[u32],
    num_perm: usize,
    valid: &[bool],
    params: LshParams,
    verify: Verify<'_>,
    pre_roots: Option<&[u32]>,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Vec<u32>> {
    let n = check_shapes(signatures, num_perm, valid)?;
    params.validate(num_perm)?;
    match verify {
        Verify::None => {}
        Verify::Estimate { threshold } | Verify::Exact { threshold, .. } => {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(Error::param(
                    "threshold",
                    format!("must be in [0, 1], got {threshold}"),
                ));
            }
        }
    }
    if let Verify::Exact { indptr, hashes, .. } = verify {
        if indptr.len() != n + 1 || indptr.last().copied().unwrap_or(0) as usize > hashes.len() {
            return Err(Error::ShapeMismatch(format!(
                "shingle sets: indptr has {} entries for {n} rows",
                indptr.len()
            )));
        }
    }
    let mut uf = UnionFind::new(n);
    if let Some(pre) = pre_roots {
        if pre.len() != n {
            return Err(Error::ShapeMismatch(format!(
                "pre_roots has {} entries for {n} rows",
                pre.len()
            )));
        }
        for (i, &r) in pre.iter().enumerate() {
            if r as usize >= n {
                return Err(Error::param(
                    "pre_roots",
                    format!("row {i} points at {r} >= {n}"),
                ));
            }
            uf.union(i as u32, r);
        }
    }
    let dup = |u: u32, v: u32| verify.is_duplicate(signatures, num_perm, u, v);
    with_threads(n_threads, || -> Result<()> {
        for band in 0..params.bands {
            stop.check()?;
            let keys = sorted_band(signatures, num_perm, valid, params, band);
            let ranges = bucket_ranges(&keys);
            if ranges.is_empty() {
                continue;
            }
            // Snapshot of the components so far: rows already joined are not compared again.
            let snap = std::mem::replace(&mut uf, UnionFind::new(0)).roots();
            let edges: Vec<Vec<(u32, u32)>> = ranges
                .par_iter()
                .map(|&(lo, hi)| bucket_edges(&keys[lo..hi], &snap, &dup))
                .collect();
            uf = UnionFind { parent: snap };
            for e in edges.iter().flatten() {
                uf.union(e.0, e.1);
            }
        }
        Ok(())
    })??;
    Ok(uf.roots())
}

/// Rows that share at least one band with another row (the only rows whose shingle sets exact
/// verification can need).
///
/// # Errors
/// Shape mismatches, invalid `params`, `n_threads == Some(0)`, [`Error::Interrupted`] when
/// `stop` (checked between bands) is requested.
pub fn candidate_rows(
    signatures: &[u32],
    num_perm: usize,
    valid: &[bool],
    params: LshParams,
    n_threads: Option<usize>,
    stop: &Stop,
) -> Result<Vec<bool>> {
    let n = check_shapes(signatures, num_perm, valid)?;
    params.validate(num_perm)?;
    let mut mask = vec![false; n];
    with_threads(n_threads, || -> Result<()> {
        for band in 0..params.bands {
            stop.check()?;
            let keys = sorted_band(signatures, num_perm, valid, params, band);
            for (lo, hi) in bucket_ranges(&keys) {
                for &(_, r) in &keys[lo..hi] {
                    mask[r as usize] = true;
                }
            }
        }
        Ok(())
    })??;
    Ok(mask)
}

/// Band keys of every row, `n_rows * bands` values row-major (for the partitioned mode: they are
/// written to disk and grouped partition by partition with [`edges_from_keys`]).
///
/// # Errors
/// Shape mismatches, invalid `params`, `n_threads == Some(0)`.
pub fn band_keys(
    signatures: &[u32],
    num_perm: usize,
    params: LshParams,
    n_threads: Option<usize>,
) -> Result<Vec<u64>> {
    let n = signatures.len() / num_perm.max(1);
    check_shapes(signatures, num_perm, &vec![true; n])?;
    params.validate(num_perm)?;
    let mut out = alloc::zeroed_2d::<u64>(
        n,
        params.bands,
        "num_bands",
        "uint64 band keys (rows × num_bands)",
    )?;
    with_threads(n_threads, || {
        out.par_chunks_mut(params.bands)
            .zip(signatures.par_chunks(num_perm))
            .for_each_init(Vec::new, |buf, (keys, sig)| {
                for (band, k) in keys.iter_mut().enumerate() {
                    *k = super::lsh::band_key(sig, params, band, buf);
                }
            });
    })?;
    Ok(out)
}

/// Verified edges of the buckets formed by `(key, row)` pairs (keys already made band-specific,
/// as [`band_keys`] does): a spanning forest of the verified graph restricted to each bucket.
/// `signatures` holds the rows' signatures (row `r` at `r * num_perm`), needed unless `verify`
/// is [`Verify::None`]; pass an empty slice then.
///
/// # Errors
/// `keys` and `rows` of different lengths, a row past the signatures, `n_threads == Some(0)`.
pub fn edges_from_keys(
    keys: &[u64],
    rows: &[u32],
    signatures: &[u32],
    num_perm: usize,
    verify: Verify<'_>,
    n_threads: Option<usize>,
) -> Result<Vec<(u32, u32)>> {
    if keys.len() != rows.len() {
        return Err(Error::ShapeMismatch(format!(
            "{} keys for {} rows",
            keys.len(),
            rows.len()
        )));
    }
    let n_known = match verify {
        Verify::None => usize::MAX,
        Verify::Estimate { .. } => signatures.len() / num_perm.max(1),
        Verify::Exact { indptr, hashes, .. } => {
            if indptr.last().copied().unwrap_or(0) as usize > hashes.len() {
                return Err(Error::ShapeMismatch(
                    "set_indptr points past set_hashes".into(),
                ));
            }
            indptr.len().saturating_sub(1)
        }
    };
    if let Some(&r) = rows.iter().find(|&&r| r as usize >= n_known) {
        return Err(Error::param(
            "rows",
            format!("row {r} has no signature or shingle set ({n_known} given)"),
        ));
    }
    let dup = |u: u32, v: u32| verify.is_duplicate(signatures, num_perm, u, v);
    with_threads(n_threads, || {
        let mut pairs: Vec<(u64, u32)> = keys.iter().copied().zip(rows.iter().copied()).collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        let ranges = bucket_ranges(&pairs);
        let edges: Vec<Vec<(u32, u32)>> = ranges
            .par_iter()
            .map(|&(lo, hi)| bucket_forest(&pairs[lo..hi], &dup))
            .collect();
        edges.into_iter().flatten().collect()
    })
}

/// Roots (smallest member) of the components of `0..n` joined by `edges`.
///
/// # Errors
/// An edge endpoint `>= n`.
pub fn union_roots(n: usize, edges: &[(u32, u32)]) -> Result<Vec<u32>> {
    if n > u32::MAX as usize {
        return Err(Error::param(
            "n_docs",
            format!("must be <= 2^32 - 1, got {n}"),
        ));
    }
    // Probe the two n-sized buffers (parents, roots) before the infallible union-find builds them.
    drop(alloc::with_capacity::<u32>(
        n.saturating_mul(2),
        "n_docs",
        &format!("union-find over {n} rows"),
    )?);
    let mut uf = UnionFind::new(n);
    for &(a, b) in edges {
        if a as usize >= n || b as usize >= n {
            return Err(Error::param(
                "edges",
                format!("edge ({a}, {b}) out of range for {n} rows"),
            ));
        }
        uf.union(a, b);
    }
    Ok(uf.roots())
}

/// Edges of one bucket in the clustering loop: nothing when the snapshot already joins all its
/// rows, else [`bucket_forest`] where rows already joined count as linked.
fn bucket_edges(
    members: &[(u64, u32)],
    snap: &[u32],
    dup: &(impl Fn(u32, u32) -> bool + Sync),
) -> Vec<(u32, u32)> {
    let first = snap[members[0].1 as usize];
    if members.iter().all(|m| snap[m.1 as usize] == first) {
        return Vec::new();
    }
    bucket_forest(members, &|u, v| {
        snap[u as usize] == snap[v as usize] || dup(u, v)
    })
}

/// A spanning forest of the graph `linked` restricted to the rows of one bucket: each row is
/// compared with the groups built so far until it links to one member of a group (so `m` copies of
/// one text cost `m` comparisons), and groups it links to are merged.
fn bucket_forest(
    members: &[(u64, u32)],
    linked: &(impl Fn(u32, u32) -> bool + Sync),
) -> Vec<(u32, u32)> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut edges = Vec::new();
    for &(_, u) in members {
        let mut joined: Option<usize> = None;
        for g in 0..groups.len() {
            let Some(v) = groups[g].iter().copied().find(|&v| linked(u, v)) else {
                continue;
            };
            edges.push((v, u));
            match joined {
                None => {
                    groups[g].push(u);
                    joined = Some(g);
                }
                Some(j) => {
                    let moved = std::mem::take(&mut groups[g]);
                    groups[j].extend(moved);
                }
            }
        }
        if joined.is_none() {
            groups.push(vec![u]);
        }
    }
    edges
}

/// Which row of each cluster is kept.
#[derive(Clone, Copy, Debug)]
pub enum Keep<'a> {
    /// The smallest row (first in input order).
    First,
    /// The row with the highest priority (e.g. length or a quality score); ties and NaN go to
    /// the smallest row (NaN ranks below every number).
    Highest(&'a [f64]),
}

/// Applies a keep policy to cluster roots: returns `(keep, duplicate_of)`, where `duplicate_of[i]`
/// is the kept row of `i`'s cluster, or -1 when `i` is kept.
///
/// # Errors
/// Shape mismatch between `roots` and the priorities; a root out of range.
pub fn keep_policy(roots: &[u32], keep: Keep<'_>) -> Result<(Vec<bool>, Vec<i64>)> {
    let n = roots.len();
    if let Some((i, &r)) = roots.iter().enumerate().find(|(_, &r)| r as usize >= n) {
        return Err(Error::param(
            "roots",
            format!("row {i} points at {r} >= {n}"),
        ));
    }
    let mut keeper: Vec<u32> = (0..n as u32).collect();
    if let Keep::Highest(p) = keep {
        if p.len() != n {
            return Err(Error::ShapeMismatch(format!(
                "priority has {} entries for {n} rows",
                p.len()
            )));
        }
        let better = |a: f64, b: f64| a > b || (!a.is_nan() && b.is_nan());
        // Rows are visited in order, so the first row reaching the best priority wins ties.
        for i in 0..n {
            let r = roots[i] as usize;
            let cur = keeper[r] as usize;
            if cur != i && (roots[cur] as usize != r || better(p[i], p[cur])) {
                keeper[r] = i as u32;
            }
        }
    }
    let mut keep_mask = vec![false; n];
    let mut dup_of = vec![-1i64; n];
    for i in 0..n {
        let k = keeper[roots[i] as usize] as usize;
        if k == i {
            keep_mask[i] = true;
        } else {
            dup_of[i] = k as i64;
        }
    }
    Ok((keep_mask, dup_of))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_root_is_min() {
        let mut uf = UnionFind::new(6);
        uf.union(5, 3);
        uf.union(3, 4);
        uf.union(1, 2);
        assert_eq!(uf.roots(), vec![0, 1, 1, 3, 3, 3]);
    }

    #[test]
    fn keep_policies() {
        let roots = [0, 1, 0, 1, 4];
        let (k, d) = keep_policy(&roots, Keep::First).unwrap();
        assert_eq!(k, [true, true, false, false, true]);
        assert_eq!(d, [-1, -1, 0, 1, -1]);
        let p = [1.0, f64::NAN, 5.0, 2.0, 0.0];
        let (k, d) = keep_policy(&roots, Keep::Highest(&p)).unwrap();
        assert_eq!(k, [false, false, true, true, true]);
        assert_eq!(d, [2, 3, -1, -1, -1]);
        let tie = [3.0, 3.0, 3.0, 3.0, 3.0];
        assert_eq!(
            keep_policy(&roots, Keep::Highest(&tie)).unwrap().1,
            [-1, -1, 0, 1, -1]
        );
    }

    #[test]
    fn clusters_follow_verified_edges() {
        // Rows 0, 1, 2 share band 0; only 0-2 verify (identical), 1 differs elsewhere.
        let sigs = [
            1, 1, 5, 5, //
            1, 1, 6, 7, //
            1, 1, 5, 5, //
            9, 9, 9, 9, //
        ];
        let valid = [true; 4];
        let p = LshParams { bands: 2, rows: 2 };
        let est = Verify::Estimate { threshold: 0.75 };
        let roots =
            lsh_clusters(&sigs, 4, &valid, p, est, None, Some(1), &Stop::default()).unwrap();
        assert_eq!(roots, vec![0, 1, 0, 3]);
        let all = lsh_clusters(
            &sigs,
            4,
            &valid,
            p,
            Verify::None,
            None,
            Some(3),
            &Stop::default(),
        )
        .unwrap();
        assert_eq!(all, vec![0, 0, 0, 3]);
        // The partitioned path (keys → edges → union-find) gives the same clusters.
        let keys = band_keys(&sigs, 4, p, Some(2)).unwrap();
        let (k, r): (Vec<u64>, Vec<u32>) = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, (i / 2) as u32))
            .unzip();
        let edges = edges_from_keys(&k, &r, &sigs, 4, est, Some(2)).unwrap();
        assert_eq!(union_roots(4, &edges).unwrap(), vec![0, 1, 0, 3]);
        let edges = edges_from_keys(&k, &r, &[], 4, Verify::None, None).unwrap();
        assert_eq!(union_roots(4, &edges).unwrap(), vec![0, 0, 0, 3]);
        let pre = [0, 1, 2, 1];
        let r = lsh_clusters(
            &sigs,
            4,
            &valid,
            p,
            est,
            Some(&pre),
            Some(2),
            &Stop::default(),
        )
        .unwrap();
        assert_eq!(r, vec![0, 1, 0, 1]);
    }
}
