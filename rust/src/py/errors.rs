//! The Python exception hierarchy and the one conversion from core errors.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyKeyboardInterrupt, PyMemoryError, PyOSError,
    PyPermissionError, PyValueError,
};
use pyo3::prelude::*;

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::error::Error;
use crate::parallel::Stop;

// Declared as `tamis._core.TamisError` (not `_core.TamisError`): pickle looks classes up by
// `__module__`, so a worker process (multiprocessing, Ray) can send the error back.
create_exception!(
    tamis._core,
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
            | Error::MalformedColumn(_)
            | Error::InvalidModel(_)
            | Error::InvalidParquet(_) => PyValueError::new_err(msg),
            Error::OutOfMemory { .. } => PyMemoryError::new_err(msg),
            Error::Interrupted => PyKeyboardInterrupt::new_err(msg),
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

    /// As [`PyExt::compute`] for long computations that poll a [`Stop`]: the core runs on a
    /// scoped thread while this (main) thread waits without the GIL and checks for signals
    /// every 100 ms (Python only delivers signals to the main thread). On Ctrl-C the stop is
    /// requested, the core returns at its next check, and the `KeyboardInterrupt` is raised.
    fn compute_interruptible<T, F>(self, f: F) -> PyResult<T>
    where
        F: Send + FnOnce(&Stop) -> crate::Result<T>,
        T: Send;
}

/// Marks the worker finished even when it panics, so the waiting thread never hangs.
struct Done<'a>(&'a (Mutex<bool>, Condvar));

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let (m, c) = self.0;
        *m.lock().unwrap_or_else(PoisonError::into_inner) = true;
        c.notify_all();
    }
}

impl PyExt for Python<'_> {
    fn compute<T, F>(self, f: F) -> PyResult<T>
    where
        F: Send + FnOnce() -> crate::Result<T>,
        T: Send,
    {
        self.allow_threads(f).map_err(PyErr::from)
    }

    fn compute_interruptible<T, F>(self, f: F) -> PyResult<T>
    where
        F: Send + FnOnce(&Stop) -> crate::Result<T>,
        T: Send,
    {
        let stop = Stop::default();
        let done = (Mutex::new(false), Condvar::new());
        std::thread::scope(|s| {
            let worker = std::thread::Builder::new()
                .name("tamis-main".into())
                .spawn_scoped(s, || {
                    let _done = Done(&done);
                    f(&stop)
                })
                .map_err(|e| PyErr::from(Error::Io(e)))?;
            let mut interrupt = None;
            loop {
                let finished = self.allow_threads(|| {
                    let (m, c) = &done;
                    let guard = m.lock().unwrap_or_else(PoisonError::into_inner);
                    let (guard, _) = c
                        .wait_timeout_while(guard, Duration::from_millis(100), |d| !*d)
                        .unwrap_or_else(PoisonError::into_inner);
                    *guard
                });
                if finished {
                    break;
                }
                if interrupt.is_none() {
                    if let Err(e) = self.check_signals() {
                        stop.request();
                        interrupt = Some(e);
                    }
                }
            }
            let out = worker
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            match interrupt {
                Some(e) => Err(e),
                None => out.map_err(PyErr::from),
            }
        })
    }
}
