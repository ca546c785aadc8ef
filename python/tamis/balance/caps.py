"""Per-group caps: at most ``cap`` documents per group, chosen by keyed draws.

The groups are any column (domains, clusters, languages); a draw is keyed by the seed, the group
and the id — MetaCLIP's balancing idea (see :mod:`tamis.balance.matching`) for any group column.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis import _core
from tamis._base import Selection
from tamis._validation import check_int, check_seed, check_threads
from tamis.importance.stream import id_hashes


def _as_arrow(values: Any, name: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray):
        return pa.array(values)
    if isinstance(values, Iterable) and not isinstance(values, (str, bytes)):
        return pa.array(list(values))
    raise TypeError(f"{name} must be an array or a sequence, got {type(values).__name__}")


def cap_per_group(
    groups: Any,
    cap: int,
    *,
    ids: Any = None,
    seed: int = 0,
    n_threads: Optional[int] = None,
) -> Selection:
    """At most ``cap`` rows per group, each group's rows chosen uniformly at random.

    A row's draw is ``keyed_uniform(seed, hash(group), hash(id))``; each group keeps its ``cap``
    rows with the smallest draws (ties, possible only between equal ids, by row). The choice
    depends only on the ids, the group values and the seed: sharding, order and threads do not
    change it. Null groups form one group.

    Parameters
    ----------
    groups
        The group of every row (any column: domains, cluster ids, languages).
    cap
        Most rows kept per group (``>= 1``).
    ids
        Row ids (default: row numbers).
    seed
        Seed of the draws.
    n_threads
        Worker threads.

    Returns
    -------
    Selection
        Kept rows in input order; ``columns``: ``group``, ``group_size`` and ``probability``
        (``min(1, cap / group_size)``, the inclusion probability of a uniform subset); ``rows``:
        ``keep``; ``info``: ``cap``, ``n_groups``, ``n_capped`` (groups larger than ``cap``).

    Examples
    --------
    >>> sel = cap_per_group(["a"] * 5 + ["b"] * 2, 3, seed=1)
    >>> sorted(sel.group.tolist())
    ['a', 'a', 'a', 'b', 'b']
    """
    cap = check_int("cap", cap, 1)
    seed = check_seed(seed)
    n_threads = check_threads(n_threads)
    g = _as_arrow(groups, "groups")
    n = len(g)
    id_arr = pa.array(np.arange(n, dtype=np.int64)) if ids is None else _as_arrow(ids, "ids")
    if len(id_arr) != n:
        raise ValueError(f"{len(id_arr)} ids for {n} groups")
    enc = pc.dictionary_encode(g, null_encoding="encode")
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    dictionary = enc.dictionary
    str_dict = (
        dictionary
        if pa.types.is_large_string(dictionary.type)
        else pc.cast(dictionary, pa.large_string())
    )
    group_hash = id_hashes(str_dict)
    draws = _core.keyed_uniforms(
        np.ascontiguousarray(group_hash[codes]), id_hashes(id_arr), seed=seed, n_threads=n_threads
    )
    rows = np.arange(n)
    order = np.lexsort((rows, id_hashes(id_arr), draws, codes))
    sizes = np.bincount(codes, minlength=len(dictionary))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rows - starts[codes[order]]
    keep = rank < cap
    idx = np.flatnonzero(keep)
    size = sizes[codes[idx]]
    return Selection(
        indices=idx,
        ids=id_arr.take(pa.array(idx)),
        columns={
            "group": np.asarray(g.take(pa.array(idx)).to_pylist(), dtype=object),
            "group_size": size.astype(np.int64),
            "probability": np.minimum(1.0, cap / np.maximum(size, 1)),
        },
        rows={"keep": keep},
        n_rows=n,
        method="balance/cap_per_group",
        info={
            "cap": cap,
            "seed": seed,
            "n_groups": len(dictionary),
            "n_capped": int((sizes > cap).sum()),
        },
    )
