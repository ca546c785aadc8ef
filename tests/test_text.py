import re
import sys
import unicodedata

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st
from tests.reference import WORDPUNCT, tokens

import tamis
from tamis import _core

# Characters that CPython's Unicode database knows (the tables were generated from it); surrogates
# cannot be encoded as UTF-8 and so cannot reach Rust.
assigned = st.characters(
    blacklist_categories=("Cs", "Cn"),
)
unicode_text = st.text(alphabet=assigned, max_size=80)
mixed_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1d\x85\xa0\u2028\u3000.,;'\"!?-_()[]{}")),
        st.characters(min_codepoint=0x30, max_codepoint=0x7A),
        assigned,
    ),
    max_size=120,
)


def test_tables_match_running_python():
    # The generated tables are CPython 3.11's; newer Pythons ship newer Unicode versions.
    assert _core.unicode_version == "14.0.0"
    if unicodedata.unidata_version != _core.unicode_version:  # pragma: no cover
        pytest.skip(f"this Python uses Unicode {unicodedata.unidata_version}")


@pytest.mark.skipif(unicodedata.unidata_version != "14.0.0", reason="tables are Unicode 14")
@given(mixed_text)
def test_tokenize_matches_re_on_generated_unicode(text):
    assert tamis.tokenize(text, lowercase=False) == WORDPUNCT.findall(text)
    assert tamis.tokenize(text) == tokens(text)


@pytest.mark.skipif(unicodedata.unidata_version != "14.0.0", reason="tables are Unicode 14")
def test_every_code_point_classified_like_python():
    # Exhaustive: each code point alone and between letters tokenises as in Python.
    bad = []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        s = f"a{chr(cp)}b"
        if _core.tokenize(s, lowercase=False) != WORDPUNCT.findall(s):
            bad.append(hex(cp))
    assert bad == []


def test_tokenize_matches_re_on_sample_corpus(sample_texts):
    mismatches = [i for i, t in enumerate(sample_texts) if tamis.tokenize(t) != tokens(t)]
    assert mismatches == []
    assert len(sample_texts) > 1000


@given(unicode_text)
def test_lowercase_matches_str_lower(text):
    assert tamis.normalize(text) == text.lower()


@given(unicode_text)
def test_nfkc_matches_unicodedata(text):
    assert tamis.normalize(text, lowercase=False, nfkc=True) == unicodedata.normalize("NFKC", text)


@given(mixed_text)
def test_strip_and_fold_follow_tokeniser_classes(text):
    got = tamis.normalize(text, lowercase=False, strip_punctuation=True, fold_whitespace=True)
    expected = " ".join(re.sub(r"[^\w\s]", "", text).split())
    # str.split() and re's \s agree except on U+001C..U+001F, which both treat as space.
    assert got == expected
    assert tamis.tokenize(got, lowercase=False) == re.findall(r"\w+", got)


def test_fold_whitespace_only():
    assert tamis.normalize("  a \t\n b  ", lowercase=False, fold_whitespace=True) == "a b"
    assert tamis.normalize("", fold_whitespace=True) == ""


@given(st.binary(max_size=300), st.integers(0, 2**64 - 1))
def test_xxh3_matches_xxhash(data, seed):
    assert tamis.xxh3_64(data, seed) == xxhash.xxh3_64_intdigest(data, seed)


def test_xxh3_str_is_utf8():
    assert tamis.xxh3_64("é") == xxhash.xxh3_64_intdigest("é".encode())


def test_xxh3_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        tamis.xxh3_64(b"x", -1)
    with pytest.raises(ValueError, match="seed"):
        tamis.xxh3_64(b"x", 2**64)
