//! tamis-core: the Rust core of tamis, a toolkit that selects pre-training data.
//!
//! Pure Rust, no pyo3 outside [`py`] (compiled only with the `python` feature), so `cargo test`
//! needs no libpython. Every parallel routine runs on [`parallel::with_threads`] and returns the
//! same bits for any thread count.

pub mod alloc;
pub mod balance;
pub mod column;
pub mod decontam;
pub mod error;
pub mod fasttext;
pub mod hash;
pub mod importance;
pub mod kmeans;
pub mod linear;
pub mod minhash;
pub mod mix;
pub mod ngram;
pub mod ot;
pub mod parallel;
pub mod rng;
pub mod rules;
pub mod sensitivity;
pub mod text;

pub use column::{Offsets, TextColumn, Texts};
pub use error::{Error, Result};
pub use ngram::{Analyzer, HashKind, NgramConfig};
pub use text::Normalizer;

#[cfg(feature = "python")]
mod py;
