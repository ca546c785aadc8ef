"""Sizes of sources: documents, UTF-8 bytes and tokens, streamed with :func:`tamis.io.read_batches`.

Tokens are counted by the Rust text core's WordPunct tokenizer (``\\w+|[^\\w\\s]+``, the
tokenizer of ``tamis.text.tokenize`` and of the features; multi-threaded, the GIL released) or by
a local Hugging Face tokenizer (a ``tokenizer.json`` file or a local model folder; nothing is
downloaded).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow.compute as pc

from tamis.io import read_batches
from tamis.mix.plan import SourceSize


def hf_token_counter(tokenizer: Any) -> Callable[[list[str]], np.ndarray]:
    """Tokens per text for a local Hugging Face tokenizer.

    ``tokenizer`` is a ``tokenizer.json`` path, a local folder with a tokenizer (read with
    ``transformers.AutoTokenizer(local_files_only=True)``), or a loaded ``tokenizers.Tokenizer``
    / ``transformers`` tokenizer. Special tokens are not added.
    """
    tok = tokenizer
    if isinstance(tokenizer, (str, Path)):
        path = Path(tokenizer)
        if path.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path))
        elif path.is_dir():
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        else:
            raise FileNotFoundError(f"tokenizer: no such file or folder: {path}")
    if hasattr(tok, "encode_batch"):  # tokenizers.Tokenizer

        def count(texts: list[str]) -> np.ndarray:
            enc = tok.encode_batch(texts, add_special_tokens=False)
            return np.array([len(e.ids) for e in enc], dtype=np.int64)

        return count
    if callable(tok):  # transformers tokenizer

        def count_hf(texts: list[str]) -> np.ndarray:
            ids = tok(texts, add_special_tokens=False)["input_ids"]
            return np.array([len(x) for x in ids], dtype=np.int64)

        return count_hf
    raise TypeError(f"tokenizer must be a path or a tokenizer, got {type(tokenizer).__name__}")


def count(
    sources: Mapping[str, Any],
    *,
    tokenizer: Any = None,
    text_column: str = "text",
    n_threads: int | None = None,
    batch_size: int = 8192,
) -> dict[str, SourceSize]:
    """Documents, bytes and tokens of each source (one streamed pass over each).

    Parameters
    ----------
    sources
        ``name -> source`` (anything :func:`tamis.io.read_batches` reads).
    tokenizer
        ``None``: the WordPunct tokenizer of the Rust core (lowercased, as ``tamis.tokenize``).
        Otherwise a local Hugging Face tokenizer (see :func:`hf_token_counter`).
    text_column, n_threads, batch_size
        As for :func:`tamis.io.read_batches` and the featurizer.

    Examples
    --------
    >>> count({"a": ["Hello, world!", "x"]})["a"]
    SourceSize(documents=2, bytes=14, tokens=5)
    """
    from tamis.features import HashingFeaturizer

    counter: Callable[[Any], np.ndarray]
    if tokenizer is None:
        feat = HashingFeaturizer(1, (1, 1), n_threads=n_threads)
        counter = feat.count_tokens
    else:
        hf = hf_token_counter(tokenizer)

        def counter(col: Any) -> np.ndarray:
            texts = [t if t is not None else "" for t in col.to_pylist()]
            return hf(texts)

    out: dict[str, SourceSize] = {}
    for name, src in sources.items():
        docs = nbytes = tokens = 0
        for batch in read_batches(src, text_column=text_column, columns=[], batch_size=batch_size):
            col = batch.column(text_column)
            docs += batch.num_rows
            nbytes += int(pc.sum(pc.fill_null(pc.binary_length(col), 0)).as_py() or 0)
            tokens += int(np.asarray(counter(col), dtype=np.int64).sum())
        out[str(name)] = SourceSize(docs, nbytes, tokens)
    return out


__all__ = ["count", "hf_token_counter"]
