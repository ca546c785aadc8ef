//! Word and sentence splitting compatible with spaCy's English tokenizer (`spacy.blank("en")`),
//! which datatrove's rules use for English.
//!
//! The algorithm is spaCy's (Honnibal & Montani, spaCy 3): split on whitespace; for each
//! whitespace-free span, unless it is a special case, peel prefixes and suffixes repeatedly
//! (stopping when the rest is a special case), then keep the middle whole if it is a special case
//! or a URL, else split it at infixes. The prefix, suffix and infix rules are spaCy's English
//! punctuation rules written as character tests; where spaCy lists letters by script, the Unicode
//! properties are used. The special cases are a hand-written subset of spaCy's English
//! exceptions: contractions of the verbs and pronouns spaCy covers, abbreviations that keep their
//! period (titles, months, US states, `e.g.`, single letters), `10am`-style times, `cannot`,
//! `gonna`, `gotta`. docs/quality.md measures what the differences cost against spaCy itself.
//!
//! Sentences follow spaCy's `Sentencizer`: a sentence ends after a token that is one of its
//! punctuation characters, at the next token that is not punctuation.

use super::affixes::{find_prefix, find_suffix, is_url, split_infixes};
use super::chars::{is_punct_category, is_sentence_punctuation, is_space};
use super::exceptions::{emit_special, special};

/// Calls `f(token, is_space)` for every token of `text` in order, whitespace tokens included
/// (spaCy makes a token of every whitespace run except a single `' '`).
pub fn for_each_token<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    let mut start = 0;
    let mut in_ws: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let ws = is_space(c);
        match in_ws {
            None => in_ws = Some(ws),
            Some(prev) if prev != ws => {
                if start < i {
                    if prev {
                        f(&text[start..i], true);
                    } else {
                        split_span(&text[start..i], &mut f);
                    }
                }
                // A single leading ' ' belongs to the previous token (spaCy's `spacy` flag).
                start = if c == ' ' { i + 1 } else { i };
                in_ws = Some(ws);
            }
            Some(_) => {}
        }
    }
    if start < text.len() {
        if in_ws == Some(true) {
            f(&text[start..], true);
        } else {
            split_span(&text[start..], &mut f);
        }
    }
}

/// datatrove's `split_into_words`: the non-whitespace tokens.
pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    for_each_token(text, |t, ws| {
        if !ws {
            f(t);
        }
    });
}

/// The words of `text` (see [`for_each_word`]).
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_word(text, |w| out.push(w));
    out
}

/// The words of one document, split once on first use and shared by the rule families.
pub struct LazyWords<'a> {
    text: &'a str,
    cell: std::cell::OnceCell<Vec<&'a str>>,
}

impl<'a> LazyWords<'a> {
    /// Words of `text`, not split yet.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            cell: std::cell::OnceCell::new(),
        }
    }

    /// The words (see [`for_each_word`]).
    pub fn get(&self) -> &[&'a str] {
        self.cell.get_or_init(|| words(self.text))
    }
}

/// Number of sentences spaCy's `Sentencizer` finds in `text` (0 for a text without tokens).
pub fn count_sentences(text: &str) -> usize {
    let mut n = 0;
    let mut seen_period = false;
    for_each_token(text, |t, _| {
        if n == 0 {
            n = 1;
        }
        let mut cs = t.chars();
        let single = match (cs.next(), cs.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        };
        let in_punct_chars = single.is_some_and(is_sentence_punctuation);
        if seen_period && !in_punct_chars && !t.chars().all(is_punct_category) {
            n += 1;
            seen_period = false;
        } else if in_punct_chars {
            seen_period = true;
        }
    });
    n
}

// --- special cases ---------------------------------------------------------------------------

/// Whether `s` is a special case spaCy keeps as one token (these are also matched across the
/// tokens the affix rules produced, as spaCy's special-case matcher does).
fn whole_special(s: &str) -> bool {
    special(s).is_some_and(|(_, n)| n == 1)
}

/// Tokenises one whitespace-free span (spaCy's `_tokenize`, then its special-case matcher:
/// consecutive tokens that spell a one-token special case are merged, longest first).
fn split_span<'a>(span: &'a str, f: &mut impl FnMut(&'a str, bool)) {
    if let Some(p) = special(span) {
        emit_special(span, p, f);
        return;
    }
    if span.bytes().all(|b| b.is_ascii_alphabetic()) {
        f(span, false);
        return;
    }
    let mut toks: Vec<&'a str> = Vec::new();
    affixes(span, &mut |t, _| toks.push(t));
    if toks.len() < 2 {
        for t in toks {
            f(t, false);
        }
        return;
    }
    // Tokens cover `span` contiguously: token i starts at `starts[i]`.
    let base = span.as_ptr() as usize;
    let start_of = |t: &str| t.as_ptr() as usize - base;
    let mut i = 0;
    while i < toks.len() {
        let mut merged = false;
        for len in (2..=(toks.len() - i).min(6)).rev() {
            let last = toks[i + len - 1];
            let piece = &span[start_of(toks[i])..start_of(last) + last.len()];
            if whole_special(piece) {
                f(piece, false);
                i += len;
                merged = true;
                break;
            }
        }
        if !merged {
            f(toks[i], false);
            i += 1;
        }
    }
}

/// spaCy's affix loop and infix split of one whitespace-free span.
fn affixes<'a>(span: &'a str, f: &mut impl FnMut(&'a str, bool)) {
    let mut prefixes: Vec<&'a str> = Vec::new();
    let mut suffixes: Vec<&'a str> = Vec::new();
    let mut s = span;
    let mut last_len = usize::MAX;
    while !s.is_empty() && s.len() != last_len {
        if special(s).is_some() {
            break;
        }
        last_len = s.len();
        let pre = find_prefix(s);
        if pre != 0 {
            let minus_pre = &s[pre..];
            if !minus_pre.is_empty() && special(minus_pre).is_some() {
                prefixes.push(&s[..pre]);
                s = minus_pre;
                break;
            }
        }
        let suf = find_suffix(&s[pre..]);
        if suf != 0 {
            let minus_suf = &s[..s.len() - suf];
            if !minus_suf.is_empty() && special(minus_suf).is_some() {
                suffixes.push(&s[s.len() - suf..]);
                s = minus_suf;
                break;
            }
        }
        if pre != 0 && suf != 0 && pre + suf <= s.len() {
            prefixes.push(&s[..pre]);
            suffixes.push(&s[s.len() - suf..]);
            s = &s[pre..s.len() - suf];
        } else if pre != 0 {
            prefixes.push(&s[..pre]);
            s = &s[pre..];
        } else if suf != 0 {
            suffixes.push(&s[s.len() - suf..]);
            s = &s[..s.len() - suf];
        }
    }
    for p in prefixes {
        f(p, false);
    }
    if !s.is_empty() {
        if let Some(p) = special(s) {
            emit_special(s, p, f);
        } else if is_url(s) {
            f(s, false);
        } else {
            split_infixes(s, f);
        }
    }
    for x in suffixes.into_iter().rev() {
        f(x, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_spacy() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello, world!", &["Hello", ",", "world", "!"]),
            ("I don't know.", &["I", "do", "n't", "know", "."]),
            (
                "Mr. Smith's e-mail",
                &["Mr.", "Smith", "'s", "e", "-", "mail"],
            ),
            (
                "(see www.example.com/a-b).",
                &["(", "see", "www.example.com/a-b", ")", "."],
            ),
            ("It costs $5.50...", &["It", "costs", "$", "5.50", "..."]),
            ("U.S.A. and 10km", &["U.S.A.", "and", "10", "km"]),
            ("end.The", &["end", ".", "The"]),
            ("a  b\n", &["a", "b"]),
        ];
        for (text, want) in cases {
            assert_eq!(&words(text), want, "{text}");
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(count_sentences(""), 0);
        assert_eq!(count_sentences("One. Two! Three?"), 3);
        assert_eq!(count_sentences("Mr. Smith went home."), 1);
        assert_eq!(count_sentences("Wait... what"), 1);
        assert_eq!(count_sentences("Hi!! Ok"), 2);
    }
}
