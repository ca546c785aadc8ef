//! Boundary adapters: numpy views of Arrow buffers → [`TextColumn`], parameter checks.

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::column::{Offsets, TextColumn};

/// Arrow offsets as numpy: int32 (`string`) or int64 (`large_string`).
#[derive(FromPyObject)]
pub(crate) enum OffsetsArg<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

fn contiguous<'a, T: numpy::Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous array")))
}

/// Borrows the buffers of an Arrow string array as a [`TextColumn`] (no copy).
pub(crate) fn text_column<'a>(
    offsets: &'a OffsetsArg<'_>,
    data: &'a PyReadonlyArray1<'_, u8>,
    validity: Option<&'a PyReadonlyArray1<'_, bool>>,
) -> PyResult<TextColumn<'a>> {
    let offs = match offsets {
        OffsetsArg::I32(a) => Offsets::I32(contiguous(a, "offsets")?),
        OffsetsArg::I64(a) => Offsets::I64(contiguous(a, "offsets")?),
    };
    let data = contiguous(data, "data")?;
    let validity = validity.map(|v| contiguous(v, "validity")).transpose()?;
    Ok(TextColumn::new(offs, data, validity)?)
}
