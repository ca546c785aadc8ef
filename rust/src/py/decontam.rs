//! Binding of `decontam`: the n-gram index and scan, and the datatrove-compatible mode.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{slice, text_column, DataArg, OffsetsArg, ValidityArg};
use super::errors::PyExt;
use crate::decontam::datatrove::{self, Config, DtIndex, Splits};
use crate::decontam::{scan, DocMatch, Index, IndexParts};

/// The decontamination index (see `tamis.decontam.DecontaminationIndex`).
#[pyclass(name = "DecontamIndex", module = "tamis._core", frozen)]
pub(crate) struct PyDecontamIndex {
    inner: Index,
}

/// CSR arrays of a per-document list: offsets and the flattened values.
fn csr<T: Copy, U>(
    docs: &[DocMatch],
    get: impl Fn(&DocMatch) -> &[T],
    f: impl Fn(T) -> U,
) -> (Vec<i64>, Vec<U>) {
    let mut indptr = Vec::with_capacity(docs.len() + 1);
    indptr.push(0i64);
    let mut vals = Vec::new();
    for d in docs {
        vals.extend(get(d).iter().copied().map(&f));
        indptr.push(vals.len() as i64);
    }
    (indptr, vals)
}

#[pymethods]
impl PyDecontamIndex {
    #[staticmethod]
    #[pyo3(signature = (offsets, data, validity, item_set, n_sets, *, ngram = 13, min_tokens = 8, n_threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn build<'py>(
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        item_set: PyReadonlyArray1<'py, u32>,
        n_sets: usize,
        ngram: usize,
        min_tokens: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Self> {
        let col = text_column(&offsets, &data, &validity)?;
        let sets = slice(&item_set, "item_set")?;
        let inner =
            py.compute(|| Index::build(&col, sets, n_sets, ngram, min_tokens, n_threads))?;
        Ok(Self { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (*, ngram, min_tokens, n_sets, keys, owners, short_keys, short_owners,
                        short_lengths, multi_indptr, multi_items, item_set, item_ngrams))]
    #[allow(clippy::too_many_arguments)]
    fn from_arrays<'py>(
        py: Python<'py>,
        ngram: usize,
        min_tokens: usize,
        n_sets: usize,
        keys: PyReadonlyArray1<'py, u64>,
        owners: PyReadonlyArray1<'py, u32>,
        short_keys: PyReadonlyArray1<'py, u64>,
        short_owners: PyReadonlyArray1<'py, u32>,
        short_lengths: PyReadonlyArray1<'py, u32>,
        multi_indptr: PyReadonlyArray1<'py, u64>,
        multi_items: PyReadonlyArray1<'py, u32>,
        item_set: PyReadonlyArray1<'py, u32>,
        item_ngrams: PyReadonlyArray1<'py, u32>,
    ) -> PyResult<Self> {
        let parts = IndexParts {
            ngram,
            min_tokens,
            n_sets,
            keys: slice(&keys, "keys")?.to_vec(),
            owners: slice(&owners, "owners")?.to_vec(),
            short_keys: slice(&short_keys, "short_keys")?.to_vec(),
            short_owners: slice(&short_owners, "short_owners")?.to_vec(),
            short_lengths: slice(&short_lengths, "short_lengths")?.to_vec(),
            multi_indptr: slice(&multi_indptr, "multi_indptr")?.to_vec(),
            multi_items: slice(&multi_items, "multi_items")?.to_vec(),
            item_set: slice(&item_set, "item_set")?.to_vec(),
            item_ngrams: slice(&item_ngrams, "item_ngrams")?.to_vec(),
        };
        let inner = py.compute(|| Index::from_parts(parts))?;
        Ok(Self { inner })
    }

    /// The arrays `from_arrays` takes (copies).
    fn arrays<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let m = self.inner.meta();
        d.set_item("keys", self.inner.long().keys().to_vec().into_pyarray(py))?;
        d.set_item(
            "owners",
            self.inner.long().values().to_vec().into_pyarray(py),
        )?;
        d.set_item(
            "short_keys",
            self.inner.short().keys().to_vec().into_pyarray(py),
        )?;
        d.set_item(
            "short_owners",
            self.inner.short().values().to_vec().into_pyarray(py),
        )?;
        d.set_item("short_lengths", m.short_lengths.clone().into_pyarray(py))?;
        d.set_item("multi_indptr", m.multi_indptr.clone().into_pyarray(py))?;
        d.set_item("multi_items", m.multi_items.clone().into_pyarray(py))?;
        d.set_item("item_set", m.item_set.clone().into_pyarray(py))?;
        d.set_item("item_ngrams", m.item_ngrams.clone().into_pyarray(py))?;
        Ok(d)
    }

    #[getter]
    fn ngram(&self) -> usize {
        self.inner.ngram()
    }

    #[getter]
    fn min_tokens(&self) -> usize {
        self.inner.meta().min_tokens
    }

    #[getter]
    fn n_sets(&self) -> usize {
        self.inner.meta().n_sets
    }

    #[getter]
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }

    #[getter]
    fn n_ngrams(&self) -> usize {
        self.inner.n_ngrams()
    }

    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.nbytes()
    }

    /// Scans a text column; returns a dict of per-document arrays and CSR lists.
    #[pyo3(signature = (offsets, data, validity, *, max_items = 10, n_threads = None))]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        max_items: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let col = text_column(&offsets, &data, &validity)?;
        let idx = &self.inner;
        let docs = py.compute(|| scan(idx, &col, max_items, n_threads))?;
        let d = PyDict::new(py);
        let col_u32 = |f: fn(&DocMatch) -> u32| -> Vec<u32> { docs.iter().map(f).collect() };
        d.set_item("n_tokens", col_u32(|m| m.n_tokens).into_pyarray(py))?;
        d.set_item("n_ngrams", col_u32(|m| m.n_ngrams).into_pyarray(py))?;
        d.set_item("n_matched", col_u32(|m| m.n_matched).into_pyarray(py))?;
        d.set_item(
            "n_short_matched",
            col_u32(|m| m.n_short_matched).into_pyarray(py),
        )?;
        d.set_item("n_items", col_u32(|m| m.n_items).into_pyarray(py))?;
        let (ip, starts) = csr(&docs, |m| &m.windows, |w| w.0);
        let (_, lens) = csr(&docs, |m| &m.windows, |w| w.1);
        d.set_item("window_indptr", ip.into_pyarray(py))?;
        d.set_item("window_start", starts.into_pyarray(py))?;
        d.set_item("window_len", lens.into_pyarray(py))?;
        let (ip, a) = csr(&docs, |m| &m.spans, |s| s.0 as i64);
        let (_, b) = csr(&docs, |m| &m.spans, |s| s.1 as i64);
        d.set_item("span_indptr", ip.into_pyarray(py))?;
        d.set_item("span_start", a.into_pyarray(py))?;
        d.set_item("span_end", b.into_pyarray(py))?;
        let (ip, items) = csr(&docs, |m| &m.items, |s| s.0);
        let (_, counts) = csr(&docs, |m| &m.items, |s| s.1);
        d.set_item("item_indptr", ip.into_pyarray(py))?;
        d.set_item("item_ids", items.into_pyarray(py))?;
        d.set_item("item_counts", counts.into_pyarray(py))?;
        let (ip, sets) = csr(&docs, |m| &m.sets, |s| s);
        d.set_item("set_indptr", ip.into_pyarray(py))?;
        d.set_item("set_ids", sets.into_pyarray(py))?;
        Ok(d)
    }
}

/// spaCy's tokens of the chunks it splits (see `datatrove::Splits`).
#[pyclass(name = "DatatroveSplits", module = "tamis._core")]
#[derive(Default)]
pub(crate) struct PySplits {
    inner: Splits,
}

#[pymethods]
impl PySplits {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Records the tokens of `chunk`.
    fn insert(&mut self, chunk: String, tokens: Vec<String>) {
        self.inner.insert(chunk, tokens);
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A datatrove-compatible index (hash → eval set).
#[pyclass(name = "DatatroveIndex", module = "tamis._core", frozen)]
pub(crate) struct PyDtIndex {
    inner: DtIndex,
}

type Filtered<'py> = (
    Bound<'py, PyArray1<bool>>,
    Vec<Option<String>>,
    Bound<'py, PyArray1<i64>>,
);

#[pymethods]
impl PyDtIndex {
    #[staticmethod]
    #[pyo3(signature = (labels, queries, item_set, splits, *, ngram = 12, find_query_ngrams = false,
                        find_overlap_ngrams = true, n_threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn build<'py>(
        py: Python<'py>,
        labels: Vec<String>,
        queries: Option<Vec<String>>,
        item_set: PyReadonlyArray1<'py, u32>,
        splits: PyRef<'py, PySplits>,
        ngram: usize,
        find_query_ngrams: bool,
        find_overlap_ngrams: bool,
        n_threads: Option<usize>,
    ) -> PyResult<Self> {
        let sets = slice(&item_set, "item_set")?;
        let config = Config {
            ngram,
            find_query_ngrams,
            find_overlap_ngrams,
        };
        let sp = &splits.inner;
        let inner =
            py.compute(|| DtIndex::build(&labels, queries.as_ref(), sets, config, sp, n_threads))?;
        Ok(Self { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (hashes, sets, *, ngram = 12, find_query_ngrams = false, find_overlap_ngrams = true))]
    fn from_arrays(
        py: Python<'_>,
        hashes: PyReadonlyArray1<'_, u64>,
        sets: PyReadonlyArray1<'_, u32>,
        ngram: usize,
        find_query_ngrams: bool,
        find_overlap_ngrams: bool,
    ) -> PyResult<Self> {
        let (h, s) = (
            slice(&hashes, "hashes")?.to_vec(),
            slice(&sets, "sets")?.to_vec(),
        );
        let config = Config {
            ngram,
            find_query_ngrams,
            find_overlap_ngrams,
        };
        let inner = py.compute(|| DtIndex::from_hashes(h, s, config))?;
        Ok(Self { inner })
    }

    /// `(hashes, sets)`.
    fn arrays<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u32>>) {
        let k = self.inner.keys();
        (
            k.keys().to_vec().into_pyarray(py),
            k.values().to_vec().into_pyarray(py),
        )
    }

    #[getter]
    fn ngram(&self) -> usize {
        self.inner.config.ngram
    }

    #[getter]
    fn find_query_ngrams(&self) -> bool {
        self.inner.config.find_query_ngrams
    }

    #[getter]
    fn find_overlap_ngrams(&self) -> bool {
        self.inner.config.find_overlap_ngrams
    }

    /// `(keep, first contaminated n-gram or None, its set or -1)` per row.
    #[pyo3(signature = (offsets, data, validity, splits, *, n_threads = None))]
    fn filter<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        splits: PyRef<'py, PySplits>,
        n_threads: Option<usize>,
    ) -> PyResult<Filtered<'py>> {
        let col = text_column(&offsets, &data, &validity)?;
        let (idx, sp) = (&self.inner, &splits.inner);
        let res = py.compute(|| idx.filter(&col, sp, n_threads))?;
        let keep: Vec<bool> = res.iter().map(Option::is_none).collect();
        let sets: Vec<i64> = res
            .iter()
            .map(|r| r.as_ref().map_or(-1, |m| i64::from(m.1)))
            .collect();
        let ngrams = res.into_iter().map(|r| r.map(|m| m.0)).collect();
        Ok((keep.into_pyarray(py), ngrams, sets.into_pyarray(py)))
    }
}

/// datatrove's `simplify_text` (default configuration).
#[pyfunction]
pub(crate) fn datatrove_simplify(py: Python<'_>, text: &str) -> PyResult<String> {
    py.compute(|| Ok(datatrove::simplify(text)))
}

/// The distinct space-free chunks of the simplified texts of a column, sorted.
#[pyfunction]
#[pyo3(signature = (offsets, data, validity, *, n_threads = None))]
pub(crate) fn datatrove_chunks<'py>(
    py: Python<'py>,
    offsets: OffsetsArg<'py>,
    data: DataArg<'py>,
    validity: ValidityArg<'py>,
    n_threads: Option<usize>,
) -> PyResult<Vec<String>> {
    let col = text_column(&offsets, &data, &validity)?;
    py.compute(|| datatrove::distinct_chunks(&col, n_threads))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDecontamIndex>()?;
    m.add_class::<PySplits>()?;
    m.add_class::<PyDtIndex>()?;
    m.add_function(wrap_pyfunction!(datatrove_simplify, m)?)?;
    m.add_function(wrap_pyfunction!(datatrove_chunks, m)?)?;
    Ok(())
}
