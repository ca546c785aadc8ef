//! Boundary adapters, the one place where Python arguments become core inputs: numpy borrows
//! (`PyReadonlyArray` → `&[T]`, no copy), the Arrow text column, the float matrices, the
//! normaliser switches and every string enum. Wrappers call these, then run the core through
//! [`super::errors::PyExt::compute`].

use numpy::{
    Element, IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyReadwriteArray1, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::column::{Offsets, TextColumn};
use crate::minhash::cluster::Verify;
use crate::minhash::lsh::LshParams;
use crate::ngram::{Analyzer, HashKind};
use crate::sensitivity::{self, Data, Matrix, Sampler};
use crate::text::Normalizer;

// --- numpy ---------------------------------------------------------------------------------------

fn not_contiguous(name: &str) -> PyErr {
    PyValueError::new_err(format!("{name} must be a contiguous array"))
}

/// Borrows a 1-D numpy array as a slice (no copy); an error names `name` if it is not contiguous.
pub(crate) fn slice<'a, T: Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| not_contiguous(name))
}

/// [`slice`] of an optional array.
pub(crate) fn opt_slice<'a, T: Element>(
    a: Option<&'a PyReadonlyArray1<'_, T>>,
    name: &str,
) -> PyResult<Option<&'a [T]>> {
    a.map(|a| slice(a, name)).transpose()
}

/// Borrows a writable 1-D numpy array as a mutable slice.
pub(crate) fn slice_mut<'a, T: Element>(
    a: &'a mut PyReadwriteArray1<'_, T>,
    name: &str,
) -> PyResult<&'a mut [T]> {
    a.as_slice_mut().map_err(|_| not_contiguous(name))
}

/// Borrows a C-contiguous 2-D numpy array as `(row-major values, n_rows, n_cols)`.
pub(crate) fn matrix<'a, T: Element>(
    a: &'a PyReadonlyArray2<'_, T>,
    name: &str,
) -> PyResult<(&'a [T], usize, usize)> {
    if !a.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{name} must be C-contiguous (use numpy.ascontiguousarray)"
        )));
    }
    let s = a.as_slice().map_err(|_| not_contiguous(name))?;
    let sh = a.shape();
    Ok((s, sh[0], sh[1]))
}

/// MinHash signatures, a C-contiguous `(n, num_perm)` uint32 array, as `(values, num_perm)`.
pub(crate) fn signatures<'a>(a: &'a PyReadonlyArray2<'_, u32>) -> PyResult<(&'a [u32], usize)> {
    matrix(a, "signatures").map(|(s, _, k)| (s, k))
}

/// Row pairs (candidate pairs, edges) as an `(m, 2)` uint32 array.
pub(crate) fn pairs_array(
    py: Python<'_>,
    pairs: Vec<(u32, u32)>,
) -> PyResult<Bound<'_, PyArray2<u32>>> {
    let m = pairs.len();
    let flat: Vec<u32> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
    flat.into_pyarray(py).reshape([m, 2])
}

/// A float matrix from numpy (float64 or float32, C-contiguous, borrowed).
#[derive(FromPyObject)]
pub(crate) enum FloatMatrix<'py> {
    F64(PyReadonlyArray2<'py, f64>),
    F32(PyReadonlyArray2<'py, f32>),
}

impl FloatMatrix<'_> {
    /// The core's view of the matrix (named `A` in errors, as in the Python API).
    pub(crate) fn matrix(&self) -> PyResult<Matrix<'_>> {
        Ok(match self {
            FloatMatrix::F64(a) => {
                let (s, n, d) = matrix(a, "A")?;
                Matrix::new(Data::F64(s), n, d)?
            }
            FloatMatrix::F32(a) => {
                let (s, n, d) = matrix(a, "A")?;
                Matrix::new(Data::F32(s), n, d)?
            }
        })
    }
}

// --- Arrow text columns --------------------------------------------------------------------------

/// Arrow offsets as numpy: int32 (`string`) or int64 (`large_string`).
#[derive(FromPyObject)]
pub(crate) enum OffsetsArg<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

/// The data buffer of an Arrow string array as numpy `uint8`.
pub(crate) type DataArg<'py> = PyReadonlyArray1<'py, u8>;

/// The validity of an Arrow string array as numpy `bool` (`None`: no null).
pub(crate) type ValidityArg<'py> = Option<PyReadonlyArray1<'py, bool>>;

/// Borrows the buffers of an Arrow string array, `(offsets, data, validity)` as
/// `tamis.io.buffers` returns them, as a [`TextColumn`] (no copy).
pub(crate) fn text_column<'a>(
    offsets: &'a OffsetsArg<'_>,
    data: &'a DataArg<'_>,
    validity: &'a ValidityArg<'_>,
) -> PyResult<TextColumn<'a>> {
    let offs = match offsets {
        OffsetsArg::I32(a) => Offsets::I32(slice(a, "offsets")?),
        OffsetsArg::I64(a) => Offsets::I64(slice(a, "offsets")?),
    };
    let data = slice(data, "data")?;
    let validity = opt_slice(validity.as_ref(), "validity")?;
    Ok(TextColumn::new(offs, data, validity)?)
}

// --- options -------------------------------------------------------------------------------------

/// The four normalisation switches of the Python API as the core's [`Normalizer`].
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

/// LSH banding from the `num_bands` and `rows` arguments (checked by the core against the
/// signature length).
pub(crate) fn banding(num_bands: usize, rows: usize) -> LshParams {
    LshParams {
        bands: num_bands,
        rows,
    }
}

/// The value named `value` among `options`, else a `ValueError` listing them:
/// `analyzer must be 'word' or 'char', got 'x'`.
pub(crate) fn choice<T: Copy>(param: &str, value: &str, options: &[(&str, T)]) -> PyResult<T> {
    if let Some(&(_, v)) = options.iter().find(|(name, _)| *name == value) {
        return Ok(v);
    }
    let names: Vec<String> = options.iter().map(|(n, _)| format!("'{n}'")).collect();
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    Err(PyValueError::new_err(format!(
        "{param} must be {list}, got {value:?}"
    )))
}

/// `analyzer`: `"word"` or `"char"`.
pub(crate) fn analyzer(value: &str) -> PyResult<Analyzer> {
    choice(
        "analyzer",
        value,
        &[("word", Analyzer::Word), ("char", Analyzer::Char)],
    )
}

/// `hash`: `"xxh3"` or `"sha256"` (the DSIR reference's bucket function).
pub(crate) fn hash_kind(value: &str) -> PyResult<HashKind> {
    choice(
        "hash",
        value,
        &[("xxh3", HashKind::Xxh3), ("sha256", HashKind::Sha256Mod)],
    )
}

/// `method` of `sample`: `"bernoulli"`, `"iid"` or `"priority"`.
pub(crate) fn sampler(value: &str) -> PyResult<Sampler> {
    choice(
        "method",
        value,
        &[
            ("bernoulli", Sampler::Bernoulli),
            ("iid", Sampler::Iid),
            ("priority", Sampler::Priority),
        ],
    )
}

/// `scheme` of `sensitivity_scores` (`mix` is the leverage weight of `"mixed"`).
pub(crate) fn score_scheme(value: &str, mix: f64) -> PyResult<sensitivity::Scheme> {
    use sensitivity::Scheme;
    choice(
        "scheme",
        value,
        &[
            ("lewis", Scheme::Lewis),
            ("leverage", Scheme::Leverage),
            ("root_leverage", Scheme::RootLeverage),
            ("mixed", Scheme::Mixed { alpha: mix }),
            ("uniform", Scheme::Uniform),
        ],
    )
}

#[derive(Clone, Copy)]
enum VerifyKind {
    Estimate,
    Exact,
    None,
}

/// `verify` of the LSH functions: `"estimate"` (needs signatures), `"exact"` (needs the shingle
/// sets `set_indptr`, `set_hashes`) or `"none"`.
pub(crate) fn verify<'a>(
    value: &str,
    threshold: f64,
    has_signatures: bool,
    set_indptr: Option<&'a PyReadonlyArray1<'_, u64>>,
    set_hashes: Option<&'a PyReadonlyArray1<'_, u64>>,
) -> PyResult<Verify<'a>> {
    let kind = choice(
        "verify",
        value,
        &[
            ("estimate", VerifyKind::Estimate),
            ("exact", VerifyKind::Exact),
            ("none", VerifyKind::None),
        ],
    )?;
    match kind {
        VerifyKind::None => Ok(Verify::None),
        VerifyKind::Estimate if has_signatures => Ok(Verify::Estimate { threshold }),
        VerifyKind::Estimate => Err(PyValueError::new_err("verify='estimate' needs signatures")),
        VerifyKind::Exact => match (set_indptr, set_hashes) {
            (Some(i), Some(h)) => Ok(Verify::Exact {
                threshold,
                indptr: slice(i, "set_indptr")?,
                hashes: slice(h, "set_hashes")?,
            }),
            _ => Err(PyValueError::new_err(
                "verify='exact' needs set_indptr and set_hashes",
            )),
        },
    }
}
