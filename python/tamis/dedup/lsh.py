"""LSH banding: parameters, candidate rows and pairs, band-matching queries, band-key partitions.

Two ways to choose the bands (``b`` bands of ``r`` rows), both from the banding S-curve: a pair
of Jaccard ``J`` shares at least one band with probability ``P(J) = 1 - (1 - J**r)**b``
(Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, 3rd ed., ch. 3.4):

- :func:`lsh_params` is datasketch's ``_optimal_param``: the ``(b, r)`` minimising the weighted
  areas under the curve below the threshold (false positives) and above it (false negatives),
  for a tool that does not verify candidates. At 0.8 and 128 permutations it is ``(9, 13)``,
  ``P(0.85) = 0.69``;
- :func:`lsh_params_recall` chooses for recall: with exact verification every extra candidate
  is removed by the check, so the bands only have to find the pairs. It returns the steepest
  curve (largest ``r``, then fewest bands) with ``P(threshold) >= recall``; at 0.8, 128
  permutations and the default ``recall=0.99`` it is ``(16, 6)``: ``P(0.8) = 0.992``,
  ``P(0.85) = 0.9995``, ``P(0.5) = 0.22``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tamis import _core
from tamis._validation import check_int, check_threads
from tamis.dedup._checks import check_signatures, check_threshold, not_empty
from tamis.dedup.signatures import MAX_NUM_PERM


def lsh_params(
    threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """``(num_bands, rows)`` for a Jaccard threshold, as datasketch's ``MinHashLSH`` chooses them.

    Minimises ``weights[0] * FP + weights[1] * FN``, the areas under the banding S-curve
    ``1 - (1 - s**r)**b`` below the threshold and above it, over every ``b * r <= num_perm``
    (the same answer as datasketch's exhaustive search, which most pairs skip by a cheap lower
    bound: under a second at the largest ``num_perm``).

    Parameters
    ----------
    threshold
        Jaccard threshold in (0, 1).
    num_perm
        Signature length, ``1 <= num_perm <= 8192`` (``MAX_NUM_PERM``).
    weights
        ``(false_positive_weight, false_negative_weight)``, non-negative, summing to 1.

    Examples
    --------
    >>> lsh_params(0.8, 128)
    (9, 13)
    """
    t = check_threshold(threshold)
    k = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
    try:
        fp, fn = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be a pair of numbers, got {weights!r}") from None
    return tuple(_core.lsh_params(t, k, fp, fn))  # type: ignore[return-value]


#: The recall :func:`lsh_params_recall` aims at, at the threshold: ``P(threshold) >= 0.99``.
TARGET_RECALL = 0.99
BANDINGS = ("recall", "datasketch")


def candidate_probability(jaccard: float, num_bands: int, rows: int) -> float:
    """``1 - (1 - J**r)**b``: the probability that a pair of Jaccard ``J`` is an LSH candidate.

    Examples
    --------
    >>> round(candidate_probability(0.85, 9, 13), 2), round(candidate_probability(0.85, 16, 6), 4)
    (0.69, 0.9995)
    """
    return 1.0 - (1.0 - float(jaccard) ** rows) ** num_bands


def lsh_params_recall(
    threshold: float, num_perm: int, recall: float = TARGET_RECALL
) -> tuple[int, int]:
    """``(num_bands, rows)`` that catch a pair at ``threshold`` with probability ``>= recall``.

    Among the ``b * r <= num_perm`` with ``1 - (1 - threshold**r)**b >= recall``, the largest
    ``r`` (the steepest S-curve: fewest candidates far below the threshold) and, for it, the
    fewest bands; pairs above the threshold are caught with a higher probability still. When no
    banding reaches ``recall`` (a few permutations), the one with the highest probability. For
    candidates that are verified afterwards (``verify="exact"``).

    Parameters
    ----------
    threshold
        Jaccard threshold in (0, 1).
    num_perm
        Signature length, ``1 <= num_perm <= 8192``.
    recall
        Target probability in (0, 1) that a pair with Jaccard ``threshold`` is a candidate.

    Examples
    --------
    >>> lsh_params_recall(0.8, 128)
    (16, 6)
    """
    t = check_threshold(threshold)
    k = check_int("num_perm", num_perm, 1, MAX_NUM_PERM)
    if not 0.0 < float(recall) < 1.0:
        raise ValueError(f"recall must be in (0, 1), got {recall!r}")
    for r in range(k, 0, -1):
        p = t**r  # one band of r rows matches
        if p >= 1.0:
            return 1, r
        # fewest bands b with 1 - (1 - p)**b >= recall
        b = max(1, math.ceil(math.log1p(-recall) / math.log1p(-p) - 1e-12))
        if b * r <= k:
            return b, r
    return k, 1


def resolve_banding(
    threshold: float,
    num_perm: int,
    num_bands: Optional[int] = None,
    rows: Optional[int] = None,
    weights: tuple[float, float] = (0.5, 0.5),
    banding: str = "datasketch",
) -> tuple[int, int]:
    """``(num_bands, rows)``: the ones given (checked), or else the ``banding`` rule's.

    ``banding="datasketch"``: :func:`lsh_params` (with ``weights``); ``"recall"``:
    :func:`lsh_params_recall`.
    """
    if (num_bands is None) != (rows is None):
        raise ValueError("num_bands and rows must be given together (or neither)")
    if banding not in BANDINGS:
        raise ValueError(
            f"banding must be one of {', '.join(map(repr, BANDINGS))}, got {banding!r}"
        )
    if num_bands is None or rows is None:
        if banding == "recall":
            return lsh_params_recall(threshold, num_perm)
        return lsh_params(threshold, num_perm, weights)
    b, r = check_int("num_bands", num_bands, 1), check_int("rows", rows, 1)
    if b * r > num_perm:
        raise ValueError(f"num_bands * rows must be <= num_perm={num_perm}, got {b} * {r}")
    return b, r


def candidate_pairs(
    signatures: np.ndarray,
    *,
    num_bands: int,
    rows: int,
    valid: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, of documents that share at least one LSH band.

    Quadratic in bucket size; meant for inspection and small corpora (the deduplicator never
    materialises all pairs). ``valid`` (default: rows whose signature is not all ``2**32 - 1``)
    selects the indexed rows.
    """
    sig = check_signatures(signatures)
    if valid is None:
        valid = not_empty(sig)
    return _core.candidate_pairs(
        sig,
        np.ascontiguousarray(valid, dtype=bool),
        num_bands=check_int("num_bands", num_bands, 1),
        rows=check_int("rows", rows, 1),
        n_threads=check_threads(n_threads),
    )


def candidate_rows(
    valid: np.ndarray,
    *,
    num_bands: int,
    rows: int,
    signatures: Optional[np.ndarray] = None,
    band_keys: Optional[np.ndarray] = None,
    n_threads: Optional[int] = None,
) -> np.ndarray:
    """Rows (a bool mask) that share at least one band with another ``valid`` row.

    From ``signatures`` (banded in Rust) or from precomputed ``band_keys`` (``(n, num_bands)``,
    one band at a time); only these rows can become near-duplicates.
    """
    valid = np.ascontiguousarray(valid, dtype=bool)
    if signatures is not None:
        return _core.candidate_rows(
            check_signatures(signatures),
            valid,
            num_bands=num_bands,
            rows=rows,
            n_threads=check_threads(n_threads),
        )
    if band_keys is None:
        raise ValueError("candidate_rows needs signatures or band_keys")
    mask = np.zeros(len(valid), bool)
    idx = np.flatnonzero(valid)
    for band in range(num_bands):
        _, inv, counts = np.unique(band_keys[idx, band], return_inverse=True, return_counts=True)
        mask[idx[counts[inv] >= 2]] = True
    return mask


def query_rows(
    query: np.ndarray,
    valid: np.ndarray,
    *,
    num_bands: int,
    rows: int,
    signatures: Optional[np.ndarray] = None,
    band_keys: Optional[np.ndarray] = None,
    threshold: Optional[float] = None,
) -> np.ndarray:
    """Rows that share a band with the signature ``query`` (``valid`` rows only).

    With ``threshold`` (needs ``signatures``) a row must also estimate a Jaccard ``>= threshold``.
    Searched in ``signatures`` (``(n, num_perm)``) or, without them, in ``band_keys``.
    """
    q = np.ascontiguousarray(query, dtype=np.uint32).reshape(1, -1)
    if signatures is None:
        if band_keys is None:
            raise ValueError("query_rows needs signatures or band_keys")
        qk = _core.band_keys(q, num_bands=num_bands, rows=rows)
        return np.flatnonzero((band_keys == qk[0]).any(axis=1) & valid)
    hit = np.zeros(len(signatures), bool)
    for band in range(num_bands):
        sl = slice(band * rows, (band + 1) * rows)
        hit |= (signatures[:, sl] == q[0, sl]).all(axis=1)
    hit &= valid
    if threshold is not None:
        hit &= (signatures == q[0]).mean(axis=1) >= threshold
    return np.flatnonzero(hit)


def write_band_keys(
    signatures: np.ndarray,
    out_dir: Any,
    *,
    num_bands: int,
    rows: int,
    n_partitions: int = 16,
    row_offset: int = 0,
    valid: Optional[np.ndarray] = None,
    part_name: str = "part-0",
    n_threads: Optional[int] = None,
) -> list[Path]:
    """Write the LSH band keys of a batch of signatures to Parquet partitions (staged mode).

    Each valid row contributes one ``(key, row)`` record per band (``key`` is band-specific, so
    bands never mix) to partition ``key % n_partitions``, written as
    ``out_dir/partition=<p>/<part_name>.parquet``. Workers can write disjoint ``part_name``\\ s in
    parallel (this is what the Ray backend does); :func:`cluster_band_keys` then reads one partition
    at a time, so memory is bounded by the largest partition plus 4 bytes per document.

    Parameters
    ----------
    signatures
        ``(n, num_perm)`` uint32 signatures of rows ``row_offset .. row_offset + n``.
    out_dir
        Output directory.
    num_bands, rows
        Banding.
    n_partitions
        Number of partitions.
    row_offset
        Global row number of the first signature.
    valid
        Rows to index (default: rows whose signature is not all ``2**32 - 1``, i.e. not empty).
    part_name
        File name (without suffix) inside each partition.
    n_threads
        Worker threads.

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sig = check_signatures(signatures)
    n_partitions = check_int("n_partitions", n_partitions, 1, 1 << 16)
    if valid is None:
        valid = not_empty(sig)
    keys = _core.band_keys(
        sig,
        num_bands=check_int("num_bands", num_bands, 1),
        rows=check_int("rows", rows, 1),
        n_threads=check_threads(n_threads),
    )
    idx = np.flatnonzero(valid)
    keys = keys[idx].ravel()
    row_ids = np.repeat(idx.astype(np.uint64) + np.uint64(row_offset), num_bands)
    if len(row_ids) and row_ids.max() >= 2**32:
        raise ValueError("row numbers must be < 2**32")
    part = keys % np.uint64(n_partitions)
    order = np.argsort(part, kind="stable")
    keys, row_ids, part = keys[order], row_ids[order].astype(np.uint32), part[order]
    bounds = np.searchsorted(part, np.arange(n_partitions + 1, dtype=np.uint64))
    out_dir = Path(out_dir)
    written = []
    for p in range(n_partitions):
        lo, hi = bounds[p], bounds[p + 1]
        d = out_dir / f"partition={p}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{part_name}.parquet"
        pq.write_table(pa.table({"key": keys[lo:hi], "row": row_ids[lo:hi]}), path)
        written.append(path)
    return written
