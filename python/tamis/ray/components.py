"""Distributed connected components: alternating large-star / small-star over sharded edges.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). The edge list lives
in hash shards (Ray objects, one task per shard and step), never in one process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tamis.ray._context import init


def _split_by_source(edges: np.ndarray, num_shards: int, both: bool) -> list[np.ndarray]:
    """Directed edges ``(src, dst)`` (with both directions when ``both``) split by ``src`` shard."""
    if both:
        edges = np.concatenate([edges, edges[:, ::-1]])
    shard = (edges[:, 0].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    shard = (shard % np.uint64(num_shards)).astype(np.int64)
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(num_shards + 1))
    return [edges[order[bounds[i] : bounds[i + 1]]] for i in range(num_shards)]


def _star(large: bool, num_shards: int, *parts: np.ndarray) -> tuple[Any, ...]:
    """One large-star (or small-star) step on the directed edges of one source shard.

    ``m(u) = min(u, neighbours of u)``; large-star links every neighbour ``v > u`` to ``m(u)``,
    small-star links every neighbour ``v <= u`` and ``u`` itself to ``m(u)`` (Kiveris et al.,
    "Connected Components in MapReduce and Beyond", SoCC 2014). Returns the new undirected edges
    split by shard for the next step (both directions), and the edge count and a checksum.
    """
    e = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
    e = np.unique(e, axis=0) if len(e) else e.reshape(0, 2)
    if len(e):
        src, dst = e[:, 0], e[:, 1]  # sorted by src (np.unique sorts rows)
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        mins = np.minimum(np.minimum.reduceat(dst, starts), src[starts])
        m = np.repeat(mins, np.diff(np.r_[starts, len(src)]))
        if large:
            sel = dst > src
            out = np.stack([dst[sel], m[sel]], axis=1)
        else:
            sel = dst <= src
            out = np.concatenate([np.stack([dst[sel], m[sel]], axis=1), np.stack([src, m], axis=1)])
        out = out[out[:, 0] != out[:, 1]]
        out = np.unique(np.sort(out, axis=1), axis=0)
    else:
        out = e
    checksum = int((out[:, 0] * 1_000_003 + out[:, 1]).sum() % (1 << 61)) if len(out) else 0
    return (*_split_by_source(out, num_shards, both=True), len(out), checksum)


def _split_task(edges: np.ndarray, num_shards: int) -> Any:
    parts = _split_by_source(edges, num_shards, both=True)
    return parts[0] if num_shards == 1 else tuple(parts)


def _final_roots(*parts: np.ndarray) -> np.ndarray:
    """``(node, root)`` pairs of one shard after convergence: every node's smallest neighbour."""
    e = np.concatenate(parts) if parts else np.empty((0, 2), np.int64)
    if not len(e):
        return np.empty((0, 2), np.int64)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e = e[order]
    starts = np.flatnonzero(np.r_[True, e[1:, 0] != e[:-1, 0]])
    nodes = e[starts, 0]
    roots = np.minimum(np.minimum.reduceat(e[:, 1], starts), nodes)
    return np.stack([nodes, roots], axis=1)


def connected_components(
    edges: Any, n: int, *, num_shards: int = 4, max_rounds: int = 64
) -> np.ndarray:
    """Component roots (smallest member) of ``0..n`` by alternating large-star / small-star on Ray.

    The edge list never sits in one process: it lives in ``num_shards`` shards (Ray objects, one
    task per shard and step); the driver only sees two numbers per shard and step, and the final
    ``(node, root)`` pairs of the nodes that have edges. Gives what :func:`tamis.dedup.components`
    gives (tested); meant for edge lists larger than the driver's memory.

    Parameters
    ----------
    edges
        ``(m, 2)`` integer array, or a list of such arrays (e.g. one per worker).
    n
        Number of nodes.
    num_shards
        Hash shards of the edge list.
    max_rounds
        Safety bound on large-star + small-star rounds (O(log^2 n) are needed in the worst case,
        a handful in practice).
    """
    ray = init()
    chunks = edges if isinstance(edges, list) else [edges]
    chunks = [np.asarray(c, dtype=np.int64).reshape(-1, 2) for c in chunks]
    roots = np.arange(n, dtype=np.int64)
    if not sum(len(c) for c in chunks):
        return roots.astype(np.uint32)
    split = ray.remote(num_cpus=0.25)(_split_task).options(num_returns=num_shards)
    star = ray.remote(num_cpus=0.25)(_star).options(num_returns=num_shards + 2)
    parts = [split.remote(c, num_shards) for c in chunks]
    shards = [[p[i] if num_shards > 1 else p for p in parts] for i in range(num_shards)]
    prev = None
    for _ in range(max_rounds):
        state = []
        for large in (True, False):
            outs = [star.remote(large, num_shards, *shards[i]) for i in range(num_shards)]
            shards = [[o[j] for o in outs] for j in range(num_shards)]
            stats = ray.get([o[num_shards] for o in outs] + [o[num_shards + 1] for o in outs])
            state.append((sum(stats[:num_shards]), sum(stats[num_shards:]) % (1 << 61)))
        if state[-1] == prev and state[0] == state[1]:
            break
        prev = state[-1]
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    final = ray.remote(num_cpus=0.25)(_final_roots)
    for pairs in ray.get([final.remote(*shards[i]) for i in range(num_shards)]):
        roots[pairs[:, 0]] = pairs[:, 1]
    return roots.astype(np.uint32)
