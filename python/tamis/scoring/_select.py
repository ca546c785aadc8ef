"""The torch-free parts of :mod:`tamis.scoring`: metric names, batching, prefetch, select_top.

NumPy, pyarrow and the standard library only, so these work (and are tested) without the torch
extra:
:data:`LM_METRICS` and the metric-name check, :func:`token_budget_batches`, :func:`prefetch`,
:func:`select_top`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from tamis._base import Selection

#: Metrics :class:`tamis.scoring.LMScorer` computes (``ppl`` is ``exp(mean_nll)``).
LM_METRICS = ("sum_nll", "mean_nll", "ppl", "n_tokens", "truncated", "min_k", "min_k_pp")


def _check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    from tamis._validation import check_int

    return check_int(name, value, low, high)


def _check_metrics(metrics: Sequence[str] | None) -> list[str]:
    """The requested metric names, deduplicated, from a list or a comma-separated string."""
    if metrics is None:
        return list(LM_METRICS)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in LM_METRICS]
    if bad or not metrics:
        raise ValueError(f"metrics must be among {', '.join(LM_METRICS)}, got {list(metrics)}")
    return list(dict.fromkeys(metrics))


def token_budget_batches(
    lengths: np.ndarray, token_budget: int, max_batch_size: int | None = None
) -> list[np.ndarray]:
    """Group sequences, longest first, into batches of at most ``token_budget`` padded tokens.

    Parameters
    ----------
    lengths
        Token count of each sequence.
    token_budget
        Maximum ``batch_size × longest length`` of a batch (a longer sequence goes alone).
    max_batch_size
        Optional cap on the number of sequences per batch.

    Returns
    -------
    list of numpy.ndarray
        Indices into ``lengths`` for each batch; together a permutation of ``range(len(lengths))``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    cap = max_batch_size or len(lengths) or 1
    batches = []
    i = 0
    n = len(order)
    while i < n:
        longest = max(int(lengths[order[i]]), 1)
        size = max(1, min(cap, token_budget // longest, n - i))
        batches.append(order[i : i + size])
        i += size
    return batches


_DONE = object()


def prefetch(items: Any, fn: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(item, fn(item))`` in order, preparing the next pair in a background thread.

    The iterator itself is advanced only by that thread, one step at a time, so a generator
    (e.g. :func:`tamis.io.read_batches`) is safe to pass. Use it to read and tokenise the next
    batch (the Rust tokenizers release the GIL) while the device works on the current one.
    Exceptions from ``items`` or ``fn`` are raised in the consumer, at the item that failed.
    """
    from concurrent.futures import ThreadPoolExecutor

    it = iter(items)

    def step() -> Any:
        try:
            item = next(it)
        except StopIteration:
            return _DONE
        return item, fn(item)

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="tamis-prefetch") as pool:
            fut = pool.submit(step)
            while True:
                res = fut.result()
                if res is _DONE:
                    return
                fut = pool.submit(step)
                yield res
    finally:  # the worker is done: a generator's cleanup (a reader's) runs now, not at shutdown
        close = getattr(it, "close", None)
        if close is not None:
            close()


def select_top(
    scores: Any,
    *,
    fraction: float | None = None,
    k: int | None = None,
    threshold: float | None = None,
    groups: Any = None,
    higher_is_better: bool = True,
    n: int | None = None,
) -> Selection:
    """Select documents by score: a top fraction, a top count, or a threshold, optionally per group.

    Parameters
    ----------
    scores
        One score per document (NaN: never selected).
    fraction
        Keep the best ``ceil(fraction * size)`` documents (of each group when ``groups`` is
        given, so every group keeps the same share: a balanced selection).
    k
        Keep the best ``k`` documents (of each group when ``groups`` is given).
    threshold
        Keep every document scoring at least ``threshold`` (at most, if not
        ``higher_is_better``); ``groups`` does not change this rule.
    groups
        Optional group label per document (e.g. a domain column).
    higher_is_better
        ``False`` for losses and perplexities, where low is good.
    n
        Deprecated spelling of ``k`` (a DeprecationWarning).

    Returns
    -------
    tamis._base.Selection
        ``indices``: the selected rows (int64) in input order (ties keep the earlier document);
        ``columns["score"]``: their scores; ``method`` ``"score/top"``; ``info["n_eligible"]``:
        the documents with a score (not NaN). ``sel.indices`` is the index array earlier
        releases returned.

    Raises
    ------
    ValueError
        Unless exactly one of ``fraction``, ``k`` and ``threshold`` is given and valid, or if
        ``groups`` does not have one label per score.
    """
    if n is not None:
        warnings.warn(
            "select_top(n=...) is deprecated: the count is now k=", DeprecationWarning, stacklevel=2
        )
        if k is not None:
            raise ValueError("give k or its deprecated spelling n, not both")
        k = n
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {s.shape}")
    given = [
        name
        for name, v in (("fraction", fraction), ("k", k), ("threshold", threshold))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of fraction, k, threshold; got {given or 'none'}")
    key = s if higher_is_better else -s
    valid = ~np.isnan(key)
    if threshold is not None:
        t = float(threshold) if higher_is_better else -float(threshold)
        return _top_selection(s, np.flatnonzero(valid & (key >= t)), valid)
    if fraction is not None and (
        not isinstance(fraction, (int, float))
        or isinstance(fraction, bool)
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    if k is not None:
        k = _check_int("k", k, 0)
    if groups is None:
        labels = np.zeros(len(s), dtype=np.int64)
    else:
        g = groups.to_numpy(zero_copy_only=False) if hasattr(groups, "to_numpy") else groups
        g = np.asarray(g, dtype=object)
        if g.shape != s.shape:
            raise ValueError(f"groups must have one label per score: {g.shape} vs {s.shape}")
        _, labels = np.unique(g.astype(str), return_inverse=True)
    # Order: by group, then best score first, then input order (lexsort: last key is primary).
    order = np.lexsort((np.arange(len(s)), -np.where(valid, key, -np.inf), labels))
    order = order[valid[order]]
    sizes = np.bincount(labels, minlength=labels.max() + 1 if len(labels) else 0)
    if fraction is not None:
        quota = np.ceil(sizes * float(fraction) - 1e-9).astype(np.int64)
    else:
        quota = np.full(len(sizes), k, dtype=np.int64)
    lab = labels[order]
    first = np.searchsorted(lab, np.arange(len(sizes)))
    rank = np.arange(len(order)) - first[lab]
    return _top_selection(s, np.sort(order[rank < quota[lab]]), valid)


def _top_selection(scores: np.ndarray, indices: np.ndarray, valid: np.ndarray) -> Selection:
    idx = indices.astype(np.int64)
    return Selection(
        idx,
        columns={"score": scores[idx]},
        n_rows=len(scores),
        method="score/top",
        info={"n_eligible": int(valid.sum())},
    )
