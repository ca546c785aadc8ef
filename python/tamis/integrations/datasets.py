"""Hugging Face ``datasets``: selectors that take a ``Dataset`` and return one.

Every function reads the dataset's Arrow table through tamis's reader (batches of the text
column, no Python loop over rows), runs the same estimator as the CLI and returns
``ds.select(indices)`` with the explanation columns appended (features of the input kept; the new
columns typed from their arrays). Call the estimator directly when you need the
:class:`~tamis.Selection` itself (``sel.take(ds)`` gives the same Dataset).

Example (``td = tamis.integrations.datasets``)::

    ds = datasets.load_dataset("json", data_files="data/sample/corpus.jsonl.gz")["train"]
    kept = td.dedup(ds, threshold=0.8)                          # + cluster_id
    chosen = td.dsir(kept, target=target_ds, k=500, seed=0)     # + log_weight, key, target
"""

from __future__ import annotations

from typing import Any, Optional

from tamis._base import Selection
from tamis.dedup import MinHashDeduplicator
from tamis.importance import ImportanceResampler


def _check(ds: Any, text_column: str) -> None:
    if type(ds).__module__.split(".")[0] != "datasets" or not hasattr(ds, "column_names"):
        raise TypeError(f"expected a datasets.Dataset, got {type(ds).__name__}")
    if text_column not in ds.column_names:
        raise ValueError(
            f"text_column={text_column!r} is not a column of the dataset "
            f"(columns: {', '.join(ds.column_names)})"
        )


def _arrow(ds: Any) -> Any:
    """The dataset's rows as one Arrow table (zero-copy when it has no indices mapping)."""
    return ds.with_format("arrow")[:] if ds._indices is not None else ds.data.table


def dsir(
    ds: Any,
    target: Any,
    k: int,
    *,
    method: str = "gumbel",
    seed: int = 0,
    n_threads: Optional[int] = None,
    text_column: str = "text",
    **params: Any,
) -> Any:
    """DSIR: the ``k`` rows of ``ds`` whose n-grams best match ``target`` (+ ``log_weight``, ``key``).

    ``target``: another Dataset, texts, files or anything :class:`~tamis.ImportanceResampler`'s
    ``fit`` reads. ``params``: the estimator's other parameters (``n_buckets``, ...). Rows come
    in input order, as the CLI writes them.
    """
    _check(ds, text_column)
    if type(target).__module__.split(".")[0] == "datasets":
        _check(target, text_column)
        target = _arrow(target)
    r = ImportanceResampler(seed=seed, n_threads=n_threads, text_column=text_column, **params)
    raw = _arrow(ds)
    sel: Selection = r.fit(target, raw).select(raw, k, method=method, show_progress=False)
    return sel.take(ds)


def dedup(
    ds: Any,
    *,
    threshold: float = 0.8,
    n_threads: Optional[int] = None,
    text_column: str = "text",
    **params: Any,
) -> Any:
    """MinHash near-duplicate removal: the kept rows of ``ds`` (+ ``cluster_id``), input order.

    ``params``: :class:`~tamis.MinHashDeduplicator`'s other parameters (``num_perm``, ``ngram``,
    ``keep``, ``verify``, ``seed``, ...).
    """
    _check(ds, text_column)
    d = MinHashDeduplicator(threshold=threshold, n_threads=n_threads, **params)
    texts = _arrow(ds).column(text_column)
    return d.select(texts).take(ds)


def score(
    ds: Any,
    model: Any,
    *,
    text_column: str = "text",
    metrics: Optional[list[str]] = None,
    k: Optional[int] = None,
    **params: Any,
) -> Any:
    """Model scores as new columns of ``ds`` (needs ``tamis[torch]``).

    ``model``: a local model folder (or a loaded model) for :class:`tamis.scoring.LMScorer`;
    ``params`` go to it (``tokenizer``, ``max_length``, ``device``, ...); ``metrics``: the
    columns to add (default ``mean_nll``, ``n_tokens``, as the CLI). With ``k``, only the ``k``
    rows of lowest ``mean_nll`` are returned (``tamis.scoring.select_top``), in input order.
    """
    from tamis.scoring import LMScorer, select_top

    _check(ds, text_column)
    scorer = LMScorer(model, **params)
    table = scorer.score(_arrow(ds).column(text_column), metrics or ["mean_nll", "n_tokens"])
    if k is None:
        out = ds
        for name in table.column_names:
            out = out.add_column(name, table.column(name).to_numpy(zero_copy_only=False))
        return out
    sel = select_top(table.column("mean_nll").to_numpy(), k=k, higher_is_better=False)
    return sel.take(ds)
