//! Binding of `fasttext`: the `FastTextModel` class (documented in `tamis.quality.fasttext`).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;

use super::convert::{text_column, DataArg, OffsetsArg, ValidityArg};
use super::errors::PyExt;
use crate::fasttext::FastText;

/// A loaded supervised fastText model (`.bin` or `.ftz`).
#[pyclass(name = "FastTextModel", module = "tamis._core", frozen)]
pub(crate) struct PyFastText {
    inner: FastText,
}

type Pair<'py, A, B> = (Bound<'py, A>, Bound<'py, B>);

#[pymethods]
impl PyFastText {
    /// Reads a model file (the GIL is released while it is parsed).
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let inner = py.compute(|| FastText::load(&path))?;
        Ok(Self { inner })
    }

    /// Reads a model from the bytes of its file.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = py.compute(|| FastText::from_bytes(data))?;
        Ok(Self { inner })
    }

    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.args().dim
    }

    #[getter]
    fn loss(&self) -> &'static str {
        self.inner.args().loss.name()
    }

    #[getter]
    fn word_ngrams(&self) -> i32 {
        self.inner.args().word_ngrams
    }

    #[getter]
    fn minn(&self) -> i32 {
        self.inner.args().minn
    }

    #[getter]
    fn maxn(&self) -> i32 {
        self.inner.args().maxn
    }

    #[getter]
    fn bucket(&self) -> i32 {
        self.inner.args().bucket
    }

    #[getter]
    fn n_words(&self) -> usize {
        self.inner.n_words()
    }

    #[getter]
    fn quantized(&self) -> bool {
        self.inner.is_quantized()
    }

    /// Top-k label indices `(n, k)` int32 (-1: none) and probabilities `(n, k)` float64.
    #[pyo3(signature = (offsets, data, validity = None, *, k = 1, threshold = 0.0, n_threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        k: usize,
        threshold: f32,
        n_threads: Option<usize>,
    ) -> PyResult<Pair<'py, PyArray2<i32>, PyArray2<f64>>> {
        let col = text_column(&offsets, &data, &validity)?;
        let m = &self.inner;
        let p = py.compute(|| m.predict(&col, k, threshold, n_threads))?;
        let n = p.labels.len().checked_div(p.k).unwrap_or(0);
        Ok((
            p.labels.into_pyarray(py).reshape([n, p.k])?,
            p.probs.into_pyarray(py).reshape([n, p.k])?,
        ))
    }

    /// Probability of label index `label` per row (0.0: not reported; NaN: null row).
    #[pyo3(signature = (offsets, data, validity = None, *, label, n_threads = None))]
    fn label_probs<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        label: usize,
        n_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let col = text_column(&offsets, &data, &validity)?;
        let m = &self.inner;
        Ok(py
            .compute(|| m.label_probs(&col, label, n_threads))?
            .into_pyarray(py))
    }

    /// The input-matrix rows of one text (words, subwords, word n-grams), for tests.
    fn input_rows(&self, text: &str) -> Vec<u32> {
        self.inner.input_rows(text)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFastText>()?;
    Ok(())
}
