"""DSIR model files: the package's versioned ``.npz`` (:func:`tamis._base.save_state`).

Version 2 (this release) stores the header as ``_base`` does. Version 1 files, written before the
shared format (a uint8 JSON array ``meta``; parameters ``random_state`` and ``n_jobs``), are
still read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tamis._base import load_state, save_state
from tamis.exceptions import InputError

FORMAT = "tamis.dsir"
VERSION = 2
#: Parameter names of version 1 files -> this release's.
RENAMED = {"random_state": "seed", "n_jobs": "n_threads"}


@dataclass(frozen=True)
class SavedModel:
    """What a model file holds: constructor parameters and the counts the model was fitted on."""

    params: dict[str, Any]
    target_counts: np.ndarray
    raw_counts: np.ndarray
    target_proportions: np.ndarray


def save_model(
    path: Any,
    params: dict[str, Any],
    *,
    target_counts: np.ndarray,
    raw_counts: np.ndarray,
    target_proportions: np.ndarray,
) -> Path:
    """Write a model file (atomically; no pickle)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_state(
        path,
        FORMAT,
        VERSION,
        params,
        target_counts=target_counts,
        raw_counts=raw_counts,
        target_proportions=target_proportions,
    )


def load_model(path: Any) -> SavedModel:
    """Read a model file of version 1 or 2 (``allow_pickle=False``).

    Raises
    ------
    InputError
        Not a readable DSIR model file.
    """
    try:
        z = np.load(str(path), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npz file ({e})") from None
    if isinstance(z, np.lib.npyio.NpzFile) and "meta" in z.files:
        with z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT or meta.get("version") != 1:
                raise InputError(f"{path}: not a tamis DSIR model of version 1 or {VERSION}")
            return _saved(meta["params"], z)
    if isinstance(z, np.lib.npyio.NpzFile):
        z.close()
    params, z = load_state(path, FORMAT, (VERSION,))
    with z:
        return _saved(params, z)


def _saved(params: dict[str, Any], z: Any) -> SavedModel:
    params = {RENAMED.get(name, name): value for name, value in params.items()}
    params["ngram_range"] = tuple(params["ngram_range"])
    return SavedModel(params, z["target_counts"], z["raw_counts"], z["target_proportions"])
