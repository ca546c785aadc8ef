//! Binding of `balance`: the entry matcher, the balancing draw, keyed draws and MIG's greedy.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use super::convert::{choice, normalizer, slice, text_column, DataArg, OffsetsArg, ValidityArg};
use super::errors::PyExt;
use crate::balance::draw;
use crate::balance::entries::{EntryMatcher, MatchOptions};
use crate::balance::mig::{self, Phi};
use crate::balance::CsrView;

type Arr<'py, T> = Bound<'py, PyArray1<T>>;
/// `(indptr, indices, values, doc_counts, n_null)` of a batch of matches.
type MatchArrays<'py> = (
    Arr<'py, i64>,
    Arr<'py, u32>,
    Arr<'py, u32>,
    Arr<'py, u64>,
    u64,
);

/// Aho–Corasick matcher over a list of entries (see `tamis.EntryMatcher`).
#[pyclass(name = "EntryMatcher", module = "tamis._core", frozen)]
pub(crate) struct PyEntryMatcher {
    inner: EntryMatcher,
}

#[pymethods]
impl PyEntryMatcher {
    #[new]
    #[pyo3(signature = (offsets, data, validity = None, *, lowercase = true, nfkc = false,
                        strip_punctuation = false, fold_whitespace = false,
                        word_boundary = true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        offsets: OffsetsArg<'_>,
        data: DataArg<'_>,
        validity: ValidityArg<'_>,
        lowercase: bool,
        nfkc: bool,
        strip_punctuation: bool,
        fold_whitespace: bool,
        word_boundary: bool,
    ) -> PyResult<Self> {
        let col = text_column(&offsets, &data, &validity)?;
        let options = MatchOptions {
            normalizer: normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace),
            word_boundary,
        };
        let inner = py.compute(|| EntryMatcher::new(&col, options))?;
        Ok(Self { inner })
    }

    #[getter]
    fn n_entries(&self) -> usize {
        self.inner.n_entries()
    }

    #[getter]
    fn memory_usage(&self) -> usize {
        self.inner.memory_usage()
    }

    /// Matches a batch of texts: `(indptr, indices, values, doc_counts, n_null)`.
    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn match_texts<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<MatchArrays<'py>> {
        let col = text_column(&offsets, &data, &validity)?;
        let m = &self.inner;
        let r = py.compute(|| m.match_texts(&col, n_threads))?;
        Ok((
            r.csr.indptr.into_pyarray(py),
            r.csr.indices.into_pyarray(py),
            r.csr.values.into_pyarray(py),
            r.doc_counts.into_pyarray(py),
            r.n_null,
        ))
    }
}

/// MetaCLIP's balancing draw: `(keep, probability, entry)` per document.
#[pyfunction]
#[pyo3(signature = (indptr, indices, values, counts, entry_keys, id_hashes, *, t, seed,
                    keep_unmatched = false, n_threads = None))]
#[allow(clippy::too_many_arguments)]
fn balance_draw<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, u32>,
    counts: PyReadonlyArray1<'py, u64>,
    entry_keys: PyReadonlyArray1<'py, u64>,
    id_hashes: PyReadonlyArray1<'py, u64>,
    t: f64,
    seed: u64,
    keep_unmatched: bool,
    n_threads: Option<usize>,
) -> PyResult<(Arr<'py, bool>, Arr<'py, f64>, Arr<'py, i64>)> {
    let counts = slice(&counts, "counts")?;
    let keys = slice(&entry_keys, "entry_keys")?;
    let ids = slice(&id_hashes, "id_hashes")?;
    let m = CsrView::new(
        "matches",
        slice(&indptr, "indptr")?,
        slice(&indices, "indices")?,
        slice(&values, "values")?,
        counts.len(),
    )?;
    let d =
        py.compute(|| draw::balance(m, counts, keys, ids, t, seed, keep_unmatched, n_threads))?;
    Ok((
        d.keep.into_pyarray(py),
        d.probability.into_pyarray(py),
        d.entry.into_pyarray(py),
    ))
}

/// `keyed_uniform(seed, keys[i], id_hashes[i])` for every row, in `(0, 1]`.
#[pyfunction]
#[pyo3(signature = (keys, id_hashes, *, seed, n_threads = None))]
fn keyed_uniforms<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, u64>,
    id_hashes: PyReadonlyArray1<'py, u64>,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<Arr<'py, f64>> {
    let keys = slice(&keys, "keys")?;
    let ids = slice(&id_hashes, "id_hashes")?;
    let out = py.compute(|| draw::keyed_uniforms(keys, ids, seed, n_threads))?;
    Ok(out.into_pyarray(py))
}

/// Greedy maximisation of `Σ_j φ(Σ_{i∈S} w_ij)`: `(rows, gains, n_evaluations)`.
#[pyfunction]
#[pyo3(signature = (indptr, indices, values, n_labels, *, k, phi = "power", alpha = 0.8,
                    lazy = true, n_threads = None))]
#[allow(clippy::too_many_arguments)]
fn mig_greedy<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, u32>,
    values: PyReadonlyArray1<'py, f64>,
    n_labels: usize,
    k: usize,
    phi: &str,
    alpha: f64,
    lazy: bool,
    n_threads: Option<usize>,
) -> PyResult<(Arr<'py, u32>, Arr<'py, f64>, u64)> {
    #[derive(Clone, Copy)]
    enum Kind {
        Power,
        Log1p,
    }
    let phi = match choice(
        "phi",
        phi,
        &[("power", Kind::Power), ("log1p", Kind::Log1p)],
    )? {
        Kind::Power => Phi::Power(alpha),
        Kind::Log1p => Phi::Log1p,
    };
    let w = CsrView::new(
        "weights",
        slice(&indptr, "indptr")?,
        slice(&indices, "indices")?,
        slice(&values, "values")?,
        n_labels,
    )?;
    let s = py.compute(|| {
        if lazy {
            mig::lazy_greedy(w, phi, k, n_threads)
        } else {
            mig::greedy(w, phi, k, n_threads)
        }
    })?;
    Ok((
        s.order.into_pyarray(py),
        s.gains.into_pyarray(py),
        s.n_evaluations,
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEntryMatcher>()?;
    m.add_function(wrap_pyfunction!(balance_draw, m)?)?;
    m.add_function(wrap_pyfunction!(keyed_uniforms, m)?)?;
    m.add_function(wrap_pyfunction!(mig_greedy, m)?)?;
    Ok(())
}
