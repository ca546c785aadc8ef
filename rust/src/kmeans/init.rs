//! Initial centroids: k distinct random rows (faiss' default) or greedy k-means++ (Arthur &
//! Vassilvitskii 2007). Draws are keyed by `(seed, step)`, so the result is the same for any
//! thread count.

use rayon::prelude::*;

use super::{assign_rows, block_sum, sq_dists, Prepared, Real, BLOCK};
use crate::alloc;
use crate::error::Result;
use crate::parallel::Stop;
use crate::rng;

/// k distinct rows, those with the k smallest keys `uniform_bits(seed, row)`.
pub(super) fn random_rows<T: Real>(p: &Prepared<'_, T>, k: usize, seed: u64) -> Result<Vec<T>> {
    let mut keys: Vec<(u64, usize)> = alloc::with_capacity(p.n, "X", "init keys")?;
    keys.extend((0..p.n).map(|i| (rng::uniform_bits(seed, i as u64), i)));
    if k < p.n {
        keys.select_nth_unstable(k);
    }
    keys.truncate(k);
    keys.sort_unstable();
    let mut c = alloc::with_capacity(k * p.d, "k", "centroids")?;
    for &(_, i) in &keys {
        c.extend_from_slice(&p.data[i * p.d..(i + 1) * p.d]);
    }
    Ok(c)
}

/// The row where the running sum of `w` first exceeds `r` (a weighted draw), by block sums so the
/// search is O(n / BLOCK + BLOCK); falls back to the last row of positive weight.
fn weighted_pick(w: &[f64], block_sums: &[f64], r: f64) -> usize {
    let mut acc = 0.0;
    let mut last_pos = 0;
    for (b, &s) in block_sums.iter().enumerate() {
        if s > 0.0 {
            last_pos = b;
        }
        if acc + s > r && s > 0.0 {
            let r0 = b * BLOCK;
            let mut a = acc;
            for (i, &v) in w[r0..(r0 + BLOCK).min(w.len())].iter().enumerate() {
                a += v;
                if a > r && v > 0.0 {
                    return r0 + i;
                }
            }
        }
        acc += s;
    }
    let r0 = last_pos * BLOCK;
    let blk = &w[r0..(r0 + BLOCK).min(w.len())];
    r0 + blk.iter().rposition(|&v| v > 0.0).unwrap_or(0)
}

/// Greedy k-means++: each new centre is the best (lowest potential) of `2 + ⌊ln k⌋` rows drawn
/// with probability ∝ D(x)², the squared distance to the nearest centre chosen so far.
pub(super) fn kmeans_plus_plus<T: Real>(
    p: &Prepared<'_, T>,
    k: usize,
    seed: u64,
    stop: &Stop,
) -> Result<Vec<T>> {
    let (n, d) = (p.n, p.d);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut c: Vec<T> = alloc::with_capacity(k * d, "k", "centroids")?;
    let first = ((rng::uniform(seed, 0) * n as f64).ceil() as usize).clamp(1, n) - 1;
    c.extend_from_slice(&p.data[first * d..(first + 1) * d]);
    let mut closest: Vec<f64> = alloc::zeroed(n, "X", "k-means++ distances")?;
    let mut lab = alloc::zeroed::<u32>(n, "X", "labels")?;
    let first_norm = [p.norms[first]];
    assign_rows(p.data, &p.norms, d, &c, &first_norm, &mut lab, &mut closest);
    let mut cand_rows: Vec<T> = Vec::with_capacity(trials * d);
    let mut cand_dist: Vec<f64> = alloc::zeroed_2d(trials, n, "X", "k-means++ candidates")?;
    for step in 1..k {
        stop.check()?;
        let sums: Vec<f64> = closest.par_chunks(BLOCK).map(|c| c.iter().sum()).collect();
        let total: f64 = sums.iter().sum();
        let mut cands = Vec::with_capacity(trials);
        for t in 0..trials {
            let u = rng::uniform(seed, (step * trials + t) as u64 + 1);
            let i = if total > 0.0 {
                weighted_pick(&closest, &sums, u * total)
            } else {
                ((u * n as f64).ceil() as usize).clamp(1, n) - 1
            };
            cands.push(i);
        }
        cand_rows.clear();
        for &i in &cands {
            cand_rows.extend_from_slice(&p.data[i * d..(i + 1) * d]);
        }
        let cand_norms: Vec<T> = cands.iter().map(|&i| p.norms[i]).collect();
        // Distances of every row to every candidate (trials × n, candidate-major).
        let nt = cands.len();
        let cd = &mut cand_dist[..nt * n];
        let rows_dists: Vec<Vec<T>> = p
            .data
            .par_chunks(BLOCK * d)
            .enumerate()
            .map(|(b, blk)| {
                let r0 = b * BLOCK;
                let rows = blk.len() / d;
                let mut g = vec![T::from_f64(0.0); rows * nt];
                sq_dists(
                    blk,
                    &p.norms[r0..r0 + rows],
                    &cand_rows,
                    &cand_norms,
                    d,
                    &mut g,
                );
                g
            })
            .collect();
        for (b, g) in rows_dists.iter().enumerate() {
            let r0 = b * BLOCK;
            for (r, row) in g.chunks(nt).enumerate() {
                for (t, v) in row.iter().enumerate() {
                    cd[t * n + r0 + r] = v.to_f64().min(closest[r0 + r]);
                }
            }
        }
        let pots: Vec<f64> = cd.chunks(n).map(block_sum).collect();
        let mut best = 0;
        for t in 1..nt {
            if pots[t] < pots[best] {
                best = t;
            }
        }
        closest.copy_from_slice(&cd[best * n..(best + 1) * n]);
        let i = cands[best];
        c.extend_from_slice(&p.data[i * d..(i + 1) * d]);
    }
    Ok(c)
}
