//! Binding of `linear`: feature weighting, the L-BFGS fit and decision values, as functions over
//! numpy arrays (the model's state lives in Python as plain arrays, so it pickles and saves).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{matrix, slice, text_column, DataArg, OffsetsArg, ValidityArg};
use super::errors::PyExt;
use super::ngram::PyFeaturizer;
use crate::linear::{self, CsrView, FitParams, LinearModel, Weighting};

type Indptr<'py> = PyReadonlyArray1<'py, i64>;
type Indices<'py> = PyReadonlyArray1<'py, u32>;
type Values<'py> = PyReadonlyArray1<'py, f64>;
type FitOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyDict>,
);

fn model(coef: &PyReadonlyArray2<'_, f64>, intercept: &Values<'_>) -> PyResult<LinearModel> {
    let (c, nf, k) = matrix(coef, "coef")?;
    Ok(LinearModel::new(
        nf,
        k,
        c.to_vec(),
        slice(intercept, "intercept")?.to_vec(),
    )?)
}

/// Feature values of CSR counts: `ln(1 + count)` if `log`, rows divided by their L2 norm if
/// `l2_normalize`.
#[pyfunction]
#[pyo3(signature = (indptr, counts, *, log = true, l2_normalize = true))]
fn weigh_counts<'py>(
    py: Python<'py>,
    indptr: Indptr<'py>,
    counts: PyReadonlyArray1<'py, u32>,
    log: bool,
    l2_normalize: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (ip, c) = (slice(&indptr, "indptr")?, slice(&counts, "counts")?);
    let w = Weighting { log, l2_normalize };
    Ok(py.compute(|| linear::weigh(ip, c, w))?.into_pyarray(py))
}

/// Fits a logistic (two classes) or softmax model by L-BFGS; returns `(coef (n_features, K),
/// intercept (K,), report)`.
#[pyfunction]
#[pyo3(signature = (indptr, indices, values, n_features, y, sample_weight, n_classes, *, l2,
                    fit_intercept = true, tol = 1e-6, max_iter = 1000, memory = 10,
                    n_threads = None))]
#[allow(clippy::too_many_arguments)]
fn linear_fit<'py>(
    py: Python<'py>,
    indptr: Indptr<'py>,
    indices: Indices<'py>,
    values: Values<'py>,
    n_features: usize,
    y: PyReadonlyArray1<'py, u32>,
    sample_weight: Values<'py>,
    n_classes: usize,
    l2: f64,
    fit_intercept: bool,
    tol: f64,
    max_iter: usize,
    memory: usize,
    n_threads: Option<usize>,
) -> PyResult<FitOut<'py>> {
    let x = CsrView::new(
        slice(&indptr, "indptr")?,
        slice(&indices, "indices")?,
        slice(&values, "values")?,
        n_features,
    )?;
    let (y, sw) = (slice(&y, "y")?, slice(&sample_weight, "sample_weight")?);
    let params = FitParams {
        l2,
        fit_intercept,
        tol,
        max_iter,
        memory,
    };
    let (m, report) = py.compute_interruptible(|stop| {
        linear::fit(&x, y, sw, n_classes, &params, n_threads, stop)
    })?;
    let d = PyDict::new(py);
    d.set_item("n_iter", report.n_iter)?;
    d.set_item("loss", report.loss)?;
    d.set_item("grad_max", report.grad_max)?;
    d.set_item("converged", report.converged)?;
    let coef = m
        .coef
        .into_pyarray(py)
        .reshape([m.n_features, m.n_outputs])?;
    Ok((coef, m.intercept.into_pyarray(py), d))
}

/// Decision values `x @ coef + intercept` of CSR features, `(n_rows, K)`.
#[pyfunction]
#[pyo3(signature = (indptr, indices, values, coef, intercept, n_threads = None))]
fn linear_decision<'py>(
    py: Python<'py>,
    indptr: Indptr<'py>,
    indices: Indices<'py>,
    values: Values<'py>,
    coef: PyReadonlyArray2<'py, f64>,
    intercept: Values<'py>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let m = model(&coef, &intercept)?;
    let x = CsrView::new(
        slice(&indptr, "indptr")?,
        slice(&indices, "indices")?,
        slice(&values, "values")?,
        m.n_features,
    )?;
    let n = x.n_rows();
    let out = py.compute(|| m.decision(&x, n_threads))?;
    out.into_pyarray(py).reshape([n, m.n_outputs])
}

/// Decision values of an Arrow text column, featurised by `featurizer` and weighted.
#[pyfunction]
#[pyo3(signature = (featurizer, offsets, data, validity, coef, intercept, *, log = true,
                    l2_normalize = true, n_threads = None))]
#[allow(clippy::too_many_arguments)]
fn linear_decision_texts<'py>(
    py: Python<'py>,
    featurizer: PyRef<'py, PyFeaturizer>,
    offsets: OffsetsArg<'py>,
    data: DataArg<'py>,
    validity: ValidityArg<'py>,
    coef: PyReadonlyArray2<'py, f64>,
    intercept: Values<'py>,
    log: bool,
    l2_normalize: bool,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let m = model(&coef, &intercept)?;
    let col = text_column(&offsets, &data, &validity)?;
    let cfg = featurizer.cfg;
    let w = Weighting { log, l2_normalize };
    let n = crate::column::Texts::len(&col);
    let out = py.compute(|| m.decision_texts(&cfg, w, &col, n_threads))?;
    out.into_pyarray(py).reshape([n, m.n_outputs])
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(weigh_counts, m)?)?;
    m.add_function(wrap_pyfunction!(linear_fit, m)?)?;
    m.add_function(wrap_pyfunction!(linear_decision, m)?)?;
    m.add_function(wrap_pyfunction!(linear_decision_texts, m)?)?;
    Ok(())
}
