//! Binding of `ngram`: the `Featurizer` class over Arrow buffers.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadwriteArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{
    analyzer as parse_analyzer, hash_kind, normalizer, slice_mut, text_column, DataArg, OffsetsArg,
    ValidityArg,
};
use super::errors::PyExt;
use crate::alloc;
use crate::column::Texts;
use crate::ngram::{self, NgramConfig, Scratch};

/// Hashed n-gram featuriser (see `tamis.HashingFeaturizer` for the documented API).
#[pyclass(name = "Featurizer", module = "tamis._core", frozen)]
pub(crate) struct PyFeaturizer {
    pub(crate) cfg: NgramConfig,
}

type CsrOut<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u64>>,
);

type DenseOut<'py> = (Bound<'py, PyArray2<u32>>, Bound<'py, PyArray1<u64>>);

#[pymethods]
impl PyFeaturizer {
    #[new]
    #[pyo3(signature = (*, n_buckets, min_n, max_n, analyzer = "word", lowercase = true, nfkc = false,
                        strip_punctuation = false, fold_whitespace = false, seed = 0, hash = "xxh3"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        n_buckets: u32,
        min_n: usize,
        max_n: usize,
        analyzer: &str,
        lowercase: bool,
        nfkc: bool,
        strip_punctuation: bool,
        fold_whitespace: bool,
        seed: u64,
        hash: &str,
    ) -> PyResult<Self> {
        let cfg = NgramConfig {
            normalizer: normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace),
            analyzer: parse_analyzer(analyzer)?,
            min_n,
            max_n,
            n_buckets,
            seed,
            hash: hash_kind(hash)?,
        };
        cfg.validate()?;
        Ok(Self { cfg })
    }

    /// Buckets of every n-gram of one text, in text order (for inspection and tests).
    fn buckets(&self, py: Python<'_>, text: &str) -> PyResult<Vec<u32>> {
        let cfg = &self.cfg;
        py.compute(|| {
            let mut out = Vec::new();
            cfg.for_each_bucket(text, &mut Scratch::default(), |b| out.push(b));
            Ok(out)
        })
    }

    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn count_tokens<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let col = text_column(&offsets, &data, &validity)?;
        let cfg = &self.cfg;
        Ok(py
            .compute(|| ngram::count_tokens(cfg, &col, n_threads))?
            .into_pyarray(py))
    }

    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn transform_csr<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<CsrOut<'py>> {
        let col = text_column(&offsets, &data, &validity)?;
        let cfg = &self.cfg;
        let csr = py.compute(|| ngram::transform_csr(cfg, &col, n_threads))?;
        Ok((
            csr.indptr.into_pyarray(py),
            csr.indices.into_pyarray(py),
            csr.counts.into_pyarray(py),
            csr.n_tokens.into_pyarray(py),
        ))
    }

    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn transform_dense<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<DenseOut<'py>> {
        let col = text_column(&offsets, &data, &validity)?;
        let cfg = &self.cfg;
        let nb = cfg.n_buckets as usize;
        let n = col.len();
        let (dense, n_tokens) = py.compute(|| {
            let mut dense = alloc::zeroed_2d::<u32>(
                n,
                nb,
                "n_buckets",
                "uint32 dense counts (rows × n_buckets)",
            )?;
            let n_tokens = ngram::transform_dense(cfg, &col, &mut dense, n_threads)?;
            Ok((dense, n_tokens))
        })?;
        let dense = dense.into_pyarray(py).reshape([n, nb])?;
        Ok((dense, n_tokens.into_pyarray(py)))
    }

    #[pyo3(signature = (offsets, data, counts, validity = None, n_threads = None))]
    fn accumulate<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        mut counts: PyReadwriteArray1<'py, u64>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let col = text_column(&offsets, &data, &validity)?;
        let counts = slice_mut(&mut counts, "counts")?;
        let cfg = &self.cfg;
        let st = py.compute(|| ngram::accumulate(cfg, &col, counts, n_threads))?;
        let d = PyDict::new(py);
        d.set_item("n_docs", st.n_docs)?;
        d.set_item("n_null", st.n_null)?;
        d.set_item("n_tokens", st.n_tokens)?;
        d.set_item("n_ngrams", st.n_ngrams)?;
        Ok(d)
    }
}
