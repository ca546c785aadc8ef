//! Binding of `ot`: log-domain Sinkhorn between point clouds or for a given cost matrix.

// x, y, a, b, f, g, n, m, d, M: the names of the formulas (and of POT's API).
#![allow(clippy::many_single_char_names)]

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::convert::{choice, matrix, slice};
use super::errors::PyExt;
use crate::ot::{self, Metric, Points, SinkhornConfig};

/// `(cost, f, g, n_iter, err, converged)`.
type SinkhornOut<'py> = (
    f64,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    usize,
    f64,
    bool,
);

fn out(py: Python<'_>, s: ot::Sinkhorn) -> SinkhornOut<'_> {
    (
        s.cost,
        s.f.into_pyarray(py),
        s.g.into_pyarray(py),
        s.n_iter,
        s.err,
        s.converged,
    )
}

#[pyfunction(name = "sinkhorn_points")]
#[pyo3(signature = (x, y, a, b, *, eps, metric = "sqeuclidean", max_iter = 1000, tol = 1e-9, cache_bytes = 1_073_741_824, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sinkhorn_points_py<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    eps: f64,
    metric: &str,
    max_iter: usize,
    tol: f64,
    cache_bytes: usize,
    n_threads: Option<usize>,
) -> PyResult<SinkhornOut<'py>> {
    let metric = choice(
        "metric",
        metric,
        &[
            ("sqeuclidean", Metric::SqEuclidean),
            ("cosine", Metric::Cosine),
        ],
    )?;
    let (xs, n, d) = matrix(&x, "x")?;
    let (ys, m, dy) = matrix(&y, "y")?;
    let xp = Points::new(xs, n, d, "x")?;
    let yp = Points::new(ys, m, dy, "y")?;
    let (a, b) = (slice(&a, "a")?, slice(&b, "b")?);
    let cfg = SinkhornConfig {
        eps,
        max_iter,
        tol,
        cache_bytes,
    };
    let s = py.compute_interruptible(|stop| {
        ot::sinkhorn_points(xp, yp, a, b, metric, &cfg, n_threads, stop)
    })?;
    Ok(out(py, s))
}

#[pyfunction(name = "sinkhorn_cost")]
#[pyo3(signature = (cost, a, b, *, eps, max_iter = 1000, tol = 1e-9, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sinkhorn_cost_py<'py>(
    py: Python<'py>,
    cost: PyReadonlyArray2<'py, f64>,
    a: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    eps: f64,
    max_iter: usize,
    tol: f64,
    n_threads: Option<usize>,
) -> PyResult<SinkhornOut<'py>> {
    let (c, n, m) = matrix(&cost, "M")?;
    let (a, b) = (slice(&a, "a")?, slice(&b, "b")?);
    let cfg = SinkhornConfig {
        eps,
        max_iter,
        tol,
        cache_bytes: 0,
    };
    let s =
        py.compute_interruptible(|stop| ot::sinkhorn_cost(c, n, m, a, b, &cfg, n_threads, stop))?;
    Ok(out(py, s))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sinkhorn_points_py, m)?)?;
    m.add_function(wrap_pyfunction!(sinkhorn_cost_py, m)?)?;
    Ok(())
}
