//! spaCy's English tokenizer exceptions that tamis reproduces (a hand-written subset: contractions,
//! abbreviations that keep their period, times, `cannot`/`gonna`/`gotta`); see [`super::words`].

/// Abbreviations that keep their final period (a subset of spaCy's English exceptions).
pub(super) const ABBREVIATIONS: &[&str] = &[
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
pub(super) const NT_STEMS: &[&str] = &[
    "ai", "are", "ca", "could", "dare", "did", "do", "does", "had", "has", "have", "is", "may",
    "might", "must", "need", "ought", "sha", "should", "was", "were", "wo", "would",
];
/// Pronouns and wh-words that take `'ll` and `'d`.
pub(super) const LL_STEMS: &[&str] = &[
    "he", "how", "i", "it", "she", "that", "there", "these", "they", "this", "those", "we", "what",
    "when", "where", "who", "why", "you",
];
/// Words that take `'re`.
pub(super) const RE_STEMS: &[&str] = &[
    "how", "there", "these", "they", "those", "we", "what", "when", "where", "who", "why", "you",
];
/// Words that take `'ve`; also written `ve`.
pub(super) const VE_STEMS: &[&str] = &[
    "could", "how", "i", "might", "must", "not", "should", "there", "these", "they", "those", "we",
    "what", "when", "where", "who", "why", "would", "you",
];
/// Stems of `d` without an apostrophe (`id`, `youd`; not `shed`).
pub(super) const D_BARE: &[&str] = &[
    "he", "how", "i", "it", "that", "there", "these", "they", "this", "those", "we", "what",
    "when", "where", "who", "why", "you",
];
/// Stems of `ll` without an apostrophe (not `hell`, `ill`, `well`, `shell`).
pub(super) const LL_BARE: &[&str] = &[
    "how", "it", "that", "there", "these", "they", "this", "those", "what", "when", "where", "who",
    "why", "you",
];
/// Stems of `re` without an apostrophe (not `were`, `whore`).
pub(super) const RE_BARE: &[&str] = &[
    "how", "there", "these", "they", "those", "what", "when", "where", "why", "you",
];
/// Stems of `s` without an apostrophe (`hes`, `whats`).
pub(super) const S_BARE: &[&str] = &[
    "he", "how", "she", "that", "there", "this", "what", "when", "where", "who", "why",
];
/// Clitics and emoticons that spaCy keeps as one token although they hold punctuation.
pub(super) const WHOLE: &[&str] = &[
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
pub(super) fn stem_in(stem: &str, list: &[&str]) -> bool {
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
pub(super) type Pieces = ([usize; 3], usize);

/// The pieces of `s` if it is a special case.
pub(super) fn special(s: &str) -> Option<Pieces> {
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

pub(super) fn emit_special<'a>(s: &'a str, (lens, n): Pieces, f: &mut impl FnMut(&'a str, bool)) {
    let mut at = 0;
    for &len in &lens[..n] {
        f(&s[at..at + len], false);
        at += len;
    }
}
