"""Sequence packing for :class:`~tamis.scoring.LMScorer`: several documents per row, no padding.

Token windows (documents, or the strided windows of long ones) are placed best-fit-decreasing
into rows of ``capacity`` tokens (the scorer's ``max_length``), so a forward pass computes almost
only real tokens instead of padding every sequence to the longest of its batch. Each window gets
position ids that restart at 0 and attends only to itself, causally, so its log-probabilities are
those of the window run alone (equal up to float rounding; tested to 1e-4). How the
block-diagonal attention is enforced depends on the model's attention implementation
(``config._attn_implementation`` of a transformers model):

- ``"sdpa"`` / ``"eager"``: an explicit 4-D mask of shape ``(rows, 1, width, width)`` (boolean
  for SDPA, additive float for eager), which transformers passes to the kernels unchanged;
- ``"flash_attention_*"``: the rows are flattened into one sequence and only ``position_ids``
  are passed; transformers derives ``cu_seqlens`` from the restarts and calls the variable-length
  kernel (``flash_attn_varlen_func``), so attention costs nothing for padding either.

The empty tail of a row is its own segment (positions restarting at 0): real tokens never attend
to it and it never produces a fully masked (NaN) attention row.
"""

from __future__ import annotations

import bisect
import inspect
from typing import Any

import numpy as np

from tamis.scoring._windows import _Pieces

#: Attention implementations that can run packed rows, and how (see the module docstring).
PACKED_KINDS = {"sdpa": "mask", "eager": "additive", "flash": "varlen"}


def packing_kind(backbone: Any, model: Any, max_length: int) -> tuple[str | None, str]:
    """How ``backbone`` can run packed rows.

    Returns ``("mask" | "additive" | "varlen", "")``, or ``(None, reason)`` when it cannot.
    """
    config = getattr(model, "config", None)
    impl = getattr(config, "_attn_implementation", None)
    if not isinstance(impl, str):
        return None, "the model is not a transformers model with a known attention implementation"
    kind = PACKED_KINDS.get("flash" if "flash" in impl else impl)
    if kind is None:
        return None, f"attention implementation {impl!r} (packing needs sdpa, eager or flash)"
    try:
        params = set(inspect.signature(backbone.forward).parameters)
    except (TypeError, ValueError):
        params = set()
    if "position_ids" not in params:
        return None, f"{type(backbone).__name__}.forward takes no position_ids"
    window = getattr(config, "sliding_window", None)
    if isinstance(window, int) and 0 < window < max_length:
        return None, f"sliding-window attention ({window} < max_length {max_length})"
    return kind, ""


def pack_rows(lengths: np.ndarray, capacity: int) -> list[np.ndarray]:
    """Best-fit-decreasing bin packing of sequences into rows of ``capacity`` tokens.

    Parameters
    ----------
    lengths
        Token count of each sequence, each at most ``capacity``.
    capacity
        Tokens per row.

    Returns
    -------
    list of numpy.ndarray
        Indices into ``lengths`` for each row (longest sequences first); together a permutation
        of ``range(len(lengths))``.

    Examples
    --------
    >>> [r.tolist() for r in pack_rows(np.array([3, 5, 2, 4]), 7)]
    [[1, 2], [3, 0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and int(lengths.max()) > capacity:
        raise ValueError(f"a sequence of {int(lengths.max())} tokens exceeds capacity {capacity}")
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free tokens, row), sorted: best fit = first that fits
    for i in np.argsort(-lengths, kind="stable").tolist():
        n = int(lengths[i])
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            room, r = free.pop(k)
            rows[r].append(i)
            room -= n
        else:
            r, room = len(rows), capacity - n
            rows.append([i])
        if room > 0:
            bisect.insort(free, (room, r))
    return [np.asarray(r, dtype=np.int64) for r in rows]


def packed_arrays(
    seqs: list[np.ndarray], pieces: _Pieces, rows: list[np.ndarray], width: int
) -> dict[str, np.ndarray]:
    """Inputs of one packed forward pass.

    Returns ``input_ids``, ``position_ids`` and ``segment`` (``(len(rows), width)``; the tail of a
    row is segment ``-1``), ``pred`` (flat index of the position predicting each scored target),
    ``targets`` (their token ids) and ``docs`` (their document).
    """
    n_rows = len(rows)
    ids = np.zeros((n_rows, width), dtype=np.int64)
    pos = np.zeros((n_rows, width), dtype=np.int64)
    seg = np.full((n_rows, width), -1, dtype=np.int64)
    pred, docs = [], []
    for r, row in enumerate(rows):
        o = 0
        for slot, j in enumerate(row.tolist()):
            d, a, b, frm = (
                int(x[j]) for x in (pieces.doc, pieces.start, pieces.end, pieces.score_from)
            )
            n = b - a
            ids[r, o : o + n] = seqs[d][a:b]
            pos[r, o : o + n] = np.arange(n)
            seg[r, o : o + n] = slot
            t = np.arange(frm, n, dtype=np.int64)
            pred.append(r * width + o + t - 1)
            docs.append(np.full(len(t), d, dtype=np.int64))
            o += n
        pos[r, o:] = np.arange(width - o)
    pred_a = np.concatenate(pred) if pred else np.zeros(0, dtype=np.int64)
    return {
        "input_ids": ids,
        "position_ids": pos,
        "segment": seg,
        "pred": pred_a,
        "targets": ids.reshape(-1)[pred_a + 1],
        "docs": np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64),
    }


def block_causal_mask(segment: Any, kind: str, dtype: Any) -> Any:
    """The 4-D attention mask of packed rows: token q sees token k iff same segment and k ≤ q.

    ``kind="mask"`` gives a boolean mask (True = attend, for SDPA); ``"additive"`` a float mask in
    ``dtype`` (0 or the dtype's minimum, added to the scores by eager attention).
    """
    import torch

    width = segment.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=segment.device).tril()
    mask = (segment[:, :, None] == segment[:, None, :]) & causal
    if kind == "additive":
        zero = torch.zeros((), dtype=dtype, device=segment.device)
        mask = torch.where(mask, zero, torch.finfo(dtype).min)
    return mask[:, None]
