//! The `tamis._core` extension module: registration only. Each core module has its bindings in
//! a file of the same name here; nothing outside `py/` knows pyo3.

mod balance;
mod convert;
mod decontam;
mod errors;
mod fasttext;
mod importance;
mod kmeans;
mod linear;
mod minhash;
mod mix;
mod ngram;
mod ot;
mod rules;
mod sensitivity;
mod text;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "build_profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    m.add("unicode_version", crate::text::UNICODE_VERSION)?;
    m.add("default_threads", crate::parallel::default_threads())?;
    m.add("TamisError", py.get_type::<errors::TamisError>())?;
    m.add_function(wrap_pyfunction!(text::xxh3_64, m)?)?;
    m.add_function(wrap_pyfunction!(text::normalize, m)?)?;
    m.add_function(wrap_pyfunction!(text::tokenize, m)?)?;
    m.add_class::<ngram::PyFeaturizer>()?;
    balance::register(m)?;
    fasttext::register(m)?;
    decontam::register(m)?;
    importance::register(m)?;
    kmeans::register(m)?;
    linear::register(m)?;
    minhash::register(m)?;
    mix::register(m)?;
    ot::register(m)?;
    sensitivity::register(m)?;
    rules::register(m)?;
    Ok(())
}
