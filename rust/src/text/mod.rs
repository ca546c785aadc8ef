//! Text normalisation and tokenisation over `&str`.
//!
//! The word tokeniser has the semantics of Python's `re.findall(r"\w+|[^\w\s]+", text)`: maximal
//! runs of word characters and maximal runs of characters that are neither word characters nor
//! whitespace. That is NLTK's `WordPunctTokenizer`, which DSIR (Xie et al., 2023) runs after
//! `str.lower()`. Character classes come from [`tables`], generated from CPython's own `re`, so
//! the tokens agree with Python character for character (Unicode 14, CPython 3.11). ASCII text
//! takes a table-driven fast path.
//!
//! Normalisation steps run in a fixed order: NFKC, lowercase (full Unicode case mapping, as
//! `str.lower()`), punctuation stripping (punctuation = neither word character nor whitespace,
//! i.e. exactly what the tokeniser emits as punctuation tokens), whitespace folding (runs of
//! whitespace become one ASCII space, leading and trailing whitespace is dropped).

mod tables;

use unicode_normalization::UnicodeNormalization;

/// Unicode version of the character tables (that of the Python that generated them).
pub const UNICODE_VERSION: &str = tables::UNICODE_VERSION;

/// The class of a character for tokenisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    /// Python's `\w`: alphanumeric or underscore.
    Word,
    /// Python's `\s`.
    Space,
    /// Everything else.
    Punct,
}

const fn ascii_classes() -> [CharClass; 128] {
    let mut t = [CharClass::Punct; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphanumeric() || b == b'_' {
            CharClass::Word
        } else if (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x20) {
            CharClass::Space
        } else {
            CharClass::Punct
        };
        i += 1;
    }
    t
}

static ASCII_CLASS: [CharClass; 128] = ascii_classes();

/// True when `c` is in one of the sorted, disjoint inclusive `ranges`.
pub(crate) fn in_ranges(ranges: &[(u32, u32)], c: u32) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The tokeniser class of an ASCII byte (callers check that the text is ASCII first; the high
/// bit is masked so the lookup needs no bounds check).
#[inline]
pub fn ascii_class(b: u8) -> CharClass {
    ASCII_CLASS[(b & 0x7f) as usize]
}

/// The tokeniser class of `c`.
#[inline]
pub fn char_class(c: char) -> CharClass {
    let cp = c as u32;
    if cp < 128 {
        ASCII_CLASS[cp as usize]
    } else if in_ranges(&tables::WORD_RANGES, cp) {
        CharClass::Word
    } else if in_ranges(&tables::SPACE_RANGES, cp) {
        CharClass::Space
    } else {
        CharClass::Punct
    }
}

/// Normalisation options. The default does nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Normalizer {
    /// Unicode NFKC composition (compatibility forms folded: `ﬁ` → `fi`, full-width → ASCII).
    pub nfkc: bool,
    /// Full Unicode lowercase, as Python's `str.lower()`.
    pub lowercase: bool,
    /// Remove every character that is neither a word character nor whitespace.
    pub strip_punctuation: bool,
    /// Collapse whitespace runs to one space and trim both ends.
    pub fold_whitespace: bool,
}

impl Normalizer {
    /// True when [`Normalizer::apply`] returns its input unchanged.
    pub fn is_identity(&self) -> bool {
        *self == Self::default()
    }

    /// Normalises `text`, using `buf` as scratch space; returns the normalised text.
    pub fn apply<'a>(&self, text: &'a str, buf: &'a mut String) -> &'a str {
        if self.is_identity() {
            return text;
        }
        let mut cur = std::mem::take(buf);
        cur.clear();
        let mut src: std::borrow::Cow<'_, str> = std::borrow::Cow::Borrowed(text);
        if self.nfkc && !text.is_ascii() {
            cur.extend(text.nfkc());
            src = std::borrow::Cow::Owned(std::mem::take(&mut cur));
        }
        if self.lowercase {
            if src.is_ascii() {
                cur.clear();
                cur.push_str(&src);
                cur.make_ascii_lowercase();
            } else {
                cur = src.to_lowercase();
            }
            src = std::borrow::Cow::Owned(std::mem::take(&mut cur));
        }
        if self.strip_punctuation || self.fold_whitespace {
            cur.clear();
            let mut pending_space = false;
            for c in src.chars() {
                match char_class(c) {
                    CharClass::Punct if self.strip_punctuation => {}
                    CharClass::Space if self.fold_whitespace => pending_space = true,
                    _ => {
                        if pending_space && !cur.is_empty() {
                            cur.push(' ');
                        }
                        pending_space = false;
                        cur.push(c);
                    }
                }
            }
            src = std::borrow::Cow::Owned(std::mem::take(&mut cur));
        }
        *buf = src.into_owned();
        buf.as_str()
    }
}

/// Calls `f(start, end)` with the byte span of every `\w+|[^\w\s]+` token of `text`, in order.
#[inline]
pub fn for_each_word_span(text: &str, mut f: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    if text.is_ascii() {
        let mut i = 0;
        let n = bytes.len();
        while i < n {
            let class = ASCII_CLASS[bytes[i] as usize];
            if class == CharClass::Space {
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            while i < n && ASCII_CLASS[bytes[i] as usize] == class {
                i += 1;
            }
            f(start, i);
        }
        return;
    }
    let mut current: Option<(CharClass, usize)> = None;
    for (pos, c) in text.char_indices() {
        let class = char_class(c);
        match current {
            Some((cls, _)) if cls == class => {}
            Some((_, start)) => {
                f(start, pos);
                current = (class != CharClass::Space).then_some((class, pos));
            }
            None => current = (class != CharClass::Space).then_some((class, pos)),
        }
    }
    if let Some((_, start)) = current {
        f(start, text.len());
    }
}

/// The `\w+|[^\w\s]+` tokens of `text` (no normalisation).
pub fn word_tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for_each_word_span(text, |a, b| out.push(&text[a..b]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_wordpunct() {
        assert_eq!(
            word_tokens("Hello, world!! it's 3.14"),
            ["Hello", ",", "world", "!!", "it", "'", "s", "3", ".", "14"]
        );
        assert_eq!(word_tokens("  "), Vec::<&str>::new());
        assert_eq!(word_tokens("naïve café—ok"), ["naïve", "café", "—", "ok"]);
        // Combining marks are not \w in Python (U+0301 is Mn): they form punctuation runs.
        assert_eq!(word_tokens("e\u{301}x"), ["e", "\u{301}", "x"]);
        // U+001C is whitespace for Python's re.
        assert_eq!(word_tokens("a\u{1c}b"), ["a", "b"]);
    }

    #[test]
    fn normalizer_steps() {
        let mut buf = String::new();
        let all = Normalizer {
            nfkc: true,
            lowercase: true,
            strip_punctuation: true,
            fold_whitespace: true,
        };
        assert_eq!(
            all.apply("  Ｈｅｌｌｏ,\t\n WORLD!  ", &mut buf),
            "hello world"
        );
        let lower = Normalizer {
            lowercase: true,
            ..Normalizer::default()
        };
        assert_eq!(lower.apply("ΟΔΟΣ İ", &mut buf), "οδος i\u{307}");
        assert_eq!(Normalizer::default().apply("As Is", &mut buf), "As Is");
        let fold = Normalizer {
            fold_whitespace: true,
            ..Normalizer::default()
        };
        assert_eq!(fold.apply("a  b\u{3000}c ", &mut buf), "a b c");
    }
}
