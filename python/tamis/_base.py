"""What every estimator and selector shares: parameters, repr, fitted checks, persistence, results.

- :class:`Estimator`: ``get_params`` / ``set_params`` / ``__repr__`` read from the constructor's
  signature (scikit-learn's convention: every constructor parameter is stored under its own name).
- :func:`check_is_fitted`: one :class:`~tamis.NotFittedError` message for every estimator.
- :func:`save_state` / :func:`load_state`: the one persistence format, a versioned ``.npz`` of
  plain arrays plus a JSON header (no pickle; loads with ``np.load(allow_pickle=False)``).
- :class:`Selection`: the one result type of every selector (DSIR, dedup, coresets, scores):
  which rows were chosen, their ids, and the per-row columns that explain each choice.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from tamis.exceptions import InputError, NotFittedError


class Estimator:
    """Parameters, ``repr`` and ``set_params`` from the constructor's signature.

    Subclasses store every constructor parameter as an attribute of the same name.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """A copy of the constructor call with ``params`` changed, validated like the original."""
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter {unknown[0]!r}")
        new = type(self)(**{**self.get_params(), **params})
        self.__dict__.update(new.__dict__)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            try:
                same = bool(value == default)
            except (TypeError, ValueError):
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def check_is_fitted(estimator: Any, attribute: str, how: str = "fit()") -> None:
    """Raise :class:`~tamis.NotFittedError` unless ``estimator`` has ``attribute``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet: call {how} first")


def save_state(
    path: Any, kind: str, version: int, params: Mapping[str, Any], **arrays: Any
) -> Path:
    """Write an estimator as ``.npz``: arrays plus a JSON header ``{format, version, params}``.

    Written atomically (temp file + rename) with the umask's mode; loads without pickle.
    """
    from tamis.output import atomic_path

    header = {"format": kind, "version": version, "params": dict(params)}
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"{kind}: array {name!r} has dtype object (would need pickle)")
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, header=np.array(json.dumps(header, default=_json_default)), **arrays)
    return path


def load_state(path: Any, kind: str, versions: tuple[int, ...]) -> tuple[dict[str, Any], Any]:
    """Read what :func:`save_state` wrote: ``(params, arrays)`` (an open ``NpzFile``).

    Raises
    ------
    InputError
        Not a tamis ``.npz`` of this ``kind``, or a version this release cannot read.
    """
    try:
        z = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npz file ({e})") from None
    if "header" not in z.files:
        raise InputError(f"{path}: not a tamis {kind} file (no header)")
    header = json.loads(str(z["header"]))
    if header.get("format") != kind:
        raise InputError(f"{path}: a {header.get('format')!r} file, expected {kind!r}")
    if header.get("version") not in versions:
        raise InputError(
            f"{path}: {kind} format version {header.get('version')!r}; "
            f"this release reads {', '.join(map(str, versions))}"
        )
    return header["params"], z


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a tamis header")


@dataclass
class Selection:
    """Which rows a selector chose, and why: the one result type of every selector.

    Attributes
    ----------
    indices
        Row numbers (int64) of the selected rows in the input, in the order the selector
        documents (input order for DSIR, dedup, coresets and ``select_top``; best first for
        ``color_filter``). With replacement a row appears once per draw.
    ids
        The selected rows' ids (the input's id column, or row numbers), aligned with ``indices``.
    columns
        Explanation per selected row (aligned with ``indices``): e.g. ``log_weight`` and ``key``
        (DSIR), ``weight`` and ``probability`` (coresets), ``cluster_id`` (dedup), ``score``.
        Each is also an attribute: ``sel.log_weight``.
    rows
        Explanation per *input* row, where the selector computes one for every row: e.g.
        ``keep``, ``cluster_id`` and ``duplicate_of`` (dedup), ``score`` (coresets, scores).
    n_rows
        Rows seen.
    method
        The selector and its method, e.g. ``"dsir/gumbel"``.
    info
        Scalars about the run (``n_eligible``, ...).
    """

    indices: np.ndarray
    ids: Any = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    n_rows: int = 0
    method: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    #: Old attribute names kept readable (e.g. ``Coreset.weights`` -> ``columns["weight"]``).
    aliases: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if self.ids is None:
            self.ids = self.indices
        for name, col in self.columns.items():
            if len(col) != len(self.indices):
                raise ValueError(
                    f"column {name!r} has {len(col)} values for {len(self.indices)} rows"
                )

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices.tolist())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        key = type(self).aliases.get(name, name)
        for store in ("columns", "rows"):
            values = self.__dict__.get(store, {})
            if key in values:
                return values[key]
        info = self.__dict__.get("info", {})
        if key in info:
            return info[key]
        raise AttributeError(f"{type(self).__name__} has no attribute or column {name!r}")

    def mask(self, n_rows: int | None = None) -> np.ndarray:
        """A boolean mask over the input rows: True where a row was selected."""
        n = self.n_rows if n_rows is None else n_rows
        out = np.zeros(n, dtype=bool)
        out[self.indices] = True
        return out

    def to_arrow(self) -> pa.Table:
        """One row per selected row: ``index``, ``id`` and the explanation columns."""
        ids = self.ids
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        elif not isinstance(ids, pa.Array):
            ids = pa.array(list(ids) if not isinstance(ids, np.ndarray) else ids)
        cols = {"index": pa.array(self.indices), "id": ids}
        for name, values in self.columns.items():
            cols[name] = pa.array(values)
        return pa.table(cols)

    def take(self, data: Any, *, explain: bool = True) -> Any:
        """The selected rows of ``data``, in the same container type, with the explanation.

        ``data`` is the input the selector ran on (same rows, same order): a pyarrow Table or
        RecordBatch, a pandas or polars DataFrame, a ``datasets.Dataset`` (features kept), or a
        list. The rows come in :attr:`indices` order with :attr:`columns` appended (unless
        ``explain=False``; a name clash with an input column is a ValueError).
        """
        from tamis._frames import take

        n = len(data) if not hasattr(data, "num_rows") else data.num_rows
        if self.n_rows and n != self.n_rows:
            raise ValueError(f"the selection was made over {self.n_rows} rows; data has {n}")
        return take(data, self.indices, self.columns if explain else {})

    def to_pandas(self) -> Any:
        """:meth:`to_arrow` as a pandas DataFrame."""
        return self.to_arrow().to_pandas()


__all__ = [
    "Estimator",
    "Selection",
    "check_is_fitted",
    "load_state",
    "save_state",
]
