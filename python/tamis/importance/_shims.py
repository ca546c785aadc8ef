"""Former private names of ``ImportanceResampler`` that ``tamis.ray`` still calls: temporary.

Each delegates to :mod:`tamis.importance.model` and :mod:`tamis.importance.stream`; this module goes once ``ray.py`` calls the
engine itself. ``random_state`` and ``n_jobs`` are read-only aliases of ``seed`` and
``n_threads``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pyarrow as pa

from tamis._validation import check_seed
from tamis.importance import model, stream


class RayShims:
    """Mixed into :class:`~tamis.importance.ImportanceResampler`."""

    seed: int
    n_threads: Optional[int]
    text_column: str
    id_column: Optional[str]
    batch_size: int
    min_length: int
    separate_targets: bool
    model_: model.Model

    @property
    def random_state(self) -> int:
        """Former name of ``seed``."""
        return self.seed

    @property
    def n_jobs(self) -> Optional[int]:
        """Former name of ``n_threads``."""
        return self.n_threads

    def _check_select(self, k: Any, method: str, seed: Any) -> tuple[int, int]:
        """``k`` and the seed to use (the estimator's when ``seed`` is None), checked."""
        self._check_fitted()  # type: ignore[attr-defined]
        k = stream.check_selection(k, method, separate_targets=self.separate_targets)
        return k, self.seed if seed is None else check_seed(seed)

    def _fit_counts(self, target_counts: Any, raw_counts: Any) -> None:
        self.fit_counts(target_counts, raw_counts)  # type: ignore[attr-defined]

    def _target_sources(self, target: Any) -> list[Any]:
        return model.target_sources(target, separate_targets=self.separate_targets)

    def _ks(self, k: int) -> list[int]:
        return stream.target_ks(self.model_, k)

    def _score_array(self, text: Any) -> tuple[np.ndarray, np.ndarray]:
        return model.score_batch(self.model_, text)

    @staticmethod
    def _annotate(
        batch: Any, positions: np.ndarray, w: np.ndarray, keys: Optional[np.ndarray]
    ) -> pa.Table:
        return stream.annotate_rows(batch, positions, w, keys)

    def _stream(
        self,
        raw: Any,
        k: int,
        method: str,
        seed: int,
        keep_rows: bool,
        columns: Any,
        show_progress: bool,
    ) -> stream.TopKState:
        del keep_rows  # rows are always kept
        from tamis.importance.estimator import _read

        return stream.stream(
            self.model_,
            _read(self, raw, columns=columns, desc="weights", show=show_progress),  # type: ignore[arg-type]
            k,
            method=method,
            seed=seed,
            text_column=self.text_column,
            id_column=self.id_column or "id",
            batch_size=self.batch_size,
        )

    def _resolve(self, st: Any, k: int, method: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        del k  # sum(st["ks"])
        return stream.resolve(_as_state(st, method), seed=seed, min_length=self.min_length)

    def _collect(self, st: Any, pos: np.ndarray, tgt: np.ndarray, method: str) -> pa.Table:
        state = _as_state(st, method)
        return stream.collect(state, pos, tgt, separate_targets=self.separate_targets)


def _as_state(st: Any, method: str) -> stream.TopKState:
    """The untyped state dict ``tamis.ray`` builds, as an :class:`stream.TopKState`."""
    if isinstance(st, stream.TopKState):
        return st
    return stream.TopKState(
        ks=list(st["ks"]),
        method=method,
        tops=st["tops"],
        rows=stream.RowBuffer(None, st["kept"]),
        weights=st["weights"],
        eligible=st["eligible"],
        n_rows=st["n_rows"],
        n_eligible=st["n_eligible"],
    )
