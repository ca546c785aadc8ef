//! Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989, "On the limited memory BFGS method
//! for large scale optimization") with a backtracking Armijo line search.
//!
//! Written by hand (about a hundred lines) rather than taken from a crate: the objective is
//! smooth and strongly convex (L2-regularised logistic loss), where the two-loop recursion with
//! Armijo backtracking converges reliably, and owning it keeps the iteration sequential and
//! bit-reproducible: all parallelism lives in the objective, which is itself deterministic.

// The notation of the papers (x, g, s, y, d; X, W, b, k): single letters are the clearer names.
#![allow(clippy::many_single_char_names)]

use crate::alloc;
use crate::error::Result;
use crate::parallel::Stop;

/// Stopping rules and memory of the optimiser.
#[derive(Clone, Copy, Debug)]
pub struct LbfgsParams {
    /// Stop when the largest absolute gradient entry is `<= gtol` (scipy's `pgtol`).
    pub gtol: f64,
    /// Stop when the relative decrease of the objective is `<= ftol` (scipy's `factr * eps`).
    pub ftol: f64,
    /// Iterations at most.
    pub max_iter: usize,
    /// Correction pairs kept.
    pub memory: usize,
}

/// How the optimisation ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsReport {
    /// Iterations run.
    pub n_iter: usize,
    /// Objective at the solution.
    pub loss: f64,
    /// Largest absolute gradient entry at the solution.
    pub grad_max: f64,
    /// Whether a stopping rule other than `max_iter` (or a failed line search) ended the run.
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The two-loop recursion: `d = -H g` with `H` the L-BFGS inverse-Hessian estimate.
fn two_loop(
    d: &mut [f64],
    g: &[f64],
    s_hist: &[Vec<f64>],
    y_hist: &[Vec<f64>],
    rho: &[f64],
    alpha: &mut [f64],
) {
    d.copy_from_slice(g);
    let h = s_hist.len();
    for i in (0..h).rev() {
        alpha[i] = rho[i] * dot(&s_hist[i], d);
        d.iter_mut()
            .zip(&y_hist[i])
            .for_each(|(di, yi)| *di -= alpha[i] * yi);
    }
    let gamma = if h > 0 {
        dot(&s_hist[h - 1], &y_hist[h - 1]) / dot(&y_hist[h - 1], &y_hist[h - 1])
    } else {
        // First step: unit length, as scipy's L-BFGS-B starts.
        1.0 / dot(g, g).sqrt().max(f64::MIN_POSITIVE)
    };
    for v in d.iter_mut() {
        *v *= gamma;
    }
    for i in 0..h {
        let beta = rho[i] * dot(&y_hist[i], d);
        d.iter_mut()
            .zip(&s_hist[i])
            .for_each(|(di, si)| *di += (alpha[i] - beta) * si);
    }
    for v in d.iter_mut() {
        *v = -*v;
    }
}

/// Minimises `f` from `x` (updated in place). `f(x, grad)` returns the objective and writes the
/// gradient.
///
/// # Errors
/// An allocation failure, an error of `f`, or [`crate::Error::Interrupted`].
pub fn minimize(
    x: &mut [f64],
    params: &LbfgsParams,
    stop: &Stop,
    mut f: impl FnMut(&[f64], &mut [f64]) -> Result<f64>,
) -> Result<LbfgsReport> {
    let n = x.len();
    let m = params.memory.max(1);
    let what = "L-BFGS vectors (n_buckets × outputs)";
    let mut g = alloc::zeroed::<f64>(n, "n_buckets", what)?;
    let mut g_new = alloc::zeroed::<f64>(n, "n_buckets", what)?;
    let mut x_new = alloc::zeroed::<f64>(n, "n_buckets", what)?;
    let mut d = alloc::zeroed::<f64>(n, "n_buckets", what)?;
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut rho: Vec<f64> = Vec::with_capacity(m);
    let mut alpha = vec![0.0; m];
    let mut fx = f(x, &mut g)?;
    let mut report = LbfgsReport {
        n_iter: 0,
        loss: fx,
        grad_max: max_abs(&g),
        converged: false,
    };
    if report.grad_max <= params.gtol {
        report.converged = true;
        return Ok(report);
    }
    while report.n_iter < params.max_iter {
        stop.check()?;
        two_loop(&mut d, &g, &s_hist, &y_hist, &rho, &mut alpha);
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            let scale = 1.0 / dot(&g, &g).sqrt().max(f64::MIN_POSITIVE);
            d.iter_mut().zip(&g).for_each(|(di, gi)| *di = -gi * scale);
            slope = dot(&g, &d);
        }
        // Backtracking Armijo line search.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            x_new
                .iter_mut()
                .zip(x.iter().zip(&d))
                .for_each(|(xn, (xi, di))| *xn = xi + step * di);
            let f_new = f(&x_new, &mut g_new)?;
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                accepted = Some(f_new);
                break;
            }
            step *= 0.5;
        }
        report.n_iter += 1;
        let Some(f_new) = accepted else {
            // No decrease possible in this direction: the solution is as accurate as rounding
            // allows (converged) when the gradient is already tiny, otherwise not.
            report.converged = report.grad_max <= params.gtol.max(1e-8);
            return Ok(report);
        };
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let f_old = fx;
        fx = f_new;
        report.loss = fx;
        report.grad_max = max_abs(&g);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if s_hist.len() == m {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        if report.grad_max <= params.gtol
            || (f_old - fx) <= params.ftol * f_old.abs().max(fx.abs()).max(1.0)
        {
            report.converged = true;
            return Ok(report);
        }
    }
    Ok(report)
}
