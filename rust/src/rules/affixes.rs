//! spaCy's English prefix, suffix and infix rules written as character tests, and its URL
//! match (the `token_match`/`url_match` of spaCy 3); see [`super::words`].

use super::chars::{is_alpha, is_symbol_other};

/// spaCy's `LIST_PUNCT` characters (split off as prefix or suffix).
pub(super) fn is_list_punct(c: char) -> bool {
    matches!(
        c,
        '…' | ','
            | ':'
            | ';'
            | '!'
            | '?'
            | '¿'
            | '؟'
            | '¡'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '_'
            | '#'
            | '*'
            | '&'
            | '。'
            | '？'
            | '！'
            | '，'
            | '、'
            | '；'
            | '：'
            | '～'
            | '·'
            | '।'
            | '،'
            | '۔'
            | '؛'
            | '٪'
    )
}

/// spaCy's `LIST_QUOTES` characters.
pub(super) fn is_quote(c: char) -> bool {
    matches!(
        c,
        '\'' | '"'
            | '”'
            | '“'
            | '`'
            | '‘'
            | '´'
            | '’'
            | '‚'
            | ','
            | '„'
            | '»'
            | '«'
            | '「'
            | '」'
            | '『'
            | '』'
            | '（'
            | '）'
            | '〔'
            | '〕'
            | '【'
            | '】'
            | '《'
            | '》'
            | '〈'
            | '〉'
            | '⟦'
            | '⟧'
    )
}

/// spaCy's single-character currency symbols.
pub(super) fn is_currency(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '฿' | '﷼' | '₠'..='₿')
}

/// spaCy's `ALPHA_LOWER` (approximated by Unicode: lower-case letters and uncased letters of
/// scripts from Hebrew on, which spaCy lists as lower case).
pub(super) fn is_lower(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    c.is_lowercase() || (is_alpha(c) && !c.is_uppercase() && c as u32 >= 0x0590)
}

/// spaCy's `ALPHA_UPPER`.
pub(super) fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        c.is_uppercase() || (is_alpha(c) && !c.is_lowercase() && c as u32 >= 0x0590)
    }
}

/// spaCy's `ALPHA` (letters of any script).
pub(super) fn is_letter(c: char) -> bool {
    is_alpha(c)
}

/// Quote characters of spaCy's `CONCAT_QUOTES`.
pub(super) fn is_concat_quote(c: char) -> bool {
    is_quote(c)
}

/// Byte length of the leading run of `.` (at least two for spaCy's ellipsis rule).
pub(super) fn dots(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b'.').count()
}

/// spaCy's `find_prefix`: the length of the first prefix rule matching at the start (0: none).
pub(super) fn find_prefix(s: &str) -> usize {
    let mut cs = s.chars();
    let Some(c) = cs.next() else { return 0 };
    let next = cs.next();
    match c {
        '§' | '%' | '=' | '—' | '–' => return c.len_utf8(),
        '+' if !next.is_some_and(|n| n.is_ascii_digit()) => return 1,
        _ => {}
    }
    if is_list_punct(c) {
        return c.len_utf8();
    }
    if c == '.' {
        let d = dots(s);
        if d >= 2 {
            return d;
        }
    }
    if is_quote(c) || is_currency(c) || is_symbol_other(c) {
        return c.len_utf8();
    }
    for cur in ["US$", "C$", "A$"] {
        if s.starts_with(cur) {
            return cur.len();
        }
    }
    0
}

/// spaCy's `UNITS` (split off after a digit).
pub(super) const UNITS: &[&str] = &[
    "km", "km²", "km³", "m", "m²", "m³", "dm", "dm²", "dm³", "cm", "cm²", "cm³", "mm", "mm²",
    "mm³", "ha", "µm", "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s",
    "km/h", "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T",
    "G", "M", "K", "%", "км", "км²", "км³", "м", "м²", "м³", "дм", "дм²", "дм³", "см", "см²",
    "см³", "мм", "мм²", "мм³", "нм", "кг", "г", "мг", "м/с", "км/ч", "кПа", "Па", "мбар", "Кб",
    "КБ", "кб", "Мб", "МБ", "мб", "Гб", "ГБ", "гб", "Тб", "ТБ",
];

/// Whether the suffix rules match `rest` (the end of the string) with `before` the text before it.
pub(super) fn suffix_matches(before: &str, rest: &str) -> bool {
    let mut cs = rest.chars();
    let Some(c) = cs.next() else { return false };
    let single = cs.next().is_none();
    let prev = before.chars().next_back();
    if single && (is_list_punct(c) || is_quote(c) || is_symbol_other(c) || matches!(c, '—' | '–'))
    {
        return true;
    }
    if rest == "……" || matches!(rest, "'s" | "'S" | "’s" | "’S") {
        return true;
    }
    if rest.len() >= 2 && rest.bytes().all(|b| b == b'.') {
        return true;
    }
    let after_digit = prev.is_some_and(|p| p.is_ascii_digit());
    if after_digit
        && (rest == "+"
            || (single && is_currency(c))
            || matches!(rest, "US$" | "C$" | "A$")
            || UNITS.contains(&rest))
    {
        return true;
    }
    if rest == "." {
        let mut back = before.chars().rev();
        let p1 = back.next();
        let p2 = back.next();
        if let (Some(a), Some(b)) = (p2, p1) {
            if a == '°' && matches!(b, 'F' | 'f' | 'C' | 'c' | 'K' | 'k') {
                return true;
            }
            if is_upper(a) && is_upper(b) {
                return true;
            }
        }
        if let Some(p) = p1 {
            // `[0-9{lower}%²\-\+{PUNCT}(?:{quotes})]`: the class holds the characters of the
            // PUNCT alternation, `|`, `(`, `?`, `:`, `)` and the quotes — not `\` (PUNCT's
            // backslashes escape the next character: spaCy keeps `\.` as one token).
            if p.is_ascii_digit()
                || is_lower(p)
                || matches!(p, '%' | '²' | '-' | '+' | '|' | '(' | '?' | ':' | ')')
                || is_list_punct(p)
                || is_concat_quote(p)
            {
                return true;
            }
        }
    }
    false
}

/// spaCy's `find_suffix`: the length of the leftmost suffix match (0: none).
pub(super) fn find_suffix(s: &str) -> usize {
    // Only a run of dots can be a long suffix; every other rule is at most 8 characters.
    let trailing_dots = s.bytes().rev().take_while(|&b| b == b'.').count();
    let dot_start = s.len() - trailing_dots;
    let mut tail_start = s.len();
    for (n, (i, _)) in s.char_indices().rev().enumerate() {
        if n >= 8 {
            break;
        }
        tail_start = i;
    }
    let first = if trailing_dots >= 2 {
        dot_start.min(tail_start)
    } else {
        tail_start
    };
    for (i, _) in s[first..].char_indices() {
        let at = first + i;
        if suffix_matches(&s[..at], &s[at..]) {
            return s.len() - at;
        }
    }
    0
}

/// spaCy's `url_match` (approximated): optional scheme and user, a dotted host ending in a
/// lower-case top-level label of 2..63 letters, optional port, optional path.
pub(super) fn is_url(s: &str) -> bool {
    let mut rest = s;
    if let Some(i) = rest.find("://") {
        let scheme = &rest[..i];
        if scheme.chars().count() >= 2
            && scheme
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
        {
            rest = &rest[i + 3..];
        }
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if let Some(at) = rest[..host_end].rfind('@') {
        if at == 0 {
            return false;
        }
        rest = &rest[at + 1..];
    }
    let host_end = rest.find([':', '/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str| {
        let n = l.chars().count();
        let ok_end = |c: char| c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c);
        (1..=63).contains(&n)
            && l.chars().next().is_some_and(ok_end)
            && l.chars().next_back().is_some_and(ok_end)
            && l.chars().all(|c| ok_end(c) || c == '_' || c == '-')
    };
    let (tld, rest_labels) = labels.split_last().unwrap_or((&"", &[]));
    let n_tld = tld.chars().count();
    if !(2..=63).contains(&n_tld) || !tld.chars().all(is_lower) {
        return false;
    }
    if !rest_labels.iter().all(|l| label_ok(l)) {
        return false;
    }
    let mut tail = tail;
    if let Some(port) = tail.strip_prefix(':') {
        let n = port.bytes().take_while(u8::is_ascii_digit).count();
        if !(2..=5).contains(&n) {
            return false;
        }
        tail = &port[n..];
    }
    tail.is_empty() || tail.starts_with(['/', '?', '#'])
}

/// One infix match starting at byte `at` of `s`: its byte length (0: none).
pub(super) fn infix_at(s: &str, at: usize) -> usize {
    let rest = &s[at..];
    let Some(c) = rest.chars().next() else {
        return 0;
    };
    let prev = s[..at].chars().next_back();
    let next = rest[c.len_utf8()..].chars().next();
    if c == '.' {
        let d = dots(rest);
        if d >= 2 {
            return d;
        }
    }
    if c == '…' || is_symbol_other(c) {
        return c.len_utf8();
    }
    let Some(p) = prev else { return 0 };
    if p.is_ascii_digit()
        && matches!(c, '+' | '-' | '*' | '^')
        && next.is_some_and(|n| n.is_ascii_digit() || n == '-')
    {
        return 1;
    }
    if c == '.'
        && (is_lower(p) || is_concat_quote(p))
        && next.is_some_and(|n| is_upper(n) || is_concat_quote(n))
    {
        return 1;
    }
    if c == ',' && is_letter(p) && next.is_some_and(is_letter) {
        return 1;
    }
    if is_letter(p) || p.is_ascii_digit() {
        // `-|–|—|--|---|——|~` in that order, each followed by a letter.
        for h in ["-", "–", "—", "--", "---", "——", "~"] {
            if let Some(after) = rest.strip_prefix(h) {
                if after.chars().next().is_some_and(is_letter) {
                    return h.len();
                }
            }
        }
        if matches!(c, ':' | '<' | '>' | '=' | '/') && next.is_some_and(is_letter) {
            return 1;
        }
    }
    0
}

/// Emits `s` split at its infixes (spaCy's `_attach_tokens` middle part).
pub(super) fn split_infixes<'a>(s: &'a str, f: &mut impl FnMut(&'a str, bool)) {
    let mut start = 0;
    let mut at = 0;
    while at < s.len() {
        let len = infix_at(s, at);
        if len == 0 {
            at += s[at..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        // spaCy skips an infix at the very start of the string.
        if at != 0 {
            if at != start {
                f(&s[start..at], false);
            }
            f(&s[at..at + len], false);
            start = at + len;
        }
        at += len;
    }
    if start < s.len() {
        f(&s[start..], false);
    }
}
