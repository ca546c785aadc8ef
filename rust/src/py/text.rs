//! Bindings of `text` and `hash`: single-string helpers used for inspection and tests.

use pyo3::prelude::*;

use crate::hash::hash64;
use crate::text::{word_tokens, Normalizer};

pub(crate) fn normalizer(
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
) -> Normalizer {
    Normalizer {
        nfkc,
        lowercase,
        strip_punctuation,
        fold_whitespace,
    }
}

/// XXH3-64 of `data` with `seed`.
#[pyfunction]
#[pyo3(signature = (data, seed = 0))]
pub(crate) fn xxh3_64(data: &[u8], seed: u64) -> u64 {
    hash64(data, seed)
}

/// Normalises one text.
#[pyfunction]
#[pyo3(signature = (text, *, lowercase = true, nfkc = false, strip_punctuation = false, fold_whitespace = false))]
pub(crate) fn normalize(
    text: &str,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
) -> String {
    let mut buf = String::new();
    normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace)
        .apply(text, &mut buf)
        .to_owned()
}

/// Normalises one text and returns its `\w+|[^\w\s]+` tokens.
#[pyfunction]
#[pyo3(signature = (text, *, lowercase = true, nfkc = false, strip_punctuation = false, fold_whitespace = false))]
pub(crate) fn tokenize(
    text: &str,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
) -> Vec<String> {
    let mut buf = String::new();
    let norm =
        normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace).apply(text, &mut buf);
    word_tokens(norm).into_iter().map(str::to_owned).collect()
}
