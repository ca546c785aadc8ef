//! Binding of `importance`: the fitted model, Gumbel keys, streaming top-k and the KL metric.

use std::sync::{Mutex, PoisonError};

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::convert::{text_column, OffsetsArg};
use super::errors::PyExt;
use super::ngram::PyFeaturizer;
use crate::column::Texts;
use crate::hash::hash64;
use crate::importance::resample::{self, Entry, TopK};
use crate::importance::{self, Counts, ImportanceModel, Smoothing};

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous array")))
}

fn counts_rows(a: &PyReadonlyArray2<'_, u64>, name: &str) -> PyResult<Vec<Counts>> {
    let arr = a.as_array();
    Ok(arr
        .rows()
        .into_iter()
        .map(|r| Counts {
            counts: r.to_vec(),
            ..Counts::default()
        })
        .collect::<Vec<_>>())
    .and_then(|v: Vec<Counts>| {
        if v.is_empty() {
            Err(PyValueError::new_err(format!("{name} has no rows")))
        } else {
            Ok(v)
        }
    })
}

fn counts_of(a: &PyReadonlyArray1<'_, u64>, name: &str) -> PyResult<Counts> {
    Ok(Counts {
        counts: slice(a, name)?.to_vec(),
        ..Counts::default()
    })
}

/// A fitted DSIR model (see `tamis.ImportanceResampler`).
#[pyclass(name = "ImportanceModel", module = "tamis._core", frozen)]
pub(crate) struct PyImportanceModel {
    inner: ImportanceModel,
}

type WeightsOut<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<u64>>);

#[pymethods]
impl PyImportanceModel {
    /// Fits log ratios from target counts (`n_targets × n_buckets`) and raw counts.
    #[staticmethod]
    #[pyo3(signature = (featurizer, target_counts, raw_counts, *, alpha = 0.0, smooth_raw = false, eps = 1e-8))]
    fn fit(
        featurizer: PyRef<'_, PyFeaturizer>,
        target_counts: PyReadonlyArray2<'_, u64>,
        raw_counts: PyReadonlyArray1<'_, u64>,
        alpha: f64,
        smooth_raw: bool,
        eps: f64,
    ) -> PyResult<Self> {
        let targets = counts_rows(&target_counts, "target_counts")?;
        let raw = counts_of(&raw_counts, "raw_counts")?;
        let smoothing = Smoothing {
            alpha,
            raw: smooth_raw,
            eps,
        };
        Ok(Self {
            inner: ImportanceModel::fit(featurizer.cfg, &targets, &raw, smoothing)?,
        })
    }

    /// A model from saved log ratios (`n_buckets × n_targets`).
    #[staticmethod]
    fn from_log_ratio(
        featurizer: PyRef<'_, PyFeaturizer>,
        log_ratio: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Self> {
        let n_targets = log_ratio.as_array().ncols();
        let lr: Vec<f64> = log_ratio.as_array().iter().copied().collect();
        Ok(Self {
            inner: ImportanceModel::from_log_ratio(featurizer.cfg, n_targets, lr)?,
        })
    }

    /// Per-bucket log ratios, `n_buckets × n_targets`.
    #[getter]
    fn log_ratio<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let t = self.inner.n_targets();
        self.inner
            .log_ratio()
            .to_vec()
            .into_pyarray(py)
            .reshape([self.inner.log_ratio().len() / t, t])
    }

    #[getter]
    fn n_targets(&self) -> usize {
        self.inner.n_targets()
    }

    /// Log weights (`n_rows × n_targets`) and token counts of a text column.
    #[pyo3(signature = (offsets, data, validity = None, *, length_norm = None, n_threads = None))]
    fn log_weights<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: PyReadonlyArray1<'py, u8>,
        validity: Option<PyReadonlyArray1<'py, bool>>,
        length_norm: Option<f64>,
        n_threads: Option<usize>,
    ) -> PyResult<WeightsOut<'py>> {
        let col = text_column(&offsets, &data, validity.as_ref())?;
        let n = col.len();
        let model = &self.inner;
        let (w, nt) = py.compute(|| model.log_weights(&col, length_norm, n_threads))?;
        Ok((
            w.into_pyarray(py).reshape([n, model.n_targets()])?,
            nt.into_pyarray(py),
        ))
    }
}

/// XXH3-64 (seed 0) of every id string; null ids hash as the empty string.
#[pyfunction]
#[pyo3(signature = (offsets, data, validity = None))]
fn id_hashes<'py>(
    py: Python<'py>,
    offsets: OffsetsArg<'py>,
    data: PyReadonlyArray1<'py, u8>,
    validity: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let col = text_column(&offsets, &data, validity.as_ref())?;
    let out = py.compute(|| {
        (0..col.len())
            .map(|i| Ok(hash64(col.get(i)?.unwrap_or("").as_bytes(), 0)))
            .collect::<crate::Result<Vec<u64>>>()
    })?;
    Ok(out.into_pyarray(py))
}

/// `log_weights + Gumbel(seed, target, id_hash)`, or the Gumbel noise alone if no weights.
#[pyfunction]
#[pyo3(signature = (id_hashes, *, seed, target = 0))]
fn gumbel_noise<'py>(
    py: Python<'py>,
    id_hashes: PyReadonlyArray1<'py, u64>,
    seed: u64,
    target: u64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let ids = slice(&id_hashes, "id_hashes")?;
    let out: Vec<f64> = py.allow_threads(|| {
        ids.iter()
            .map(|&h| resample::gumbel(seed, target, h))
            .collect()
    });
    Ok(out.into_pyarray(py))
}

/// Streaming top-k by key (see `resample::TopK`). The mutex makes pushes from several Python
/// threads safe; each push holds it for one batch.
#[pyclass(name = "TopK", module = "tamis._core", frozen)]
pub(crate) struct PyTopK {
    inner: Mutex<TopK>,
}

type EntriesOut<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
);

#[pymethods]
impl PyTopK {
    #[new]
    fn new(k: usize) -> Self {
        Self {
            inner: Mutex::new(TopK::new(k)),
        }
    }

    /// Offers a batch; returns which rows are kept for now. Ineligible rows are skipped.
    #[pyo3(signature = (keys, id_hashes, positions, eligible = None))]
    fn push<'py>(
        &self,
        py: Python<'py>,
        keys: PyReadonlyArray1<'py, f64>,
        id_hashes: PyReadonlyArray1<'py, u64>,
        positions: PyReadonlyArray1<'py, u64>,
        eligible: Option<PyReadonlyArray1<'py, bool>>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let keys = slice(&keys, "keys")?;
        let ids = slice(&id_hashes, "id_hashes")?;
        let pos = slice(&positions, "positions")?;
        let elig = eligible
            .as_ref()
            .map(|e| slice(e, "eligible"))
            .transpose()?;
        if ids.len() != keys.len()
            || pos.len() != keys.len()
            || elig.is_some_and(|e| e.len() != keys.len())
        {
            return Err(PyValueError::new_err(
                "keys, id_hashes, positions and eligible must have the same length",
            ));
        }
        let inner = &self.inner;
        let kept: Vec<bool> = py.allow_threads(|| {
            let mut top = inner.lock().unwrap_or_else(PoisonError::into_inner);
            (0..keys.len())
                .map(|i| {
                    elig.is_none_or(|e| e[i])
                        && top.push(Entry {
                            key: keys[i],
                            id_hash: ids[i],
                            pos: pos[i],
                        })
                })
                .collect()
        });
        Ok(kept.into_pyarray(py))
    }

    /// Adds another selection's entries.
    fn merge(&self, other: PyRef<'_, PyTopK>) {
        let theirs = other
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .merge(theirs);
    }

    /// Kept entries, best first: `(keys, id_hashes, positions)`.
    fn entries<'py>(&self, py: Python<'py>) -> EntriesOut<'py> {
        let sorted = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .into_sorted();
        let keys: Vec<f64> = sorted.iter().map(|e| e.key).collect();
        let ids: Vec<u64> = sorted.iter().map(|e| e.id_hash).collect();
        let pos: Vec<u64> = sorted.iter().map(|e| e.pos).collect();
        (
            keys.into_pyarray(py),
            ids.into_pyarray(py),
            pos.into_pyarray(py),
        )
    }

    #[getter]
    fn k(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .k()
    }

    #[getter]
    fn seen(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen()
    }

    fn __len__(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

type SelectionOut<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>);

/// Resolves per-target top-k selections into `(positions, targets)` (see `resample`).
#[pyfunction]
fn select_sequential<'py>(
    py: Python<'py>,
    tops: Vec<PyRef<'py, PyTopK>>,
    ks: Vec<usize>,
) -> PyResult<SelectionOut<'py>> {
    let cands: Vec<Vec<Entry>> = tops
        .iter()
        .map(|t| {
            t.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .into_sorted()
        })
        .collect();
    let sel = resample::select_sequential(&cands, &ks)?;
    let pos: Vec<u64> = sel.iter().map(|s| s.0).collect();
    let tgt: Vec<u64> = sel.iter().map(|s| s.1 as u64).collect();
    Ok((pos.into_pyarray(py), tgt.into_pyarray(py)))
}

/// Splits k across targets like the reference (`floor(k·p)`, remainder to the last).
#[pyfunction]
fn split_k(k: usize, proportions: Vec<f64>) -> PyResult<Vec<usize>> {
    Ok(resample::split_k(k, &proportions)?)
}

/// Capacities per target for exact sequential selection.
#[pyfunction]
fn sequential_capacities(ks: Vec<usize>) -> Vec<usize> {
    resample::sequential_capacities(&ks)
}

/// k draws with replacement ∝ exp(log_weights) over eligible rows; sorted row indices.
#[pyfunction]
#[pyo3(signature = (log_weights, k, *, seed, eligible = None))]
fn sample_with_replacement<'py>(
    py: Python<'py>,
    log_weights: PyReadonlyArray1<'py, f64>,
    k: usize,
    seed: u64,
    eligible: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let lw = slice(&log_weights, "log_weights")?;
    let elig = eligible
        .as_ref()
        .map(|e| slice(e, "eligible"))
        .transpose()?;
    Ok(py
        .compute(|| resample::sample_with_replacement(lw, elig, k, seed))?
        .into_pyarray(py))
}

/// The paper's KL reduction from bucket counts (targets `n_targets × n_buckets`).
#[pyfunction]
fn kl_reduction(
    target_counts: PyReadonlyArray2<'_, u64>,
    raw_counts: PyReadonlyArray1<'_, u64>,
    selected_counts: PyReadonlyArray1<'_, u64>,
) -> PyResult<f64> {
    let targets = counts_rows(&target_counts, "target_counts")?;
    Ok(importance::kl_reduction(
        &targets,
        &counts_of(&raw_counts, "raw_counts")?,
        &counts_of(&selected_counts, "selected_counts")?,
    )?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyImportanceModel>()?;
    m.add_class::<PyTopK>()?;
    m.add_function(wrap_pyfunction!(id_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(gumbel_noise, m)?)?;
    m.add_function(wrap_pyfunction!(select_sequential, m)?)?;
    m.add_function(wrap_pyfunction!(split_k, m)?)?;
    m.add_function(wrap_pyfunction!(sequential_capacities, m)?)?;
    m.add_function(wrap_pyfunction!(sample_with_replacement, m)?)?;
    m.add_function(wrap_pyfunction!(kl_reduction, m)?)?;
    Ok(())
}
