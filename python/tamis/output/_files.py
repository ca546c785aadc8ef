"""Atomic files: temp file next to the target, umask mode, rename when complete."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tamis.exceptions import InputError
from tamis.output._checks import _TMP_MARK, STDOUT, PathLike, _check_kind, file_mode


def _temp_for(target: Path) -> str:
    _check_kind(target, str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}{_TMP_MARK}", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    os.chmod(tmp, file_mode())
    return tmp


def _target(path: PathLike) -> Path:
    """Where to write: through a symlink to its target."""
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """A temporary path next to ``path`` that replaces it when the block ends without error.

    The file gets the umask's mode; on any error (including ``KeyboardInterrupt``) it is removed.
    """
    target = _target(path)
    tmp = _temp_for(target)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: PathLike, text: str) -> None:
    """Write a text file atomically (``"-"``: stdout)."""
    if str(path) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (``"-"``: stdout)."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def run_metadata(command: str, params: dict[str, Any]) -> dict[bytes, bytes]:
    """File metadata naming the tamis version, the command and its parameters."""
    return {b"tamis": _metadata_json(command, params).encode()}


def _metadata_json(command: str, params: dict[str, Any]) -> str:
    from tamis import __version__

    payload = {"tamis_version": __version__, "command": command, "params": params}
    return json.dumps(payload, sort_keys=True, default=str)


def save_npz(path: PathLike, command: str, params: dict[str, Any], **arrays: Any) -> None:
    """Write arrays to an ``.npz`` atomically, with the run metadata under the key ``tamis``.

    Every array must have a non-object dtype so the file loads with ``np.load`` without pickle.
    """
    import numpy as np

    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"npz array {name!r} has dtype object (would need pickle)")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, tamis=np.array(_metadata_json(command, params)), **arrays)


def read_run_metadata(path: PathLike) -> dict[str, Any]:
    """The run metadata tamis wrote into a Parquet or ``.npz`` output."""
    if str(path).lower().endswith(".npz"):
        import numpy as np

        with np.load(str(path), allow_pickle=False) as z:
            if "tamis" not in z.files:
                raise InputError(f"{path}: no tamis run metadata")
            return json.loads(str(z["tamis"]))
    meta = pq.read_schema(str(path)).metadata or {}
    if b"tamis" not in meta:
        raise InputError(f"{path}: no tamis run metadata")
    return json.loads(meta[b"tamis"])
