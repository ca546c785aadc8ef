//! Character predicates with Python's and spaCy's definitions (tables generated from CPython,
//! datatrove and spaCy by `scripts/gen_rules_tables.py`), with ASCII fast paths.

use super::tables;
use crate::text::{char_class, CharClass};

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    crate::text::in_ranges(ranges, c as u32)
}

/// `str.isspace()` (U+001C..U+001F included, unlike Rust's `char::is_whitespace`).
#[inline]
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, '\t'..='\r' | '\x1c'..=' ')
    } else {
        char_class(c) == CharClass::Space
    }
}

/// `str.isalpha()`.
#[inline]
pub fn is_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(&tables::ALPHA, c)
    }
}

/// `re`'s `\d` on `str` (Unicode decimal digits).
#[inline]
pub fn is_decimal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_ranges(&tables::DECIMAL, c)
    }
}

/// General category So (spaCy's icons).
#[inline]
pub fn is_symbol_other(c: char) -> bool {
    !c.is_ascii() && in_ranges(&tables::SYMBOL_OTHER, c)
}

/// General category P* (spaCy's `is_punct` of a one-character token).
#[inline]
pub fn is_punct_category(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, '!'..='#' | '%'..='*' | ','..='/' | ':' | ';' | '?' | '@' | '['..=']' | '_' | '{' | '}')
    } else {
        in_ranges(&tables::PUNCT_CATEGORY, c)
    }
}

/// datatrove's `PUNCTUATION_SET` (a word made only of these is a "symbol word" for Gopher).
#[inline]
pub fn is_datatrove_punctuation(c: char) -> bool {
    in_ranges(&tables::DATATROVE_PUNCTUATION, c)
}

/// datatrove's `TERMINAL_PUNCTUATION` (FineWeb's default line endings).
#[inline]
pub fn is_terminal_punctuation(c: char) -> bool {
    in_ranges(&tables::TERMINAL_PUNCTUATION, c)
}

/// spaCy's sentencizer punctuation.
#[inline]
pub fn is_sentence_punctuation(c: char) -> bool {
    in_ranges(&tables::SENTENCE_PUNCTUATION, c)
}

/// Every character of datatrove's `TERMINAL_PUNCTUATION`, in code point order.
pub fn terminal_punctuation() -> Vec<char> {
    tables::TERMINAL_PUNCTUATION
        .iter()
        .flat_map(|&(lo, hi)| (lo..=hi).filter_map(char::from_u32))
        .collect()
}

/// Python's `len()`: the number of code points.
#[inline]
pub fn n_chars(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// `str.strip()` with Python's whitespace.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.splitlines()` (no keepends): `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`-`\x1e`,
/// `\x85`, U+2028 and U+2029 end a line; a final line break does not start an empty line.
pub fn splitlines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        if s.is_empty() {
            rest = None;
            return None;
        }
        for (i, c) in s.char_indices() {
            let end = match c {
                '\r' => {
                    if s.as_bytes().get(i + 1) == Some(&b'\n') {
                        i + 2
                    } else {
                        i + 1
                    }
                }
                '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
                | '\u{2029}' => i + c.len_utf8(),
                _ => continue,
            };
            rest = Some(&s[end..]);
            return Some(&s[..i]);
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_like_python() {
        fn l(s: &str) -> Vec<&str> {
            splitlines(s).collect()
        }
        assert_eq!(l(""), Vec::<&str>::new());
        assert_eq!(l("\n"), vec![""]);
        assert_eq!(l("a\r\nb\rc\n"), vec!["a", "b", "c"]);
        assert_eq!(l("a\n\nb\u{2028}"), vec!["a", "", "b"]);
    }

    #[test]
    fn predicates() {
        assert!(is_space('\x1c') && !'\x1c'.is_whitespace());
        assert!(is_alpha('é') && !is_alpha('\u{301}'));
        assert!(is_decimal('٣'));
        assert!(is_terminal_punctuation('.') && is_terminal_punctuation('。'));
        assert!(is_datatrove_punctuation('#') && !is_datatrove_punctuation('a'));
        for c in [
            '!', '"', '#', '%', '&', '(', ')', '*', ',', '-', '.', '/', ':', '?', '@', '_',
        ] {
            assert!(is_punct_category(c), "{c}");
        }
        for c in ['$', '+', '<', '=', '>', '^', '`', '|', '~', 'a', '0'] {
            assert!(!is_punct_category(c), "{c}");
        }
    }
}
