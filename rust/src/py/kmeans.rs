//! Binding of `kmeans`: fit, assignment to saved centroids, centroid merging and SemDeDup over
//! C-contiguous float32/float64 numpy matrices (borrowed, not copied; computed in their dtype).

// The argument names are the API's (x, k) and the matrix notation's (c, d, w).
#![allow(clippy::many_single_char_names)]

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::convert::{choice, matrix, opt_slice, slice};
use super::errors::PyExt;
use crate::kmeans::merge::{self, Linkage};
use crate::kmeans::semdedup::{self, Priority, Rule};
use crate::kmeans::{self, Algorithm, Config, Init, Metric, Real, Rows};

/// A float32 or float64 matrix (`X`, `centroids`).
#[derive(FromPyObject)]
pub(crate) enum Floats<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

fn rows<'a, T: Real + numpy::Element>(
    a: &'a PyReadonlyArray2<'_, T>,
    name: &'static str,
) -> PyResult<Rows<'a, T>> {
    let (s, n, d) = matrix(a, name)?;
    Ok(Rows::new(s, n, d, name)?)
}

fn metric_arg(value: &str) -> PyResult<Metric> {
    choice(
        "metric",
        value,
        &[("l2", Metric::L2), ("cosine", Metric::Cosine)],
    )
}

fn labels_u32(labels: &[i64]) -> PyResult<Vec<u32>> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            u32::try_from(l).map_err(|_| {
                PyValueError::new_err(format!("labels must be in [0, 2^32), got {l} at row {i}"))
            })
        })
        .collect()
}

fn to_i64(v: &[u32]) -> Vec<i64> {
    v.iter().map(|&l| i64::from(l)).collect()
}

fn matrix_out<T: numpy::Element>(
    py: Python<'_>,
    v: Vec<T>,
    n: usize,
    d: usize,
) -> PyResult<Bound<'_, PyAny>> {
    Ok(v.into_pyarray(py).reshape([n, d])?.into_any())
}

type FitOut<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
    Bound<'py, PyArray1<i64>>,
    usize,
    bool,
);

fn fit_out<T: numpy::Element>(
    py: Python<'_>,
    f: kmeans::Fit<T>,
    k: usize,
    d: usize,
) -> PyResult<FitOut<'_>> {
    let counts: Vec<i64> = f.counts.iter().map(|&c| c as i64).collect();
    Ok((
        matrix_out(py, f.centroids, k, d)?,
        to_i64(&f.labels).into_pyarray(py),
        f.distances.into_pyarray(py),
        f.inertia,
        counts.into_pyarray(py),
        f.n_iter,
        f.converged,
    ))
}

#[pyfunction(name = "kmeans_fit")]
#[pyo3(signature = (x, k, *, metric = "l2", init = "k-means++", algorithm = "lloyd", batch_size = 1024, max_iter = 100, tol = 1e-4, n_init = 1, seed = 0, n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn kmeans_fit_py<'py>(
    py: Python<'py>,
    x: Floats<'py>,
    k: usize,
    metric: &str,
    init: &str,
    algorithm: &str,
    batch_size: usize,
    max_iter: usize,
    tol: f64,
    n_init: usize,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<FitOut<'py>> {
    let init = choice(
        "init",
        init,
        &[
            ("k-means++", Init::KMeansPlusPlus),
            ("random", Init::Random),
        ],
    )?;
    let algorithm = choice(
        "algorithm",
        algorithm,
        &[
            ("lloyd", Algorithm::Lloyd),
            ("minibatch", Algorithm::MiniBatch { batch_size }),
        ],
    )?;
    let cfg = Config {
        k,
        metric: metric_arg(metric)?,
        init,
        algorithm,
        max_iter,
        tol,
        n_init,
        seed,
    };
    match x {
        Floats::F32(a) => {
            let r = rows(&a, "X")?;
            let f = py.compute_interruptible(|stop| kmeans::fit(&r, &cfg, n_threads, stop))?;
            fit_out(py, f, k, r.d())
        }
        Floats::F64(a) => {
            let r = rows(&a, "X")?;
            let f = py.compute_interruptible(|stop| kmeans::fit(&r, &cfg, n_threads, stop))?;
            fit_out(py, f, k, r.d())
        }
    }
}

type AssignOut<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

#[pyfunction(name = "kmeans_assign")]
#[pyo3(signature = (x, centroids, *, metric = "l2", n_threads = None))]
pub(crate) fn kmeans_assign_py<'py>(
    py: Python<'py>,
    x: Floats<'py>,
    centroids: Floats<'py>,
    metric: &str,
    n_threads: Option<usize>,
) -> PyResult<AssignOut<'py>> {
    let m = metric_arg(metric)?;
    let a = match (&x, &centroids) {
        (Floats::F32(x), Floats::F32(c)) => {
            let (x, c) = (rows(x, "X")?, rows(c, "centroids")?);
            py.compute(|| kmeans::assign(&x, &c, m, n_threads))?
        }
        (Floats::F64(x), Floats::F64(c)) => {
            let (x, c) = (rows(x, "X")?, rows(c, "centroids")?);
            py.compute(|| kmeans::assign(&x, &c, m, n_threads))?
        }
        _ => {
            return Err(PyTypeError::new_err(
                "X and centroids must have the same dtype (float32 or float64)",
            ))
        }
    };
    Ok((
        to_i64(&a.labels).into_pyarray(py),
        a.distances.into_pyarray(py),
    ))
}

type MergeOut<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray2<f64>>);

#[pyfunction(name = "merge_centroids")]
#[pyo3(signature = (centroids, *, weights = None, linkage = "ward", n_clusters = None, threshold = None))]
pub(crate) fn merge_centroids_py<'py>(
    py: Python<'py>,
    centroids: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    linkage: &str,
    n_clusters: Option<usize>,
    threshold: Option<f64>,
) -> PyResult<MergeOut<'py>> {
    let method = choice(
        "linkage",
        linkage,
        &[
            ("ward", Linkage::Ward),
            ("average", Linkage::Average),
            ("complete", Linkage::Complete),
            ("single", Linkage::Single),
        ],
    )?;
    let (c, k, d) = matrix(&centroids, "centroids")?;
    let w = opt_slice(weights.as_ref(), "weights")?;
    let (labels, merges) = py.compute(|| {
        let m = merge::linkage(c, k, d, w, method)?;
        Ok((merge::cut(&m, k, n_clusters, threshold)?, m))
    })?;
    let z: Vec<f64> = merges
        .iter()
        .flat_map(|m| [m.a as f64, m.b as f64, m.distance, m.size])
        .collect();
    let nm = merges.len();
    Ok((
        to_i64(&labels).into_pyarray(py),
        z.into_pyarray(py).reshape([nm, 4])?,
    ))
}

type DedupOut<'py> = (
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
);

#[derive(Clone, Copy)]
enum KeepKind {
    Farthest,
    Closest,
    Score,
}

#[pyfunction(name = "semdedup")]
#[pyo3(signature = (x, labels, tie, eps, *, centroids = None, score = None, keep = "farthest", rule = "paper", n_threads = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn semdedup_py<'py>(
    py: Python<'py>,
    x: Floats<'py>,
    labels: PyReadonlyArray1<'py, i64>,
    tie: PyReadonlyArray1<'py, u64>,
    eps: f64,
    centroids: Option<Floats<'py>>,
    score: Option<PyReadonlyArray1<'py, f64>>,
    keep: &str,
    rule: &str,
    n_threads: Option<usize>,
) -> PyResult<DedupOut<'py>> {
    let kind = choice(
        "keep",
        keep,
        &[
            ("farthest", KeepKind::Farthest),
            ("closest", KeepKind::Closest),
            ("score", KeepKind::Score),
        ],
    )?;
    let rule = choice(
        "rule",
        rule,
        &[("paper", Rule::Paper), ("kept", Rule::Kept)],
    )?;
    let labels = labels_u32(slice(&labels, "labels")?)?;
    let tie = slice(&tie, "tie")?;
    let score = opt_slice(score.as_ref(), "score")?;
    macro_rules! run {
        ($x:expr, $c:expr) => {{
            let x = rows($x, "X")?;
            let priority = match (kind, $c, score) {
                (KeepKind::Score, _, Some(s)) => Priority::Score(s),
                (KeepKind::Score, _, None) => {
                    return Err(PyValueError::new_err("keep='score' needs score"))
                }
                (KeepKind::Farthest, Some(c), _) => Priority::Farthest(c),
                (KeepKind::Closest, Some(c), _) => Priority::Closest(c),
                (_, None, _) => {
                    return Err(PyValueError::new_err(format!(
                        "keep={keep:?} needs centroids"
                    )))
                }
            };
            py.compute_interruptible(|stop| {
                semdedup::semdedup(&x, &labels, priority, tie, eps, rule, n_threads, stop)
            })?
        }};
    }
    let out = match (&x, &centroids) {
        (Floats::F32(x), Some(Floats::F32(c))) => run!(x, Some(matrix(c, "centroids")?.0)),
        (Floats::F64(x), Some(Floats::F64(c))) => run!(x, Some(matrix(c, "centroids")?.0)),
        (Floats::F32(x), None) => run!(x, None::<&[f32]>),
        (Floats::F64(x), None) => run!(x, None::<&[f64]>),
        _ => {
            return Err(PyTypeError::new_err(
                "X and centroids must have the same dtype (float32 or float64)",
            ))
        }
    };
    let rank: Vec<i64> = out.rank.iter().map(|&r| r as i64).collect();
    Ok((
        out.keep.into_pyarray(py),
        out.duplicate_of.into_pyarray(py),
        out.similarity.into_pyarray(py),
        rank.into_pyarray(py),
    ))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kmeans_fit_py, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_assign_py, m)?)?;
    m.add_function(wrap_pyfunction!(merge_centroids_py, m)?)?;
    m.add_function(wrap_pyfunction!(semdedup_py, m)?)?;
    Ok(())
}
