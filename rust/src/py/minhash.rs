//! Binding of `minhash`: the `MinHasher` class and the LSH / clustering / exact-dedup functions.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::convert::{
    analyzer as parse_analyzer, banding, choice, matrix, normalizer, opt_slice, pairs_array,
    signatures as sig_slice, slice, text_column, verify as parse_verify, DataArg, OffsetsArg,
    ValidityArg,
};
use super::errors::PyExt;
use crate::minhash::cluster::{self, Keep};
use crate::minhash::exact;
use crate::minhash::lsh;
use crate::minhash::{check_num_perm, MinHasher, Scheme, ShingleConfig, MAX_NUM_PERM};

#[derive(Clone, Copy)]
enum SchemeKind {
    Fast,
    Affine32,
    Legacy,
}

/// MinHash signature computer (see `tamis.minhash_signatures` for the documented API).
#[pyclass(name = "MinHasher", module = "tamis._core", frozen)]
pub(crate) struct PyMinHasher {
    inner: MinHasher,
}

type Pair<'py, A, B> = (Bound<'py, A>, Bound<'py, B>);
type LineHashes<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u64>>,
);

#[pymethods]
impl PyMinHasher {
    #[new]
    #[pyo3(signature = (*, num_perm = 128, scheme = "fast", seed = 1, a = None, b = None,
                        analyzer = "word", ngram = 5, lowercase = true, nfkc = false,
                        strip_punctuation = false, fold_whitespace = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        num_perm: usize,
        scheme: &str,
        seed: u64,
        a: Option<PyReadonlyArray1<'_, u64>>,
        b: Option<PyReadonlyArray1<'_, u64>>,
        analyzer: &str,
        ngram: usize,
        lowercase: bool,
        nfkc: bool,
        strip_punctuation: bool,
        fold_whitespace: bool,
    ) -> PyResult<Self> {
        let analyzer = parse_analyzer(analyzer)?;
        let kind = choice(
            "scheme",
            scheme,
            &[
                ("fast", SchemeKind::Fast),
                ("affine32", SchemeKind::Affine32),
                ("legacy", SchemeKind::Legacy),
            ],
        )?;
        let perms = |name: &str| -> PyResult<(Vec<u64>, Vec<u64>)> {
            match (&a, &b) {
                (Some(a), Some(b)) => Ok((slice(a, "a")?.to_vec(), slice(b, "b")?.to_vec())),
                _ => Err(PyValueError::new_err(format!(
                    "scheme {name:?} needs its permutations a and b"
                ))),
            }
        };
        let to_u32 = |v: Vec<u64>| -> PyResult<Vec<u32>> {
            v.into_iter()
                .map(|x| {
                    u32::try_from(x).map_err(|_| {
                        PyValueError::new_err("permutations out of range for scheme 'affine32'")
                    })
                })
                .collect()
        };
        // Before anything is sized by num_perm.
        check_num_perm(num_perm)?;
        let scheme = match kind {
            SchemeKind::Fast => Scheme::fast(num_perm, seed),
            SchemeKind::Affine32 => {
                let (a, b) = perms("affine32")?;
                Scheme::Affine32 {
                    a: to_u32(a)?,
                    b: to_u32(b)?,
                }
            }
            SchemeKind::Legacy => {
                let (a, b) = perms("legacy")?;
                Scheme::Legacy { a, b }
            }
        };
        if scheme.num_perm() != num_perm {
            return Err(PyValueError::new_err(format!(
                "num_perm={num_perm} but the permutations have {} values",
                scheme.num_perm()
            )));
        }
        let shingles = ShingleConfig {
            normalizer: normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace),
            analyzer,
            n: ngram,
        };
        Ok(Self {
            inner: MinHasher::new(shingles, scheme)?,
        })
    }

    #[getter]
    fn num_perm(&self) -> usize {
        self.inner.num_perm()
    }

    /// The shingles of one text, as bytes.
    fn shingles(&self, py: Python<'_>, text: &str) -> PyResult<Vec<Vec<u8>>> {
        let h = &self.inner;
        py.compute(|| Ok(h.shingle_bytes(text)))
    }

    /// The permutation parameters `(a, b)` as uint64 arrays.
    fn permutations<'py>(&self, py: Python<'py>) -> Pair<'py, PyArray1<u64>, PyArray1<u64>> {
        let (a, b): (Vec<u64>, Vec<u64>) = match &self.inner.scheme {
            Scheme::Fast { a, b, .. } | Scheme::Affine32 { a, b } => (
                a.iter().map(|&x| u64::from(x)).collect(),
                b.iter().map(|&x| u64::from(x)).collect(),
            ),
            Scheme::Legacy { a, b } => (a.clone(), b.clone()),
        };
        (a.into_pyarray(py), b.into_pyarray(py))
    }

    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn signatures<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<Pair<'py, PyArray2<u32>, PyArray1<u64>>> {
        let col = text_column(&offsets, &data, &validity)?;
        let h = &self.inner;
        let sig = py.compute(|| h.signatures(&col, n_threads))?;
        let n = sig.n_shingles.len();
        let values = sig.values.into_pyarray(py).reshape([n, h.num_perm()])?;
        Ok((values, sig.n_shingles.into_pyarray(py)))
    }

    #[pyo3(signature = (offsets, data, validity = None, n_threads = None))]
    fn shingle_sets<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        n_threads: Option<usize>,
    ) -> PyResult<Pair<'py, PyArray1<u64>, PyArray1<u64>>> {
        let col = text_column(&offsets, &data, &validity)?;
        let h = &self.inner;
        let (indptr, hashes) = py.compute(|| h.shingle_sets(&col, n_threads))?;
        Ok((indptr.into_pyarray(py), hashes.into_pyarray(py)))
    }
}

/// datasketch's `_optimal_param`.
#[pyfunction]
#[pyo3(signature = (threshold, num_perm, false_positive_weight = 0.5, false_negative_weight = 0.5))]
pub(crate) fn lsh_params(
    py: Python<'_>,
    threshold: f64,
    num_perm: usize,
    false_positive_weight: f64,
    false_negative_weight: f64,
) -> PyResult<(usize, usize)> {
    let p = py.compute(|| {
        lsh::optimal_params(
            threshold,
            num_perm,
            false_positive_weight,
            false_negative_weight,
        )
    })?;
    Ok((p.bands, p.rows))
}

/// All pairs of valid rows sharing a band, as an `(n_pairs, 2)` uint32 array.
#[pyfunction]
#[pyo3(signature = (signatures, valid, *, num_bands, rows, n_threads = None))]
pub(crate) fn candidate_pairs<'py>(
    py: Python<'py>,
    signatures: PyReadonlyArray2<'py, u32>,
    valid: PyReadonlyArray1<'py, bool>,
    num_bands: usize,
    rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let (sig, k) = sig_slice(&signatures)?;
    let valid = slice(&valid, "valid")?;
    let params = banding(num_bands, rows);
    let pairs = py.compute_interruptible(|stop| {
        lsh::candidate_pairs(sig, k, valid, params, n_threads, stop)
    })?;
    pairs_array(py, pairs)
}

/// Cluster roots (smallest row of each cluster) from LSH + verification + union-find.
#[pyfunction]
#[pyo3(signature = (signatures, valid, *, num_bands, rows, threshold, verify = "estimate",
                    set_indptr = None, set_hashes = None, pre_roots = None, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn lsh_clusters<'py>(
    py: Python<'py>,
    signatures: PyReadonlyArray2<'py, u32>,
    valid: PyReadonlyArray1<'py, bool>,
    num_bands: usize,
    rows: usize,
    threshold: f64,
    verify: &str,
    set_indptr: Option<PyReadonlyArray1<'py, u64>>,
    set_hashes: Option<PyReadonlyArray1<'py, u64>>,
    pre_roots: Option<PyReadonlyArray1<'py, u32>>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (sig, k) = sig_slice(&signatures)?;
    let valid = slice(&valid, "valid")?;
    let params = banding(num_bands, rows);
    let verify = parse_verify(
        verify,
        threshold,
        true,
        set_indptr.as_ref(),
        set_hashes.as_ref(),
    )?;
    let pre = opt_slice(pre_roots.as_ref(), "pre_roots")?;
    let roots = py.compute_interruptible(|stop| {
        cluster::lsh_clusters(sig, k, valid, params, verify, pre, n_threads, stop)
    })?;
    Ok(roots.into_pyarray(py))
}

/// `(keep, duplicate_of)` for cluster roots under a keep policy.
#[pyfunction]
#[pyo3(signature = (roots, priority = None))]
pub(crate) fn keep_policy<'py>(
    py: Python<'py>,
    roots: PyReadonlyArray1<'py, u32>,
    priority: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Pair<'py, PyArray1<bool>, PyArray1<i64>>> {
    let roots = slice(&roots, "roots")?;
    let prio = opt_slice(priority.as_ref(), "priority")?;
    let keep = prio.map_or(Keep::First, Keep::Highest);
    let (k, d) = py.compute(|| cluster::keep_policy(roots, keep))?;
    Ok((k.into_pyarray(py), d.into_pyarray(py)))
}

/// XXH3-128 of each normalised text as an `(n, 2)` uint64 array `[high, low]`, plus validity.
#[pyfunction]
#[pyo3(signature = (offsets, data, validity = None, *, lowercase = false, nfkc = false,
                    strip_punctuation = false, fold_whitespace = false, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn text_hashes<'py>(
    py: Python<'py>,
    offsets: OffsetsArg<'py>,
    data: DataArg<'py>,
    validity: ValidityArg<'py>,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
    n_threads: Option<usize>,
) -> PyResult<Pair<'py, PyArray2<u64>, PyArray1<bool>>> {
    let col = text_column(&offsets, &data, &validity)?;
    let norm = normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace);
    let (flat, ok) = py.compute(|| {
        let hashes = exact::text_hashes(norm, &col, n_threads)?;
        let mut flat = Vec::with_capacity(2 * hashes.len());
        let mut ok = Vec::with_capacity(hashes.len());
        for h in hashes {
            ok.push(h.is_some());
            let h = h.unwrap_or(0);
            flat.push((h >> 64) as u64);
            flat.push(h as u64);
        }
        Ok((flat, ok))
    })?;
    let n = ok.len();
    Ok((flat.into_pyarray(py).reshape([n, 2])?, ok.into_pyarray(py)))
}

/// Smallest row with the same 128-bit hash, for every row (`valid == False` rows stay alone).
#[pyfunction]
#[pyo3(signature = (hashes, valid))]
pub(crate) fn exact_roots<'py>(
    py: Python<'py>,
    hashes: PyReadonlyArray2<'py, u64>,
    valid: PyReadonlyArray1<'py, bool>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (h, n, cols) = matrix(&hashes, "hashes")?;
    let valid = slice(&valid, "valid")?;
    if cols != 2 || valid.len() != n {
        return Err(PyValueError::new_err(
            "hashes must have shape (n, 2) and valid length n",
        ));
    }
    let roots = py.compute(|| {
        let hs: Vec<Option<u128>> = h
            .chunks_exact(2)
            .zip(valid)
            .map(|(c, &v)| v.then(|| (u128::from(c[0]) << 64) | u128::from(c[1])))
            .collect();
        Ok(exact::exact_roots(&hs))
    })?;
    Ok(roots.into_pyarray(py))
}

/// Per-line XXH3-64 of normalised, non-blank lines: `(indptr, line_no, hashes)` in CSR layout.
#[pyfunction]
#[pyo3(signature = (offsets, data, validity = None, *, lowercase = false, nfkc = false,
                    strip_punctuation = false, fold_whitespace = true, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn line_hashes<'py>(
    py: Python<'py>,
    offsets: OffsetsArg<'py>,
    data: DataArg<'py>,
    validity: ValidityArg<'py>,
    lowercase: bool,
    nfkc: bool,
    strip_punctuation: bool,
    fold_whitespace: bool,
    n_threads: Option<usize>,
) -> PyResult<LineHashes<'py>> {
    let col = text_column(&offsets, &data, &validity)?;
    let norm = normalizer(lowercase, nfkc, strip_punctuation, fold_whitespace);
    let (indptr, line_no, hashes) = py.compute(|| exact::line_hashes(norm, &col, n_threads))?;
    Ok((
        indptr.into_pyarray(py),
        line_no.into_pyarray(py),
        hashes.into_pyarray(py),
    ))
}

/// Whether each hash occurs earlier in the array.
#[pyfunction]
pub(crate) fn repeated<'py>(
    py: Python<'py>,
    hashes: PyReadonlyArray1<'py, u64>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let h = slice(&hashes, "hashes")?;
    Ok(py.compute(|| Ok(exact::repeated(h)))?.into_pyarray(py))
}

/// Rows sharing at least one band with another row.
#[pyfunction]
#[pyo3(signature = (signatures, valid, *, num_bands, rows, n_threads = None))]
pub(crate) fn candidate_rows<'py>(
    py: Python<'py>,
    signatures: PyReadonlyArray2<'py, u32>,
    valid: PyReadonlyArray1<'py, bool>,
    num_bands: usize,
    rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let (sig, k) = sig_slice(&signatures)?;
    let valid = slice(&valid, "valid")?;
    let params = banding(num_bands, rows);
    Ok(py
        .compute_interruptible(|stop| {
            cluster::candidate_rows(sig, k, valid, params, n_threads, stop)
        })?
        .into_pyarray(py))
}

/// Band keys of every signature as an `(n, num_bands)` uint64 array.
#[pyfunction]
#[pyo3(signature = (signatures, *, num_bands, rows, n_threads = None))]
pub(crate) fn band_keys<'py>(
    py: Python<'py>,
    signatures: PyReadonlyArray2<'py, u32>,
    num_bands: usize,
    rows: usize,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let (sig, k) = sig_slice(&signatures)?;
    let params = banding(num_bands, rows);
    let n = sig.len() / k.max(1);
    let keys = py.compute(|| cluster::band_keys(sig, k, params, n_threads))?;
    keys.into_pyarray(py).reshape([n, num_bands])
}

/// Verified spanning-forest edges of the buckets given by `(keys, rows)`, as `(m, 2)` uint32.
#[pyfunction]
#[pyo3(signature = (keys, rows, signatures = None, *, threshold = 0.0, verify = "estimate",
                    set_indptr = None, set_hashes = None, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn edges_from_keys<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, u64>,
    rows: PyReadonlyArray1<'py, u32>,
    signatures: Option<PyReadonlyArray2<'py, u32>>,
    threshold: f64,
    verify: &str,
    set_indptr: Option<PyReadonlyArray1<'py, u64>>,
    set_hashes: Option<PyReadonlyArray1<'py, u64>>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let keys = slice(&keys, "keys")?;
    let rows = slice(&rows, "rows")?;
    let (sig, k) = match &signatures {
        Some(s) => sig_slice(s)?,
        None => (&[][..], 1),
    };
    let verify = parse_verify(
        verify,
        threshold,
        signatures.is_some(),
        set_indptr.as_ref(),
        set_hashes.as_ref(),
    )?;
    let edges = py.compute(|| cluster::edges_from_keys(keys, rows, sig, k, verify, n_threads))?;
    pairs_array(py, edges)
}

/// Component roots of `0..n` joined by an `(m, 2)` uint32 edge array.
#[pyfunction]
#[pyo3(signature = (n, edges))]
pub(crate) fn union_roots<'py>(
    py: Python<'py>,
    n: usize,
    edges: PyReadonlyArray2<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (flat, _, cols) = matrix(&edges, "edges")?;
    if cols != 2 {
        return Err(PyValueError::new_err("edges must have shape (m, 2)"));
    }
    let roots = py.compute(|| {
        let pairs: Vec<(u32, u32)> = flat.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        cluster::union_roots(n, &pairs)
    })?;
    Ok(roots.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_NUM_PERM", MAX_NUM_PERM)?;
    m.add_class::<PyMinHasher>()?;
    m.add_function(wrap_pyfunction!(lsh_params, m)?)?;
    m.add_function(wrap_pyfunction!(candidate_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(lsh_clusters, m)?)?;
    m.add_function(wrap_pyfunction!(keep_policy, m)?)?;
    m.add_function(wrap_pyfunction!(text_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(exact_roots, m)?)?;
    m.add_function(wrap_pyfunction!(band_keys, m)?)?;
    m.add_function(wrap_pyfunction!(candidate_rows, m)?)?;
    m.add_function(wrap_pyfunction!(line_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(repeated, m)?)?;
    m.add_function(wrap_pyfunction!(edges_from_keys, m)?)?;
    m.add_function(wrap_pyfunction!(union_roots, m)?)?;
    Ok(())
}
