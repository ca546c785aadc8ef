"""Line-level exact dedup across a corpus (CCNet / Dolma style): :func:`remove_repeated_lines`."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._validation import check_threads
from tamis.io import as_text_array, buffers


def remove_repeated_lines(
    texts: Any,
    *,
    lowercase: bool = False,
    nfkc: bool = False,
    strip_punctuation: bool = False,
    fold_whitespace: bool = True,
    n_threads: Optional[int] = None,
) -> tuple[Any, np.ndarray]:
    """Line-level exact dedup across a corpus (as CCNet and Dolma do for paragraphs).

    Every ``\\n``-separated line is normalised and hashed (XXH3-64); a line whose hash already
    occurred earlier in the corpus (in an earlier document, or earlier in the same one) is removed,
    so the first occurrence of each line is kept. Lines that are blank after normalisation are
    never removed. The texts are processed as one corpus, so pass all of them at once (chunked
    Arrow arrays are fine).

    Parameters
    ----------
    texts
        A list of str, a pyarrow string array / chunked array, or another input of
        :func:`tamis.io.as_text_array`.
    lowercase, nfkc, strip_punctuation, fold_whitespace
        Normalisation applied to each line before hashing (the output keeps the original text).
    n_threads
        Worker threads.

    Returns
    -------
    texts : pyarrow.LargeStringArray
        The texts without their repeated lines (nulls stay null).
    n_removed : numpy.ndarray
        Lines removed per document (int64).

    Examples
    --------
    >>> out, n = remove_repeated_lines(["menu\\nhello", "menu\\nworld"])
    >>> out.to_pylist(), n.tolist()
    (['menu\\nhello', 'world'], [0, 1])
    """
    import pyarrow as pa

    nt = check_threads(n_threads)
    arrays = list(as_text_array(texts))
    parts = []
    for arr in arrays:
        parts.append(
            _core.line_hashes(
                *buffers(arr),
                lowercase=bool(lowercase),
                nfkc=bool(nfkc),
                strip_punctuation=bool(strip_punctuation),
                fold_whitespace=bool(fold_whitespace),
                n_threads=nt,
            )
        )
    hashes = np.concatenate([p[2] for p in parts]) if parts else np.empty(0, np.uint64)
    dup = _core.repeated(hashes)
    out, removed, base = [], [], 0
    for arr, (indptr, line_no, h) in zip(arrays, parts):
        d = dup[base : base + len(h)]
        base += len(h)
        row_of = np.repeat(np.arange(len(arr)), np.diff(indptr).astype(np.int64))
        counts = np.bincount(row_of[d], minlength=len(arr)).astype(np.int64)
        removed.append(counts)
        if not counts.any():
            out.append(arr.cast(pa.large_string()))
            continue
        values = arr.to_pylist()
        drop_rows = row_of[d]
        drop_lines = line_no[d]
        for r in np.unique(drop_rows):
            gone = set(drop_lines[drop_rows == r].tolist())
            lines = values[r].split("\n")
            values[r] = "\n".join(x for k, x in enumerate(lines) if k not in gone)
        out.append(pa.array(values, pa.large_string()))
    result = pa.concat_arrays(out) if out else pa.array([], pa.large_string())
    n_removed = np.concatenate(removed) if removed else np.empty(0, np.int64)
    return result, n_removed
