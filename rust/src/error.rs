//! The one error type of the core. No pyo3 here: `py/errors.rs` maps it onto Python exceptions.

/// Everything that can go wrong in the core, with enough context to name the culprit.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of its domain (`n_buckets must be > 0, got 0`).
    #[error("{name} {reason}")]
    InvalidParameter {
        /// The parameter's name, as the user spells it.
        name: &'static str,
        /// What is wrong with it, including the bad value.
        reason: String,
    },
    /// Two inputs that must agree in size do not.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A document is not valid UTF-8.
    #[error("row {row}: text is not valid UTF-8 (invalid byte at offset {offset})")]
    InvalidUtf8 {
        /// Index of the document in the batch.
        row: usize,
        /// Byte offset of the first invalid byte inside the document.
        offset: usize,
    },
    /// A text column's buffers are inconsistent (offsets not monotone or past the data).
    #[error("malformed text column: {0}")]
    MalformedColumn(String),
    /// The thread pool could not be built.
    #[error("could not start {n_threads} worker threads: {reason}")]
    ThreadPool {
        /// Requested number of threads.
        n_threads: usize,
        /// The operating system's reason.
        reason: String,
    },
    /// An allocation sized by a parameter or by the input could not be made (the request is
    /// checked or made fallibly instead of aborting the process).
    #[error("cannot allocate {bytes} bytes for {what} (set by {param}): reduce {param} or the batch size")]
    OutOfMemory {
        /// The parameter (or input) that sets the size, as the user spells it.
        param: &'static str,
        /// What the memory was for, with its shape.
        what: String,
        /// Bytes requested (exact: computed in 128 bits, so it never overflows).
        bytes: u128,
    },
    /// A model file (fastText `.bin` / `.ftz`) is not a model tamis can read, is truncated, or
    /// its parts disagree; the message says which part and at which offset.
    #[error("invalid model file: {0}")]
    InvalidModel(String),
    /// A Parquet file or row group that cannot be decoded (the message names the file).
    #[error("invalid Parquet data: {0}")]
    InvalidParquet(String),
    /// The computation was stopped from outside (Ctrl-C) between two units of work.
    #[error("interrupted")]
    Interrupted,
    /// An I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
