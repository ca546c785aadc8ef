//! Binding of `mix`: integer weights, the interleaving schedule, seeded permutations, the
//! gather of a batch's string rows and the Parquet text reader.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::convert::{slice, slice_mut, text_column, DataArg, OffsetsArg};
use super::errors::PyExt;
use crate::alloc;
use crate::column::TextColumn;
use crate::mix::gather::Rows;
use crate::mix::parquet::{ParquetText, TextBlock};
use crate::mix::{self, Interleaver};
use std::path::PathBuf;

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

/// Borrows string columns given as `(offsets, data)` buffers (no nulls).
fn columns<'a>(
    offsets: &'a [OffsetsArg<'_>],
    data: &'a [DataArg<'_>],
) -> PyResult<Vec<TextColumn<'a>>> {
    if offsets.len() != data.len() {
        return Err(PyValueError::new_err(format!(
            "{} offsets buffers for {} data buffers",
            offsets.len(),
            data.len()
        )));
    }
    offsets
        .iter()
        .zip(data)
        .map(|(o, d)| text_column(o, d, &None))
        .collect()
}

/// The `large_string` offsets of rows `(chunk[j], row[j])` of the columns; with `out` (exactly
/// the rows' size, the last offset) the rows are also copied into it.
#[pyfunction(name = "mix_gather", signature = (offsets, data, chunk, row, out=None))]
pub(crate) fn gather_py<'py>(
    py: Python<'py>,
    offsets: Vec<OffsetsArg<'py>>,
    data: Vec<DataArg<'py>>,
    chunk: PyReadonlyArray1<'py, u32>,
    row: PyReadonlyArray1<'py, u32>,
    out: Option<PyReadwriteArray1<'py, u8>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let cols = columns(&offsets, &data)?;
    gather_of(py, &cols, &chunk, &row, out)
}

/// As `mix_gather`, from row groups decoded by `MixParquetText.read`.
#[pyfunction(name = "mix_block_gather", signature = (blocks, chunk, row, out=None))]
pub(crate) fn block_gather_py<'py>(
    py: Python<'py>,
    blocks: Vec<Bound<'py, TextBlockPy>>,
    chunk: PyReadonlyArray1<'py, u32>,
    row: PyReadonlyArray1<'py, u32>,
    out: Option<PyReadwriteArray1<'py, u8>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let blocks: Vec<&TextBlock> = blocks.iter().map(|b| &b.get().0).collect();
    gather_of(py, &blocks, &chunk, &row, out)
}

fn gather_of<'py, R: Rows + Sync>(
    py: Python<'py>,
    chunks: &[R],
    chunk: &PyReadonlyArray1<'py, u32>,
    row: &PyReadonlyArray1<'py, u32>,
    mut out: Option<PyReadwriteArray1<'py, u8>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (c, r) = (slice(chunk, "chunk")?, slice(row, "row")?);
    let out = out.as_mut().map(|o| slice_mut(o, "out")).transpose()?;
    let offs = py.compute(|| match out {
        Some(out) => mix::gather::gather_into(chunks, c, r, out),
        None => mix::gather::offsets(chunks, c, r),
    })?;
    Ok(offs.into_pyarray(py))
}

/// A Parquet file's text column, memory-mapped and decoded row group by row group without
/// copying the texts (`mix::parquet`).
#[pyclass(name = "MixParquetText", module = "tamis._core", frozen)]
pub(crate) struct ParquetTextPy(ParquetText);

#[pymethods]
impl ParquetTextPy {
    /// The file's text column `column`; `None` when it is not a flat `BYTE_ARRAY` column.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf, column: &str) -> PyResult<Option<Self>> {
        Ok(py.compute(|| ParquetText::open(&path, column))?.map(Self))
    }

    /// The number of row groups.
    #[getter]
    fn n_row_groups(&self) -> usize {
        self.0.n_row_groups()
    }

    /// The texts of row group `row_group`; `None` when it holds nulls or another codec than
    /// uncompressed, snappy or lz4 (read it with pyarrow).
    fn read(&self, py: Python<'_>, row_group: usize) -> PyResult<Option<TextBlockPy>> {
        Ok(py.compute(|| self.0.read(row_group))?.map(TextBlockPy))
    }
}

/// The texts of one row group (`MixParquetText.read`).
#[pyclass(name = "MixTextBlock", module = "tamis._core", frozen)]
pub(crate) struct TextBlockPy(TextBlock);

#[pymethods]
impl TextBlockPy {
    fn __len__(&self) -> usize {
        self.0.n_rows()
    }

    /// The bytes of all rows together.
    #[getter]
    fn n_bytes(&self) -> usize {
        self.0.n_bytes()
    }

    /// `(row, byte offset)` of the first row that is not valid UTF-8, or `None`.
    fn first_invalid_utf8(&self, py: Python<'_>) -> PyResult<Option<(usize, usize)>> {
        py.compute(|| Ok(self.0.first_invalid_utf8()))
    }
}

/// Rows `(chunk[j], row[j])` of the columns as a list of `str`, made straight from the
/// columns' bytes (the per-document iterator: no gathered batch in between).
#[pyfunction(name = "mix_strings")]
pub(crate) fn strings_py<'py>(
    py: Python<'py>,
    offsets: Vec<OffsetsArg<'py>>,
    data: Vec<DataArg<'py>>,
    chunk: PyReadonlyArray1<'py, u32>,
    row: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyList>> {
    let cols = columns(&offsets, &data)?;
    strings_of(py, &cols, &chunk, &row)
}

/// As `mix_strings`, from row groups decoded by `MixParquetText.read`.
#[pyfunction(name = "mix_block_strings")]
pub(crate) fn block_strings_py<'py>(
    py: Python<'py>,
    blocks: Vec<Bound<'py, TextBlockPy>>,
    chunk: PyReadonlyArray1<'py, u32>,
    row: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyList>> {
    let blocks: Vec<&TextBlock> = blocks.iter().map(|b| &b.get().0).collect();
    strings_of(py, &blocks, &chunk, &row)
}

fn strings_of<'py, R: Rows>(
    py: Python<'py>,
    chunks: &[R],
    chunk: &PyReadonlyArray1<'py, u32>,
    row: &PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyList>> {
    let (c, r) = (slice(chunk, "chunk")?, slice(row, "row")?);
    let mut out = alloc::with_capacity(c.len(), "row", "the strings")?;
    let mut err = None;
    mix::gather::for_each_row(chunks, c, r, |bytes| {
        if err.is_none() {
            match utf8_str(py, bytes) {
                Ok(s) => out.push(s),
                Err(e) => err = Some(e),
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    PyList::new(py, out)
}

/// A Python `str` of UTF-8 `bytes`; CPython checks the encoding (invalid bytes raise
/// `UnicodeDecodeError`). Through the C API rather than `PyString::new(py, &str)`, which would
/// need a second validation in Rust first (~15% of the time per 7 KB document).
fn utf8_str<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let len = pyo3::ffi::Py_ssize_t::try_from(bytes.len())
        .map_err(|_| PyValueError::new_err("a row is too long for a Python str"))?;
    // SAFETY: the pointer and length describe a live, initialised byte slice that CPython only
    // reads during the call; it returns a new reference or NULL with an exception set.
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_FromStringAndSize(bytes.as_ptr().cast(), len);
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.downcast_into_unchecked())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(integer_weights_py, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_py, m)?)?;
    m.add_function(wrap_pyfunction!(reweight_py, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_py, m)?)?;
    m.add_function(wrap_pyfunction!(gather_py, m)?)?;
    m.add_function(wrap_pyfunction!(strings_py, m)?)?;
    m.add_function(wrap_pyfunction!(block_gather_py, m)?)?;
    m.add_function(wrap_pyfunction!(block_strings_py, m)?)?;
    m.add_class::<ParquetTextPy>()?;
    m.add_class::<TextBlockPy>()?;
    Ok(())
}
