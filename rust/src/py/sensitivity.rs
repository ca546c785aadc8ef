//! Binding of `sensitivity`: leverage scores, Lewis weights, sensitivity scores and samplers over
//! C-contiguous float32/float64 numpy matrices (borrowed, not copied).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::convert::{choice, sampler, score_scheme, slice, FloatMatrix};
use super::errors::PyExt;
use crate::sensitivity::{self, SketchConfig};

type LeverageOut<'py> = (Bound<'py, PyArray1<f64>>, usize, &'static str, f64);

#[pyfunction(name = "leverage_scores")]
#[pyo3(signature = (a, *, method = "exact", sketch_rows = None, jl_dim = None, seed = 0, n_threads = None))]
pub(crate) fn leverage_scores_py<'py>(
    py: Python<'py>,
    a: FloatMatrix<'py>,
    method: &str,
    sketch_rows: Option<usize>,
    jl_dim: Option<usize>,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<LeverageOut<'py>> {
    let sketch = choice("method", method, &[("exact", false), ("sketch", true)])?;
    let m = a.matrix()?;
    let cfg = SketchConfig {
        sketch_rows,
        jl_dim,
        seed,
    };
    let lev = py.compute(|| {
        if sketch {
            sensitivity::sketched_leverage_scores(&m, &cfg, n_threads)
        } else {
            sensitivity::leverage_scores(&m, n_threads)
        }
    })?;
    Ok((
        lev.scores.into_pyarray(py),
        lev.rank,
        lev.solver.name(),
        lev.gram_condition,
    ))
}

type LewisOut<'py> = (Bound<'py, PyArray1<f64>>, usize, bool, f64, usize);

#[pyfunction(name = "lewis_weights")]
#[pyo3(signature = (a, p, *, tol = 1e-8, max_iter = 100, n_threads = None))]
pub(crate) fn lewis_weights_py<'py>(
    py: Python<'py>,
    a: FloatMatrix<'py>,
    p: f64,
    tol: f64,
    max_iter: usize,
    n_threads: Option<usize>,
) -> PyResult<LewisOut<'py>> {
    let m = a.matrix()?;
    let lw = py.compute_interruptible(|stop| {
        sensitivity::lewis_weights(&m, p, tol, max_iter, n_threads, stop)
    })?;
    Ok((
        lw.weights.into_pyarray(py),
        lw.n_iter,
        lw.converged,
        lw.max_change,
        lw.rank,
    ))
}

#[pyfunction(name = "sensitivity_scores")]
#[pyo3(signature = (a, p, *, scheme = "lewis", mix = 0.5, tol = 1e-8, max_iter = 100, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sensitivity_scores_py<'py>(
    py: Python<'py>,
    a: FloatMatrix<'py>,
    p: f64,
    scheme: &str,
    mix: f64,
    tol: f64,
    max_iter: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let scheme = score_scheme(scheme, mix)?;
    let m = a.matrix()?;
    Ok(py
        .compute_interruptible(|stop| {
            sensitivity::sensitivity_scores(&m, p, scheme, tol, max_iter, n_threads, stop)
        })?
        .into_pyarray(py))
}

type SampleOut<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

#[pyfunction(name = "sample")]
#[pyo3(signature = (scores, k, *, method = "bernoulli", seed = 0, n_threads = None))]
pub(crate) fn sample_py<'py>(
    py: Python<'py>,
    scores: Bound<'py, PyAny>,
    k: usize,
    method: &str,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<SampleOut<'py>> {
    let scores: PyReadonlyArray1<'py, f64> = scores
        .extract()
        .map_err(|_| PyTypeError::new_err("scores must be a 1-D float64 array"))?;
    let s = slice(&scores, "scores")?;
    let method = sampler(method)?;
    let out = py.compute(|| sensitivity::sample(s, k, method, seed, n_threads))?;
    let idx: Vec<i64> = out.indices.iter().map(|&i| i as i64).collect();
    Ok((
        idx.into_pyarray(py),
        out.weights.into_pyarray(py),
        out.probabilities.into_pyarray(py),
    ))
}

#[pyfunction(name = "bernoulli_probabilities")]
pub(crate) fn bernoulli_probabilities_py<'py>(
    py: Python<'py>,
    scores: PyReadonlyArray1<'py, f64>,
    k: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let s = slice(&scores, "scores")?;
    Ok(py
        .compute(|| sensitivity::sample::bernoulli_probabilities(s, k))?
        .into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(leverage_scores_py, m)?)?;
    m.add_function(wrap_pyfunction!(lewis_weights_py, m)?)?;
    m.add_function(wrap_pyfunction!(sensitivity_scores_py, m)?)?;
    m.add_function(wrap_pyfunction!(sample_py, m)?)?;
    m.add_function(wrap_pyfunction!(bernoulli_probabilities_py, m)?)?;
    Ok(())
}
