//! One pass of the Sinkhorn iteration over the pool, block by block: the scaled cost rows
//! (cached, given, or computed), the exact and the fused updates, the transport cost.

use rayon::prelude::*;

use super::{kernel, CostBlocks, BLOCK};

/// The scaled cost `k = −M / eps` (POT's `Mr`), cached whole or computed per block.
pub(super) enum Cost<'a> {
    Cached(Vec<f64>, usize),
    /// The points' cost blocks and `−1/eps`.
    Streamed(&'a CostBlocks<'a>, f64),
    /// A given cost matrix and `eps`.
    Given(&'a [f64], usize, f64),
}

impl Cost<'_> {
    pub(super) fn cols(&self) -> usize {
        match self {
            Cost::Cached(_, m) | Cost::Given(_, m, _) => *m,
            Cost::Streamed(c, _) => c.y.rows,
        }
    }

    /// Calls `f` with the scaled rows `r0..r1` (from the cache, or computed into `buf`).
    fn with_rows<R>(
        &self,
        r0: usize,
        r1: usize,
        buf: &mut Vec<f64>,
        f: impl FnOnce(&[f64]) -> R,
    ) -> R {
        match self {
            Cost::Cached(all, m) => f(&all[r0 * m..r1 * m]),
            Cost::Given(all, m, eps) => {
                buf.clear();
                buf.extend(all[r0 * m..r1 * m].iter().map(|c| -c / eps));
                f(buf)
            }
            Cost::Streamed(c, scale) => {
                let m = c.y.rows;
                buf.resize((r1 - r0) * m, 0.0);
                c.fill(r0, r1, buf, *scale);
                f(buf)
            }
        }
    }
}

/// Running log-sum-exp of columns: `(max, Σ exp(v − max))` per column.
#[derive(Clone)]
struct ColumnLse {
    max: Vec<f64>,
    sum: Vec<f64>,
}

impl ColumnLse {
    fn new(m: usize) -> Self {
        Self {
            max: vec![f64::NEG_INFINITY; m],
            sum: vec![0.0; m],
        }
    }

    fn merge(&mut self, other: &Self) {
        for j in 0..self.max.len() {
            let (m1, m2) = (self.max[j], other.max[j]);
            if m2 == f64::NEG_INFINITY {
                continue;
            }
            if m1 == f64::NEG_INFINITY {
                self.max[j] = m2;
                self.sum[j] = other.sum[j];
            } else if m2 > m1 {
                self.sum[j] = self.sum[j] * (m1 - m2).exp() + other.sum[j];
                self.max[j] = m2;
            } else {
                self.sum[j] += other.sum[j] * (m2 - m1).exp();
            }
        }
    }

    fn values(&self) -> Vec<f64> {
        self.max
            .iter()
            .zip(&self.sum)
            .map(|(mx, s)| mx + s.ln())
            .collect()
    }
}

/// Blocks whose column partials are computed in parallel and then merged in block order (a
/// bounded number of `m`-sized partials alive, the same sums for any thread count).
const GROUP: usize = 64;

/// Runs `block(b, r0, scaled rows, log u rows, scratch)` on every block of `BLOCK` pool rows,
/// in parallel, and folds the results in block order with `merge`.
fn for_blocks<T: Send>(
    cost: &Cost<'_>,
    log_u: &mut [f64],
    block: impl Fn(usize, &[f64], &mut [f64], &mut Vec<f64>) -> T + Sync,
    mut merge: impl FnMut(T),
) {
    let n = log_u.len();
    let m = cost.cols();
    for group in log_u.chunks_mut(BLOCK * GROUP).enumerate() {
        let (g, rows) = group;
        let parts: Vec<T> = rows
            .par_chunks_mut(BLOCK)
            .enumerate()
            .map_init(
                || (Vec::new(), vec![0.0; m]),
                |(buf, e), (b, u_rows)| {
                    let r0 = (g * GROUP + b) * BLOCK;
                    let r1 = (r0 + BLOCK).min(n);
                    cost.with_rows(r0, r1, buf, |k| block(r0, k, u_rows, e))
                },
            )
            .collect();
        parts.into_iter().for_each(&mut merge);
    }
}

/// The exact pass: with `log_v`, the new `log u` of every row (when given), and the column
/// log-sum-exps `L_j = LSE_i(k_ij + log u_i)` of the (new) `log u`.
pub(super) fn pass_exact(
    cost: &Cost<'_>,
    log_a: &[f64],
    log_u: &mut [f64],
    log_v: Option<&[f64]>,
) -> Vec<f64> {
    let m = cost.cols();
    let mut total = ColumnLse::new(m);
    for_blocks(
        cost,
        log_u,
        |r0, k, u, e| {
            let mut lse = ColumnLse::new(m);
            let la = &log_a[r0..r0 + u.len()];
            kernel::exact(k, log_v, la, u, e, &mut lse.max, &mut lse.sum);
            lse
        },
        |p| total.merge(&p),
    );
    total.values()
}

/// The fused pass (one `exp` per entry): the new `log u`, and the column sums of the plan
/// `S_j = Σ_i P_ij`, whence `L_j = ln S_j − log v_j`.
pub(super) fn pass_fused(
    cost: &Cost<'_>,
    a: &[f64],
    log_a: &[f64],
    log_u: &mut [f64],
    log_v: &[f64],
) -> Vec<f64> {
    let m = cost.cols();
    let mut total = vec![0.0; m];
    for_blocks(
        cost,
        log_u,
        |r0, k, u, e| {
            let mut col = vec![0.0; m];
            let rows = r0..r0 + u.len();
            kernel::fused(k, log_v, &a[rows.clone()], &log_a[rows], u, e, &mut col);
            col
        },
        |p| {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        },
    );
    total
}

/// Column sums below this are redone with the exact pass (their terms may have underflowed).
pub(super) const FUSED_MIN: f64 = 1e-250;

/// `⟨P, M⟩` for the plan of `log u`, `log v`.
pub(super) fn transport_cost(cost: &Cost<'_>, eps: f64, log_u: &[f64], log_v: &[f64]) -> f64 {
    let mut u = log_u.to_vec();
    let mut total = 0.0;
    for_blocks(
        cost,
        &mut u,
        |_, k, u, _| kernel::plan_dot(k, u, log_v),
        |p| total += p,
    );
    -eps * total
}
