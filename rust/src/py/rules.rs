//! Binding of `rules`: the `QualityRules` class and the word/sentence splitters (for oracles).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use super::convert::{text_column, DataArg, OffsetsArg, ValidityArg};
use super::errors::PyExt;
use crate::rules::{words, Family, FineWeb, GopherQuality, GopherRepetition, Rules, C4};

/// Reads the parameters of one family from `params`, refusing unknown names.
struct Params<'a, 'py> {
    family: &'a str,
    dict: &'a Bound<'py, PyDict>,
    used: Vec<String>,
}

impl<'py> Params<'_, 'py> {
    fn get<T: FromPyObject<'py>>(&mut self, name: &str, default: T) -> PyResult<T> {
        self.used.push(name.to_owned());
        match self.dict.get_item(name)? {
            Some(v) => v.extract().map_err(|e| {
                PyTypeError::new_err(format!("{} parameter {name}: {e}", self.family))
            }),
            None => Ok(default),
        }
    }

    fn finish(self) -> PyResult<()> {
        for k in self.dict.keys() {
            let k: String = k.extract()?;
            if !self.used.contains(&k) {
                return Err(PyValueError::new_err(format!(
                    "unknown parameter {k:?} for rule family {:?}",
                    self.family
                )));
            }
        }
        Ok(())
    }
}

fn family(name: &str, dict: &Bound<'_, PyDict>) -> PyResult<Family> {
    let mut p = Params {
        family: name,
        dict,
        used: Vec::new(),
    };
    let f = match name {
        "gopher" => {
            let d = GopherQuality::default();
            Family::Gopher(GopherQuality {
                min_doc_words: p.get("min_doc_words", d.min_doc_words)?,
                max_doc_words: p.get("max_doc_words", d.max_doc_words)?,
                min_avg_word_length: p.get("min_avg_word_length", d.min_avg_word_length)?,
                max_avg_word_length: p.get("max_avg_word_length", d.max_avg_word_length)?,
                max_symbol_word_ratio: p.get("max_symbol_word_ratio", d.max_symbol_word_ratio)?,
                max_bullet_lines_ratio: p
                    .get("max_bullet_lines_ratio", d.max_bullet_lines_ratio)?,
                max_ellipsis_lines_ratio: p
                    .get("max_ellipsis_lines_ratio", d.max_ellipsis_lines_ratio)?,
                max_non_alpha_words_ratio: p
                    .get("max_non_alpha_words_ratio", d.max_non_alpha_words_ratio)?,
                min_stop_words: p.get("min_stop_words", d.min_stop_words)?,
                stop_words: p.get("stop_words", d.stop_words)?,
            })
        }
        "gopher-repetition" => {
            let d = GopherRepetition::default();
            Family::GopherRepetition(GopherRepetition {
                dup_para_frac: p.get("dup_para_frac", d.dup_para_frac)?,
                dup_para_char_frac: p.get("dup_para_char_frac", d.dup_para_char_frac)?,
                dup_line_frac: p.get("dup_line_frac", d.dup_line_frac)?,
                dup_line_char_frac: p.get("dup_line_char_frac", d.dup_line_char_frac)?,
                top_n_grams: p.get("top_n_grams", d.top_n_grams)?,
                dup_n_grams: p.get("dup_n_grams", d.dup_n_grams)?,
            })
        }
        "c4" => {
            let d = C4::default();
            Family::C4(C4 {
                remove_citations: p.get("remove_citations", d.remove_citations)?,
                filter_no_terminal_punct: p
                    .get("filter_no_terminal_punct", d.filter_no_terminal_punct)?,
                min_num_sentences: p.get("min_num_sentences", d.min_num_sentences)?,
                min_words_per_line: p.get("min_words_per_line", d.min_words_per_line)?,
                max_word_length: p.get("max_word_length", d.max_word_length)?,
                filter_lorem_ipsum: p.get("filter_lorem_ipsum", d.filter_lorem_ipsum)?,
                filter_javascript: p.get("filter_javascript", d.filter_javascript)?,
                filter_curly_bracket: p.get("filter_curly_bracket", d.filter_curly_bracket)?,
                filter_policy: p.get("filter_policy", d.filter_policy)?,
            })
        }
        "fineweb" => {
            let d = FineWeb::default();
            Family::FineWeb(FineWeb {
                line_punct_thr: p.get("line_punct_thr", d.line_punct_thr)?,
                line_punct_exclude_zero: p
                    .get("line_punct_exclude_zero", d.line_punct_exclude_zero)?,
                stop_chars: p.get("stop_chars", d.stop_chars)?,
                short_line_thr: p.get("short_line_thr", d.short_line_thr)?,
                short_line_length: p.get("short_line_length", d.short_line_length)?,
                char_duplicates_ratio: p.get("char_duplicates_ratio", d.char_duplicates_ratio)?,
                new_line_ratio: p.get("new_line_ratio", d.new_line_ratio)?,
            })
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "rules must be among 'gopher', 'gopher-repetition', 'c4', 'fineweb', got {other:?}"
            )))
        }
    };
    p.finish()?;
    Ok(f)
}

/// Heuristic quality rules (see `tamis.quality.QualityRules` for the documented API).
#[pyclass(name = "QualityRules", module = "tamis._core", frozen)]
pub(crate) struct PyQualityRules {
    inner: Rules,
}

type Decided<'py> = (
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<u16>>,
    Bound<'py, PyArray2<f64>>,
);

#[pymethods]
impl PyQualityRules {
    #[new]
    fn new(families: Vec<(String, Bound<'_, PyDict>)>) -> PyResult<Self> {
        let fams = families
            .iter()
            .map(|(name, d)| family(name, d))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            inner: Rules::new(fams)?,
        })
    }

    /// `(family, rule)` of every reason code `i + 1`, in check order.
    fn reasons(&self) -> Vec<(String, String)> {
        self.inner
            .reasons()
            .into_iter()
            .map(|(f, r)| (f.to_owned(), r.name()))
            .collect()
    }

    /// Names of the statistics columns.
    fn stat_names(&self) -> Vec<String> {
        self.inner.stat_names()
    }

    /// `(keep, reason codes, statistics)` for an Arrow string column given as buffers.
    #[pyo3(signature = (offsets, data, validity, *, with_stats = false, n_threads = None))]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        offsets: OffsetsArg<'py>,
        data: DataArg<'py>,
        validity: ValidityArg<'py>,
        with_stats: bool,
        n_threads: Option<usize>,
    ) -> PyResult<Decided<'py>> {
        let col = text_column(&offsets, &data, &validity)?;
        let n = crate::column::Texts::len(&col);
        let k = if with_stats {
            self.inner.stat_names().len()
        } else {
            0
        };
        let d = py.compute(|| self.inner.apply(&col, with_stats, n_threads))?;
        let stats = d.stats.into_pyarray(py).reshape([n, k])?;
        Ok((d.keep.into_pyarray(py), d.reason.into_pyarray(py), stats))
    }
}

/// The words datatrove's rules see (spaCy-compatible English tokens).
#[pyfunction]
pub(crate) fn rule_words(py: Python<'_>, text: &str) -> PyResult<Vec<String>> {
    py.compute(|| Ok(words::words(text).into_iter().map(str::to_owned).collect()))
}

/// Number of sentences spaCy's sentencizer finds in `text`.
#[pyfunction]
pub(crate) fn rule_sentences(py: Python<'_>, text: &str) -> PyResult<usize> {
    py.compute(|| Ok(words::count_sentences(text)))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyQualityRules>()?;
    m.add_function(wrap_pyfunction!(rule_words, m)?)?;
    m.add_function(wrap_pyfunction!(rule_sentences, m)?)?;
    Ok(())
}
