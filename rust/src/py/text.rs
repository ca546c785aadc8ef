//! Bindings of `text` and `hash`: single-string helpers used for inspection and tests.

use pyo3::prelude::*;

use super::convert::normalizer;
use super::errors::PyExt;
use crate::hash::hash64;
use crate::text::word_tokens;

/// XXH3-64 of `data` with `seed`.
#[pyfunction]
#[pyo3(signature = (data, seed = 0))]
pub(crate) fn xxh3_64(py: Python<'_>, data: &[u8], seed: u64) -> PyResult<u64> {
    py.compute(|| Ok(hash64(data, seed)))
}

/// Normalises one text.
#[pyfunction]
#[pyo3(signature = (text, *, lowercase = true, nfkc = false, strip_punctuation = false, fold_whitespace = false))]
pub(crate) fn normalize(
    py: Python<'_>,
    text: &str,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
) -> PyResult<String> {
    let norm = normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace);
    py.compute(|| {
        let mut buf = String::new();
        Ok(norm.apply(text, &mut buf).to_owned())
    })
}

/// Normalises one text and returns its `\w+|[^\w\s]+` tokens.
#[pyfunction]
#[pyo3(signature = (text, *, lowercase = true, nfkc = false, strip_punctuation = false, fold_whitespace = false))]
pub(crate) fn tokenize(
    py: Python<'_>,
    text: &str,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
) -> PyResult<Vec<String>> {
    let norm = normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace);
    py.compute(|| {
        let mut buf = String::new();
        let text = norm.apply(text, &mut buf);
        Ok(word_tokens(text).into_iter().map(str::to_owned).collect())
    })
}
