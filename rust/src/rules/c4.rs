//! C4's rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
//! Text-to-Text Transformer", section 2.2) with datatrove 0.10.1's `C4QualityFilter` defaults.
//! Lines are filtered (too long a word, no terminal punctuation, too few words, `javascript`,
//! policy phrases); a document is dropped for `lorem ipsum` or `{` on a kept line, or for too
//! few sentences on its kept lines. tamis reports the decision and leaves the text as it is.

use super::chars::{is_decimal, is_space, py_strip, splitlines};
use super::words::count_sentences;
use super::Reason;

/// C4 options (`None` disables a rule). Defaults: datatrove's.
#[derive(Clone, Debug)]
pub struct C4 {
    /// Drop wikipedia citations (`[1]`, `[edit]`, `[citation needed]`) before the line checks.
    pub remove_citations: bool,
    /// Drop lines that do not end in `.`, `?`, `!`, `"`, `'` (or end in `...`).
    pub filter_no_terminal_punct: bool,
    /// Fewer sentences on the kept lines: `too_few_sentences`.
    pub min_num_sentences: Option<usize>,
    /// Drop lines with fewer whitespace-separated words.
    pub min_words_per_line: Option<usize>,
    /// Drop lines with a longer word (characters).
    pub max_word_length: Option<usize>,
    /// `lorem ipsum` on a kept line: `lorem_ipsum`.
    pub filter_lorem_ipsum: bool,
    /// Drop lines mentioning `javascript`.
    pub filter_javascript: bool,
    /// `{` on a kept line: `curly_bracket`.
    pub filter_curly_bracket: bool,
    /// Drop lines with a cookie / terms-of-use phrase.
    pub filter_policy: bool,
}

impl Default for C4 {
    fn default() -> Self {
        Self {
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: Some(5),
            min_words_per_line: Some(3),
            max_word_length: Some(1000),
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

const POLICY: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

/// The statistics of the C4 rules for one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct C4Stats {
    /// Lines (`str.splitlines`).
    pub n_lines: usize,
    /// Lines kept by the line filters (up to a document-level drop).
    pub n_kept_lines: usize,
    /// Sentences on the kept lines.
    pub n_sentences: usize,
}

/// Removes `\[\d*]|\[edit]|\[citation needed]` (Python `re.sub`, `\d` Unicode).
fn remove_citations(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('[') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits: usize = after
            .char_indices()
            .take_while(|&(_, c)| is_decimal(c))
            .last()
            .map_or(0, |(j, c)| j + c.len_utf8());
        let skip = if after[digits..].starts_with(']') {
            Some(digits + 1)
        } else if after.starts_with("edit]") {
            Some(5)
        } else if after.starts_with("citation needed]") {
            Some(16)
        } else {
            None
        };
        if let Some(n) = skip {
            rest = &after[n..];
        } else {
            out.push('[');
            rest = after;
        }
    }
    out.push_str(rest);
    out.into()
}

/// Whether `lower` (already lower-cased) contains `needle`.
fn lower_contains(lower: &str, needle: &str) -> bool {
    lower.contains(needle)
}

/// Computes the statistics and the decision (datatrove's line order).
pub fn c4(text: &str, p: &C4, all_stats: bool) -> (C4Stats, Option<Reason>) {
    let mut s = C4Stats::default();
    for raw in splitlines(text) {
        s.n_lines += 1;
        let line = py_strip(raw);
        let mut n_words = 0usize;
        let mut too_long = false;
        for w in line.split(is_space).filter(|w| !w.is_empty()) {
            n_words += 1;
            if let Some(max) = p.max_word_length {
                if w.len() > max && super::chars::n_chars(w) > max {
                    too_long = true;
                }
            }
        }
        if too_long {
            continue;
        }
        let line = if p.remove_citations {
            remove_citations(line)
        } else {
            line.into()
        };
        let line: &str = &line;
        if p.filter_no_terminal_punct
            && (!line.ends_with(['.', '?', '!', '"', '\'']) || line.ends_with("..."))
        {
            continue;
        }
        if p.min_words_per_line.is_some_and(|m| n_words < m) {
            continue;
        }
        let lower = if line.is_ascii() {
            line.to_ascii_lowercase()
        } else {
            line.to_lowercase()
        };
        if p.filter_lorem_ipsum && lower_contains(&lower, "lorem ipsum") {
            return (s, Some(Reason::LoremIpsum));
        }
        if p.filter_javascript && lower_contains(&lower, "javascript") {
            continue;
        }
        if p.filter_curly_bracket && line.contains('{') {
            return (s, Some(Reason::CurlyBracket));
        }
        if p.filter_policy && POLICY.iter().any(|x| lower_contains(&lower, x)) {
            continue;
        }
        if let Some(min) = p.min_num_sentences {
            if all_stats || s.n_sentences < min {
                s.n_sentences += count_sentences(line);
            }
        }
        s.n_kept_lines += 1;
    }
    let reason = match p.min_num_sentences {
        Some(min) if s.n_sentences < min => Some(Reason::TooFewSentences),
        _ => None,
    };
    (s, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations() {
        assert_eq!(remove_citations("a[1] b[edit][x]"), "a b[x]");
        assert_eq!(remove_citations("[][citation needed]["), "[");
        assert_eq!(remove_citations("x[٣]"), "x");
    }

    #[test]
    fn decisions() {
        let p = C4::default();
        let good = "This is one sentence. And two.\n".repeat(3);
        assert_eq!(c4(&good, &p, false).1, None);
        assert_eq!(
            c4("Lorem ipsum dolor sit.", &p, false).1,
            Some(Reason::LoremIpsum)
        );
        assert_eq!(
            c4("int f() { return 0; }", &p, false).1,
            Some(Reason::TooFewSentences)
        );
        assert_eq!(c4("a b { c.", &p, false).1, Some(Reason::CurlyBracket));
    }
}
