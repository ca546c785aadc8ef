//! Binding of `mix`: integer weights, the interleaving schedule and seeded permutations.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::prelude::*;

use super::convert::{slice, slice_mut};
use super::errors::PyExt;
use crate::mix::{self, Interleaver};

#[pyfunction(name = "mix_integer_weights")]
pub(crate) fn integer_weights_py<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let w = slice(&weights, "weights")?;
    Ok(py.compute(|| mix::integer_weights(w))?.into_pyarray(py))
}

type ScheduleOut<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<u64>>);

/// The next `n` steps from the state (`credit`, `consumed`), both updated in place.
#[pyfunction(name = "mix_schedule")]
pub(crate) fn schedule_py<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, u64>,
    mut credit: PyReadwriteArray1<'py, i64>,
    mut consumed: PyReadwriteArray1<'py, u64>,
    n: usize,
) -> PyResult<ScheduleOut<'py>> {
    let w = slice(&weights, "weights")?.to_vec();
    let c = slice_mut(&mut credit, "credit")?;
    let done = slice_mut(&mut consumed, "consumed")?;
    let sched = py.compute(|| {
        let mut it = Interleaver::with_credit(w, c.to_vec())?;
        let s = it.schedule(done, n)?;
        c.copy_from_slice(it.credit());
        Ok(s)
    })?;
    Ok((sched.sources.into_pyarray(py), sched.ranks.into_pyarray(py)))
}

/// Credits rescaled to new weights (the lag of every source carries over).
#[pyfunction(name = "mix_reweight")]
pub(crate) fn reweight_py<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, u64>,
    credit: PyReadonlyArray1<'py, i64>,
    new_weights: PyReadonlyArray1<'py, u64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let w = slice(&weights, "weights")?.to_vec();
    let c = slice(&credit, "credit")?.to_vec();
    let nw = slice(&new_weights, "new_weights")?.to_vec();
    let out = py.compute(|| {
        let mut it = Interleaver::with_credit(w, c)?;
        it.set_weights(nw)?;
        Ok(it.credit().to_vec())
    })?;
    Ok(out.into_pyarray(py))
}

#[pyfunction(name = "permutation")]
pub(crate) fn permutation_py(
    py: Python<'_>,
    n: usize,
    seed: u64,
) -> PyResult<Bound<'_, PyArray1<u64>>> {
    Ok(py.compute(|| mix::permutation(n, seed))?.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(integer_weights_py, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_py, m)?)?;
    m.add_function(wrap_pyfunction!(reweight_py, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_py, m)?)?;
    Ok(())
}
