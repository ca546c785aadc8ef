//! The iterations: Lloyd (full passes until the labels or the centroids stop moving) and
//! mini-batch k-means (Sculley 2010).

use rayon::prelude::*;

use super::{assign_rows, members, normalize, sq_norms, Config, Metric, Prepared, Real};
use crate::alloc;
use crate::error::Result;
use crate::parallel::Stop;
use crate::rng;

fn mean_variance<T: Real>(p: &Prepared<'_, T>) -> f64 {
    let (n, d) = (p.n, p.d);
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(&p.data[i * d..(i + 1) * d]) {
            *m += v.to_f64();
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let mut var = 0.0;
    for i in 0..n {
        for (m, v) in mean.iter().zip(&p.data[i * d..(i + 1) * d]) {
            var += (v.to_f64() - m).powi(2);
        }
    }
    var / (n as f64 * d as f64)
}

/// Lloyd iterations from centroids `c`; returns `(iterations, converged)`.
pub(super) fn lloyd<T: Real>(
    p: &Prepared<'_, T>,
    c: &mut Vec<T>,
    cfg: &Config,
    stop: &Stop,
) -> Result<(usize, bool)> {
    let (n, d, k) = (p.n, p.d, cfg.k);
    let tol = if cfg.tol > 0.0 {
        cfg.tol * mean_variance(p)
    } else {
        0.0
    };
    let mut labels = alloc::zeroed::<u32>(n, "X", "labels")?;
    let mut prev = alloc::filled(n, u32::MAX, "X", "labels")?;
    let mut dist = alloc::zeroed::<f64>(n, "X", "distances")?;
    for it in 1..=cfg.max_iter {
        stop.check()?;
        let c_norms = sq_norms(c, d);
        assign_rows(p.data, &p.norms, d, c, &c_norms, &mut labels, &mut dist);
        if labels == prev {
            return Ok((it, true));
        }
        let (order, starts) = members(&labels, k);
        let mut new_c: Vec<T> = alloc::zeroed(k * d, "k", "centroids")?;
        new_c.par_chunks_mut(d).enumerate().for_each(|(j, out)| {
            let rows = &order[starts[j]..starts[j + 1]];
            if rows.is_empty() {
                out.copy_from_slice(&c[j * d..(j + 1) * d]);
                return;
            }
            let mut s = vec![0.0f64; d];
            for &i in rows {
                for (a, v) in s.iter_mut().zip(&p.data[i * d..(i + 1) * d]) {
                    *a += v.to_f64();
                }
            }
            let inv = 1.0 / rows.len() as f64;
            for (o, a) in out.iter_mut().zip(&s) {
                *o = T::from_f64(a * inv);
            }
            if p.metric == Metric::Cosine {
                normalize(out);
            }
        });
        relocate_empty(p, &mut new_c, &starts, &dist);
        let shift: f64 = c
            .iter()
            .zip(&new_c)
            .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
            .sum();
        *c = new_c;
        std::mem::swap(&mut labels, &mut prev);
        if shift <= tol {
            return Ok((it, true));
        }
    }
    Ok((cfg.max_iter, false))
}

/// Empty clusters take the rows farthest from their centroids (largest distance first, ties: the
/// lower row), one row each (scikit-learn's rule).
fn relocate_empty<T: Real>(p: &Prepared<'_, T>, c: &mut [T], starts: &[usize], dist: &[f64]) {
    let d = p.d;
    let empty: Vec<usize> = (0..starts.len() - 1)
        .filter(|&j| starts[j] == starts[j + 1])
        .collect();
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<usize> = (0..p.n).collect();
    let m = empty.len().min(p.n);
    let by = |a: &usize, b: &usize| dist[*b].total_cmp(&dist[*a]).then(a.cmp(b));
    if m < far.len() {
        far.select_nth_unstable_by(m, by);
    }
    far.truncate(m);
    far.sort_unstable_by(by);
    for (&j, &i) in empty.iter().zip(&far) {
        c[j * d..(j + 1) * d].copy_from_slice(&p.data[i * d..(i + 1) * d]);
    }
}

/// Mini-batch k-means: `⌈max_iter · n / batch_size⌉` steps; each assigns `batch_size` rows drawn
/// with replacement (keyed by seed and step) and moves each centroid to
/// `(c · count + Σ batch rows) / (count + batch members)`.
pub(super) fn minibatch<T: Real>(
    p: &Prepared<'_, T>,
    c: &mut [T],
    cfg: &Config,
    batch_size: usize,
    seed: u64,
    stop: &Stop,
) -> Result<()> {
    let (n, d, k) = (p.n, p.d, cfg.k);
    let b = batch_size.min(n);
    let steps = (cfg.max_iter as u128 * n as u128).div_ceil(b as u128) as u64;
    let mut counts = vec![0.0f64; k];
    let mut batch: Vec<T> = alloc::zeroed_2d(b, d, "batch_size", "mini-batch")?;
    let mut bnorms = vec![T::from_f64(0.0); b];
    let mut idx = vec![0usize; b];
    let mut labels = vec![0u32; b];
    let mut dist = vec![0.0f64; b];
    let bseed = rng::mix64(seed ^ 0x6d69_6e69_6261_7463);
    for step in 0..steps {
        stop.check()?;
        for (t, slot) in idx.iter_mut().enumerate() {
            let u = rng::uniform(bseed, step * b as u64 + t as u64);
            *slot = ((u * n as f64).ceil() as usize).clamp(1, n) - 1;
        }
        for (t, &i) in idx.iter().enumerate() {
            batch[t * d..(t + 1) * d].copy_from_slice(&p.data[i * d..(i + 1) * d]);
            bnorms[t] = p.norms[i];
        }
        let c_norms = sq_norms(c, d);
        assign_rows(&batch, &bnorms, d, c, &c_norms, &mut labels, &mut dist);
        let (order, starts) = members(&labels, k);
        c.par_chunks_mut(d)
            .zip(counts.par_iter_mut())
            .enumerate()
            .for_each(|(j, (cj, count))| {
                let rows = &order[starts[j]..starts[j + 1]];
                if rows.is_empty() {
                    return;
                }
                let old = *count;
                let new = old + rows.len() as f64;
                let mut s: Vec<f64> = cj.iter().map(|v| v.to_f64() * old).collect();
                for &t in rows {
                    for (a, v) in s.iter_mut().zip(&batch[t * d..(t + 1) * d]) {
                        *a += v.to_f64();
                    }
                }
                for (o, a) in cj.iter_mut().zip(&s) {
                    *o = T::from_f64(a / new);
                }
                if p.metric == Metric::Cosine {
                    normalize(cj);
                }
                *count = new;
            });
    }
    Ok(())
}
