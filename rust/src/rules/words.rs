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

use super::chars::{
    is_alpha, is_punct_category, is_sentence_punctuation, is_space, is_symbol_other,
};

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

/// Abbreviations that keep their final period (a subset of spaCy's English exceptions).
const ABBREVIATIONS: &[&str] = &[
    "a.m.", "p.m.", "e.g.", "E.g.", "E.G.", "i.e.", "I.e.", "I.E.", "vs.", "v.s.", "co.", "Co.",
    "Corp.", "Inc.", "Ltd.", "Bros.", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "St.", "Mt.", "Jr.",
    "Rev.", "Gen.", "Gov.", "Sen.", "Rep.", "Adm.", "Messrs.", "Ph.D.", "D.C.", "Jan.", "Feb.",
    "Mar.", "Apr.", "Jun.", "Jul.", "Aug.", "Sep.", "Sept.", "Oct.", "Nov.", "Dec.", "Ala.",
    "Ariz.", "Ark.", "Calif.", "Colo.", "Conn.", "Del.", "Fla.", "Ga.", "Ia.", "Id.", "Ill.",
    "Ind.", "Kan.", "Kans.", "Ky.", "La.", "Mass.", "Md.", "Mich.", "Minn.", "Miss.", "Mo.",
    "Mont.", "Neb.", "Nebr.", "Nev.", "Okla.", "Ore.", "Pa.", "Tenn.", "Va.", "Wash.", "Wis.",
    "N.C.", "N.D.", "N.H.", "N.J.", "N.M.", "N.Y.", "S.C.", "Ak.", "C++", "and/or", "w/o", "ä.",
    "ö.", "ü.", "o'clock", "O'clock", "ma'am", "Ma'am",
];

/// Verbs that take `n't` (spaCy's list; `ca`, `wo`, `sha`, `ai` are the stems of `can't`,
/// `won't`, `shan't`, `ain't`); also written `nt`.
const NT_STEMS: &[&str] = &[
    "ai", "are", "ca", "could", "dare", "did", "do", "does", "had", "has", "have", "is", "may",
    "might", "must", "need", "ought", "sha", "should", "was", "were", "wo", "would",
];
/// Pronouns and wh-words that take `'ll` and `'d`.
const LL_STEMS: &[&str] = &[
    "he", "how", "i", "it", "she", "that", "there", "these", "they", "this", "those", "we", "what",
    "when", "where", "who", "why", "you",
];
/// Words that take `'re`.
const RE_STEMS: &[&str] = &[
    "how", "there", "these", "they", "those", "we", "what", "when", "where", "who", "why", "you",
];
/// Words that take `'ve`; also written `ve`.
const VE_STEMS: &[&str] = &[
    "could", "how", "i", "might", "must", "not", "should", "there", "these", "they", "those", "we",
    "what", "when", "where", "who", "why", "would", "you",
];
/// Stems of `d` without an apostrophe (`id`, `youd`; not `shed`).
const D_BARE: &[&str] = &[
    "he", "how", "i", "it", "that", "there", "these", "they", "this", "those", "we", "what",
    "when", "where", "who", "why", "you",
];
/// Stems of `ll` without an apostrophe (not `hell`, `ill`, `well`, `shell`).
const LL_BARE: &[&str] = &[
    "how", "it", "that", "there", "these", "they", "this", "those", "what", "when", "where", "who",
    "why", "you",
];
/// Stems of `re` without an apostrophe (not `were`, `whore`).
const RE_BARE: &[&str] = &[
    "how", "there", "these", "they", "those", "what", "when", "where", "why", "you",
];
/// Stems of `s` without an apostrophe (`hes`, `whats`).
const S_BARE: &[&str] = &[
    "he", "how", "she", "that", "there", "this", "what", "when", "where", "who", "why",
];
/// Clitics and emoticons that spaCy keeps as one token although they hold punctuation.
const WHOLE: &[&str] = &[
    "'s", "'S", "’s", "’S", "'d", "’d", "'ll", "’ll", "'re", "’re", "'em", "’em", "'cause",
    "’cause", "'bout", "’bout", "'nuff", "’nuff", "''", "’’", ":)", ":-)", ":))", ":)))", ":(",
    ":-(", ":((", ":(((", ";)", ";-)", ":D", ":-D", ";D", ";-D", ":P", ":-P", ":p", ":-p", ":O",
    ":-O", ":o", ":-o", ":0", ":-0", ":x", ":X", ":-x", ":-X", ":/", ":-/", ":|", ":-|", ":]",
    ":-]", ":}", ":-}", ":>", ":->", ":3", ":-3", ":*", ":-*", ":1", ":'(", ":')", ":'-(", ":'-)",
    ":()", ":o)", "(:", "(-:", "):", ")-:", "(;", "(-;", "(=", "[:", "[-:", "[=", "]=", "=[", "=]",
    "=(", "=)", "=/", "=|", "=3", "=D", "8)", "8-)", "8D", "8-D", "(-8", "(o:", "<3", "<33",
    "<333", "</3", "XD", "XDD", "xD", "xDD", "^_^", "^__^", "^___^", "(^_^)", "-_-", "-__-",
    "(-_-)", "._.", "(._.)", "0.0", "0.o", "0_0", "0_o", "o.0", "o.O", "o.o", "o_0", "o_O", "o_o",
    "O.O", "O.o", "O_O", "O_o", "v.v", "v_v", "V.V", "V_V", ">.<", ">.>", "<.<", ">:(", ">:o",
    "@_@", "(>_<)", "(*_*)", ";_;",
];

/// A stem in spaCy's two spellings: all lower case, or capitalised.
fn stem_in(stem: &str, list: &[&str]) -> bool {
    let mut cs = stem.chars();
    let Some(first) = cs.next() else { return false };
    let rest = cs.as_str();
    if !first.is_ascii_alphabetic() || rest.bytes().any(|b| b.is_ascii_uppercase()) {
        return false;
    }
    let lower_first = first.to_ascii_lowercase();
    list.iter().any(|w| {
        let mut wc = w.chars();
        wc.next() == Some(lower_first) && wc.as_str() == rest
    })
}

/// How a special case splits: the byte lengths of its pieces (at most three).
type Pieces = ([usize; 3], usize);

/// The pieces of `s` if it is a special case.
fn special(s: &str) -> Option<Pieces> {
    if s.len() > 12 || s.is_empty() {
        return None;
    }
    let one = Some(([s.len(), 0, 0], 1));
    let b = s.as_bytes();
    // Single letters with a period: "a." .. "z." (lower case only, as spaCy).
    if b.len() == 2 && b[0].is_ascii_lowercase() && b[1] == b'.' {
        return one;
    }
    if ABBREVIATIONS.contains(&s) {
        return one;
    }
    if WHOLE.contains(&s) {
        return one;
    }
    for (clitic, list) in [
        ("n't", NT_STEMS),
        ("n’t", NT_STEMS),
        ("nt", NT_STEMS),
        ("'ll", LL_STEMS),
        ("’ll", LL_STEMS),
        ("ll", LL_BARE),
        ("'d", LL_STEMS),
        ("’d", LL_STEMS),
        ("d", D_BARE),
        ("'re", RE_STEMS),
        ("’re", RE_STEMS),
        ("re", RE_BARE),
        ("'ve", VE_STEMS),
        ("’ve", VE_STEMS),
        ("ve", VE_STEMS),
        ("'m", &["i"]),
        ("’m", &["i"]),
        ("m", &["i"]),
        ("s", S_BARE),
    ] {
        if let Some(stem) = s.strip_suffix(clitic) {
            if stem_in(stem, list) {
                return Some(([stem.len(), clitic.len(), 0], 2));
            }
        }
    }
    match s {
        "cannot" | "Cannot" => return Some(([3, 3, 0], 2)),
        "gonna" | "Gonna" | "gotta" | "Gotta" => return Some(([3, 2, 0], 2)),
        _ => {}
    }
    // Times: "10am", "3p.m." (hours 1..12).
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=2).contains(&digits) {
        let hour: u32 = s[..digits].parse().unwrap_or(0);
        let rest = &s[digits..];
        if (1..=12).contains(&hour) && matches!(rest, "am" | "pm" | "a.m." | "p.m.") {
            return Some(([digits, rest.len(), 0], 2));
        }
    }
    None
}

fn emit_special<'a>(s: &'a str, (lens, n): Pieces, f: &mut impl FnMut(&'a str, bool)) {
    let mut at = 0;
    for &len in &lens[..n] {
        f(&s[at..at + len], false);
        at += len;
    }
}

// --- affixes ---------------------------------------------------------------------------------

/// spaCy's `LIST_PUNCT` characters (split off as prefix or suffix).
fn is_list_punct(c: char) -> bool {
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
fn is_quote(c: char) -> bool {
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
fn is_currency(c: char) -> bool {
    matches!(c, '$' | '£' | '€' | '¥' | '฿' | '﷼' | '₠'..='₿')
}

/// spaCy's `ALPHA_LOWER` (approximated by Unicode: lower-case letters and uncased letters of
/// scripts from Hebrew on, which spaCy lists as lower case).
fn is_lower(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    c.is_lowercase() || (is_alpha(c) && !c.is_uppercase() && c as u32 >= 0x0590)
}

/// spaCy's `ALPHA_UPPER`.
fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        c.is_uppercase() || (is_alpha(c) && !c.is_lowercase() && c as u32 >= 0x0590)
    }
}

/// spaCy's `ALPHA` (letters of any script).
fn is_letter(c: char) -> bool {
    is_alpha(c)
}

/// Quote characters of spaCy's `CONCAT_QUOTES`.
fn is_concat_quote(c: char) -> bool {
    is_quote(c)
}

/// Byte length of the leading run of `.` (at least two for spaCy's ellipsis rule).
fn dots(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b'.').count()
}

/// spaCy's `find_prefix`: the length of the first prefix rule matching at the start (0: none).
fn find_prefix(s: &str) -> usize {
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
const UNITS: &[&str] = &[
    "km", "km²", "km³", "m", "m²", "m³", "dm", "dm²", "dm³", "cm", "cm²", "cm³", "mm", "mm²",
    "mm³", "ha", "µm", "nm", "yd", "in", "ft", "kg", "g", "mg", "µg", "t", "lb", "oz", "m/s",
    "km/h", "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T",
    "G", "M", "K", "%", "км", "км²", "км³", "м", "м²", "м³", "дм", "дм²", "дм³", "см", "см²",
    "см³", "мм", "мм²", "мм³", "нм", "кг", "г", "мг", "м/с", "км/ч", "кПа", "Па", "мбар", "Кб",
    "КБ", "кб", "Мб", "МБ", "мб", "Гб", "ГБ", "гб", "Тб", "ТБ",
];

/// Whether the suffix rules match `rest` (the end of the string) with `before` the text before it.
fn suffix_matches(before: &str, rest: &str) -> bool {
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
            // PUNCT alternation, `|`, `\`, `(`, `?`, `:`, `)` and the quotes.
            if p.is_ascii_digit()
                || is_lower(p)
                || matches!(
                    p,
                    '%' | '²' | '-' | '+' | '|' | '\\' | '(' | '?' | ':' | ')'
                )
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
fn find_suffix(s: &str) -> usize {
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
fn is_url(s: &str) -> bool {
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
fn infix_at(s: &str, at: usize) -> usize {
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
fn split_infixes<'a>(s: &'a str, f: &mut impl FnMut(&'a str, bool)) {
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
