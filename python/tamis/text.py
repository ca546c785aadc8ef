"""Text normalisation, tokenisation and hashing, one string at a time.

These are the exact functions the batch algorithms run in Rust, exposed for inspection and
tests. Tokens follow Python's ``re.findall(r"\\w+|[^\\w\\s]+", text)``; hashes are XXH3-64, equal
to ``xxhash.xxh3_64_intdigest(data, seed)``.
"""

from __future__ import annotations

from tamis import _core
from tamis._validation import check_seed


def normalize(
    text: str,
    *,
    lowercase: bool = True,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = False,
) -> str:
    """Normalise one text.

    Steps run in this order: NFKC, lowercase (as ``str.lower()``), removal of characters that are
    neither word characters nor whitespace, folding of whitespace runs into one space (trimmed).

    Examples
    --------
    >>> normalize("  Hello,   WORLD! ", strip_punctuation=True, fold_whitespace=True)
    'hello world'
    """
    return _core.normalize(
        text,
        lowercase=lowercase,
        nfkc=nfkc,
        strip_punctuation=strip_punctuation,
        fold_whitespace=fold_whitespace,
    )


def tokenize(
    text: str,
    *,
    lowercase: bool = True,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = False,
) -> list[str]:
    """Normalise one text and split it into ``\\w+|[^\\w\\s]+`` tokens.

    Examples
    --------
    >>> tokenize("Don't panic!")
    ['don', "'", 't', 'panic', '!']
    """
    return _core.tokenize(
        text,
        lowercase=lowercase,
        nfkc=nfkc,
        strip_punctuation=strip_punctuation,
        fold_whitespace=fold_whitespace,
    )


def xxh3_64(data: bytes | str, seed: int = 0) -> int:
    """XXH3-64 of ``data`` (``str`` is encoded as UTF-8) with ``seed``.

    Examples
    --------
    >>> hex(xxh3_64(b"hello"))
    '0x9555e8555c62dcfd'
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _core.xxh3_64(data, check_seed(seed))
