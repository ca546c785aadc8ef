//! Binding of `importance`: the fitted model, Gumbel keys, streaming top-k and the KL metric.

use std::sync::{Mutex, MutexGuard, PoisonError};

use numpy::ndarray::ArrayView2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyReadwriteArray1,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::convert::{opt_slice, slice, slice_mut, text_column, DataArg, OffsetsArg, ValidityArg};
use super::errors::PyExt;
use super::ngram::PyFeaturizer;
use crate::column::Texts;
use crate::error::Error;
use crate::hash::hash64;
use crate::importance::resample::{self, Entry, TopK};
use crate::importance::tape;
use crate::importance::{self, Counts, ImportanceModel, Smoothing};
use crate::rng::gumbel;

/// One [`Counts`] per row of a `(n_targets, n_buckets)` count matrix (copied: the model owns them).
fn counts_rows(a: ArrayView2<'_, u64>, name: &'static str) -> crate::Result<Vec<Counts>> {
    if a.nrows() == 0 {
        return Err(Error::param(name, "has no rows"));
    }
    Ok(a.rows()
        .into_iter()
        .map(|r| Counts {
            counts: r.to_vec(),
            ..Counts::default()
        })
        .collect())
}

fn counts_of(a: &[u64]) -> Counts {
    Counts {
        counts: a.to_vec(),
        ..Counts::default()
    }
}

/// A fitted DSIR model (see `tamis.ImportanceResampler`).
#[pyclass(name = "ImportanceModel", module = "tamis._core", frozen)]
pub(crate) struct PyImportanceModel {
    inner: ImportanceModel,
}

type WeightsOut<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<u64>>);
type TapeOut<'py> = (
    Bound<'py, PyArray1<u16>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
);

#[pymethods]
impl PyImportanceModel {
    /// Fits log ratios from target counts (`n_targets × n_buckets`) and raw counts.
    #[staticmethod]
    #[pyo3(signature = (featurizer, target_counts, raw_counts, *, alpha = 0.0, smooth_raw = false, eps = 1e-8))]
    fn fit(
        py: Python<'_>,
        featurizer: PyRef<'_, PyFeaturizer>,
        target_counts: PyReadonlyArray2<'_, u64>,
        raw_counts: PyReadonlyArray1<'_, u64>,
        alpha: f64,
        smooth_raw: bool,
        eps: f64,
    ) -> PyResult<Self> {
        let targets = target_counts.as_array();
        let raw = slice(&raw_counts, "raw_counts")?;
        let smoothing = Smoothing {
            alpha,
            raw: smooth_raw,
            eps,
        };
        let cfg = featurizer.cfg;
        let inner = py.compute(|| {
            let targets = counts_rows(targets, "target_counts")?;
            ImportanceModel::fit(cfg, &targets, &counts_of(raw), smoothing)
        })?;
        Ok(Self { inner })
    }

    /// A model from saved log ratios (`n_buckets × n_targets`).
    #[staticmethod]
    fn from_log_ratio(
        py: Python<'_>,
        featurizer: PyRef<'_, PyFeaturizer>,
        log_ratio: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Self> {
        let lr = log_ratio.as_array();
        let cfg = featurizer.cfg;
        let inner = py.compute(|| {
            let values: Vec<f64> = lr.iter().copied().collect();
            ImportanceModel::from_log_ratio(cfg, lr.ncols(), values)
        })?;
        Ok(Self { inner })
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
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        length_norm: Option<f64>,
        n_threads: Option<usize>,
    ) -> PyResult<WeightsOut<'py>> {
        let col = text_column(&offsets, &data, &validity)?;
        let n = col.len();
        let model = &self.inner;
        let (w, nt) = py.compute(|| model.log_weights(&col, length_norm, n_threads))?;
        Ok((
            w.into_pyarray(py).reshape([n, model.n_targets()])?,
            nt.into_pyarray(py),
        ))
    }

    /// `log_weights` of the rows of a tape (`tape_record`'s arrays, or one batch's slice of them).
    #[pyo3(signature = (ids, lens, n_tokens, *, length_norm = None, n_threads = None))]
    fn log_weights_tape<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u16>,
        lens: PyReadonlyArray1<'py, u64>,
        n_tokens: PyReadonlyArray1<'py, u64>,
        length_norm: Option<f64>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (ids, lens) = (slice(&ids, "ids")?, slice(&lens, "lens")?);
        let n_tokens = slice(&n_tokens, "n_tokens")?;
        let model = &self.inner;
        let w =
            py.compute(|| model.log_weights_tape(ids, lens, n_tokens, length_norm, n_threads))?;
        w.into_pyarray(py).reshape([lens.len(), model.n_targets()])
    }
}

/// Adds a text column's bucket counts into `counts` and returns its tape: the bucket id of every
/// n-gram (`uint16`, row after row), n-grams per row and tokens per row.
#[pyfunction]
#[pyo3(signature = (featurizer, offsets, data, counts, validity = None, n_threads = None))]
#[allow(clippy::too_many_arguments)]
fn tape_record<'py>(
    py: Python<'py>,
    featurizer: PyRef<'py, PyFeaturizer>,
    offsets: OffsetsArg<'py>,
    data: DataArg<'py>,
    mut counts: PyReadwriteArray1<'py, u64>,
    validity: ValidityArg<'py>,
    n_threads: Option<usize>,
) -> PyResult<TapeOut<'py>> {
    let col = text_column(&offsets, &data, &validity)?;
    let counts = slice_mut(&mut counts, "counts")?;
    let cfg = featurizer.cfg;
    let t = py.compute(|| tape::record(&cfg, &col, counts, n_threads))?;
    Ok((
        t.ids.into_pyarray(py),
        t.lens.into_pyarray(py),
        t.n_tokens.into_pyarray(py),
    ))
}

/// XXH3-64 (seed 0) of every id string; null ids hash as the empty string.
#[pyfunction]
#[pyo3(signature = (offsets, data, validity = None))]
fn id_hashes<'py>(
    py: Python<'py>,
    offsets: OffsetsArg<'py>,
    data: DataArg<'py>,
    validity: ValidityArg<'py>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let col = text_column(&offsets, &data, &validity)?;
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
    let out = py.compute(|| {
        Ok(ids
            .iter()
            .map(|&h| gumbel(seed, target, h))
            .collect::<Vec<f64>>())
    })?;
    Ok(out.into_pyarray(py))
}

/// The selection behind a [`PyTopK`]; a panic in another push does not poison it for good.
fn lock(m: &Mutex<TopK>) -> MutexGuard<'_, TopK> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let elig = opt_slice(eligible.as_ref(), "eligible")?;
        if ids.len() != keys.len()
            || pos.len() != keys.len()
            || elig.is_some_and(|e| e.len() != keys.len())
        {
            return Err(PyValueError::new_err(
                "keys, id_hashes, positions and eligible must have the same length",
            ));
        }
        let inner = &self.inner;
        let kept = py.compute(|| {
            let mut top = lock(inner);
            Ok((0..keys.len())
                .map(|i| {
                    elig.is_none_or(|e| e[i])
                        && top.push(Entry {
                            key: keys[i],
                            id_hash: ids[i],
                            pos: pos[i],
                        })
                })
                .collect::<Vec<bool>>())
        })?;
        Ok(kept.into_pyarray(py))
    }

    /// Adds another selection's entries.
    fn merge(&self, py: Python<'_>, other: PyRef<'_, PyTopK>) -> PyResult<()> {
        let (mine, theirs) = (&self.inner, &other.inner);
        py.compute(|| {
            // Cloned first so that merging a selection into itself does not lock twice.
            let theirs = lock(theirs).clone();
            lock(mine).merge(theirs);
            Ok(())
        })
    }

    /// Kept entries, best first: `(keys, id_hashes, positions)`.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<EntriesOut<'py>> {
        let inner = &self.inner;
        let (keys, ids, pos) = py.compute(|| {
            let sorted = lock(inner).clone().into_sorted();
            let keys: Vec<f64> = sorted.iter().map(|e| e.key).collect();
            let ids: Vec<u64> = sorted.iter().map(|e| e.id_hash).collect();
            let pos: Vec<u64> = sorted.iter().map(|e| e.pos).collect();
            Ok((keys, ids, pos))
        })?;
        Ok((
            keys.into_pyarray(py),
            ids.into_pyarray(py),
            pos.into_pyarray(py),
        ))
    }

    #[getter]
    fn k(&self) -> usize {
        lock(&self.inner).k()
    }

    #[getter]
    fn seen(&self) -> u64 {
        lock(&self.inner).seen()
    }

    fn __len__(&self) -> usize {
        lock(&self.inner).len()
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
    let inners: Vec<&Mutex<TopK>> = tops.iter().map(|t| &t.inner).collect();
    let (pos, tgt) = py.compute(|| {
        let cands: Vec<Vec<Entry>> = inners
            .iter()
            .map(|m| lock(m).clone().into_sorted())
            .collect();
        let sel = resample::select_sequential(&cands, &ks)?;
        let pos: Vec<u64> = sel.iter().map(|s| s.0).collect();
        let tgt: Vec<u64> = sel.iter().map(|s| s.1 as u64).collect();
        Ok((pos, tgt))
    })?;
    Ok((pos.into_pyarray(py), tgt.into_pyarray(py)))
}

/// Splits k across targets like the reference (`floor(k·p)`, remainder to the last).
#[pyfunction]
fn split_k(py: Python<'_>, k: usize, proportions: Vec<f64>) -> PyResult<Vec<usize>> {
    py.compute(|| resample::split_k(k, &proportions))
}

/// Capacities per target for exact sequential selection.
#[pyfunction]
fn sequential_capacities(py: Python<'_>, ks: Vec<usize>) -> PyResult<Vec<usize>> {
    py.compute(|| Ok(resample::sequential_capacities(&ks)))
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
    let elig = opt_slice(eligible.as_ref(), "eligible")?;
    Ok(py
        .compute(|| resample::sample_with_replacement(lw, elig, k, seed))?
        .into_pyarray(py))
}

/// The paper's KL reduction from bucket counts (targets `n_targets × n_buckets`).
#[pyfunction]
fn kl_reduction(
    py: Python<'_>,
    target_counts: PyReadonlyArray2<'_, u64>,
    raw_counts: PyReadonlyArray1<'_, u64>,
    selected_counts: PyReadonlyArray1<'_, u64>,
) -> PyResult<f64> {
    let targets = target_counts.as_array();
    let raw = slice(&raw_counts, "raw_counts")?;
    let selected = slice(&selected_counts, "selected_counts")?;
    py.compute(|| {
        let targets = counts_rows(targets, "target_counts")?;
        importance::kl_reduction(&targets, &counts_of(raw), &counts_of(selected))
    })
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
    m.add_function(wrap_pyfunction!(tape_record, m)?)?;
    Ok(())
}
