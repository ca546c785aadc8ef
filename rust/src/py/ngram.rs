//! Binding of `ngram`: the `Featurizer` class over Arrow buffers.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{text_column, OffsetsArg};
use super::errors::PyExt;
use super::text::normalizer;
use crate::alloc;
use crate::ngram::{self, Analyzer, HashKind, NgramConfig, Scratch};

/// Parses the `hash` argument: `"xxh3"` or `"sha256"` (the DSIR reference's bucket function).
pub(crate) fn hash_kind(hash: &str) -> PyResult<HashKind> {
    match hash {
        "xxh3" => Ok(HashKind::Xxh3),
        "sha256" => Ok(HashKind::Sha256Mod),
        other => Err(PyValueError::new_err(format!(
            "hash must be 'xxh3' or 'sha256', got {other:?}"
        ))),
    }
}

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
        let analyzer = match analyzer {
            "word" => Analyzer::Word,
            "char" => Analyzer::Char,
            other => {
                return Err(PyValueError::new_err(format!(
                    "analyzer must be 'word' or 'char', got {other:?}"
                )))
            }
        };
        let cfg = NgramConfig {
            normalizer: normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace),
            analyzer,
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
    fn buckets(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.cfg
            .for_each_bucket(text, &mut Scratch::default(), |b| out.push(b));
        out
    }

    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn count_tokens<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: PyReadonlyArray1<'py, u8>,
        validity: Option<PyReadonlyArray1<'py, bool>>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let col = text_column(&offsets, &data, validity.as_ref())?;
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
        data: PyReadonlyArray1<'py, u8>,
        validity: Option<PyReadonlyArray1<'py, bool>>,
        n_threads: Option<usize>,
    ) -> PyResult<CsrOut<'py>> {
        let col = text_column(&offsets, &data, validity.as_ref())?;
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
        data: PyReadonlyArray1<'py, u8>,
        validity: Option<PyReadonlyArray1<'py, bool>>,
        n_threads: Option<usize>,
    ) -> PyResult<DenseOut<'py>> {
        let col = text_column(&offsets, &data, validity.as_ref())?;
        let cfg = &self.cfg;
        let nb = cfg.n_buckets as usize;
        let n = crate::column::Texts::len(&col);
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
        data: PyReadonlyArray1<'py, u8>,
        mut counts: PyReadwriteArray1<'py, u64>,
        validity: Option<PyReadonlyArray1<'py, bool>>,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let col = text_column(&offsets, &data, validity.as_ref())?;
        let counts = counts
            .as_slice_mut()
            .map_err(|_| PyValueError::new_err("counts must be a contiguous uint64 array"))?;
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
