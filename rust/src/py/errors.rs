//! The Python exception hierarchy and the one conversion from core errors.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::Error;

create_exception!(
    _core,
    TamisError,
    PyException,
    "Base class of the errors raised by tamis that are not argument errors."
);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let msg = err.to_string();
        match err {
            Error::InvalidParameter { .. }
            | Error::ShapeMismatch(_)
            | Error::InvalidUtf8 { .. }
            | Error::MalformedColumn(_) => PyValueError::new_err(msg),
            Error::Io(e) => match e.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
                _ => PyOSError::new_err(msg),
            },
            _ => TamisError::new_err(msg),
        }
    }
}

/// Releases the GIL around a core computation and converts its error (polars' `enter_polars`).
pub(crate) trait PyExt {
    fn compute<T, F>(self, f: F) -> PyResult<T>
    where
        F: Send + FnOnce() -> crate::Result<T>,
        T: Send;
}

impl PyExt for Python<'_> {
    fn compute<T, F>(self, f: F) -> PyResult<T>
    where
        F: Send + FnOnce() -> crate::Result<T>,
        T: Send,
    {
        self.allow_threads(f).map_err(PyErr::from)
    }
}
