"""What dedup keeps per document: one :class:`SignedBatch` per batch, one :class:`SignatureStore`.

A :class:`SignedBatch` holds the row-aligned arrays that :func:`~tamis.dedup.sign_batch` computes
for one batch of texts (signatures or band keys, shingle counts, exact hashes, byte lengths); the
:class:`SignatureStore` appends batches and concatenates them on first read, and keeps the shingle
sets of the candidate rows (:class:`ShingleSets`) for exact verification. The estimator, its
``save`` / ``load`` and the Ray backend's per-block columns all go through these two types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Optional

import numpy as np
import pyarrow as pa


@dataclass
class ShingleSets:
    """Sorted unique shingle hashes per document, CSR: row ``i``'s are ``hashes[indptr[i]:indptr[i+1]]``.

    Rows without a set (not candidates) have an empty range.
    """

    indptr: np.ndarray  # (n_docs + 1,) uint64
    hashes: np.ndarray  # uint64

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return int(self.indptr.nbytes + self.hashes.nbytes)


#: dtype and trailing shape of each :class:`SignedBatch` field (``"perm"``: ``num_perm`` columns,
#: ``"bands"``: ``num_bands`` columns).
_LAYOUT: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "n_shingles": (np.uint64, ()),
    "signatures": (np.uint32, ("perm",)),
    "band_keys": (np.uint64, ("bands",)),
    "hashes": (np.uint64, (2,)),
    "hash_ok": (np.bool_, ()),
    "lengths": (np.float64, ()),
}


@dataclass
class SignedBatch:
    """Row-aligned per-document arrays of one batch; ``None`` where not computed.

    Attributes
    ----------
    n_shingles
        Shingles per document (uint64; 0 for empty and null documents).
    signatures
        ``(n, num_perm)`` uint32 MinHash signatures.
    band_keys
        ``(n, num_bands)`` uint64 LSH band keys.
    hashes, hash_ok
        ``(n, 2)`` uint64 XXH3-128 of the normalised text, and which rows have one (not null).
    lengths
        Bytes per document (float64, 0 for nulls), the ``keep="longest"`` ranking.
    """

    n_shingles: np.ndarray
    signatures: Optional[np.ndarray] = None
    band_keys: Optional[np.ndarray] = None
    hashes: Optional[np.ndarray] = None
    hash_ok: Optional[np.ndarray] = None
    lengths: Optional[np.ndarray] = None

    FIELDS: ClassVar[tuple[str, ...]] = tuple(_LAYOUT)

    def __len__(self) -> int:
        return len(self.n_shingles)

    def arrays(self) -> dict[str, np.ndarray]:
        """The computed fields, by name."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return int(sum(a.nbytes for a in self.arrays().values()))

    @classmethod
    def empty(cls, names: Sequence[str], *, num_perm: int, num_bands: int) -> SignedBatch:
        """A batch of no rows with the fields ``names``."""
        out = {}
        for name in names:
            dtype, tail = _LAYOUT[name]
            shape = tuple({"perm": num_perm, "bands": num_bands}.get(t, t) for t in tail)
            out[name] = np.empty((0, *shape), dtype)
        return cls(**out)

    @classmethod
    def concat(cls, parts: Sequence[SignedBatch]) -> SignedBatch:
        """The batches one after the other (all must have the same fields)."""
        if len(parts) == 1:
            return parts[0]
        names = list(parts[0].arrays())
        if any(list(p.arrays()) != names for p in parts):
            raise ValueError("cannot concatenate batches with different fields")
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def to_arrow(self) -> pa.Table:
        """The batch as Arrow columns (the Ray backend's per-block layout).

        ``n_shingles``; ``sig`` and ``keys`` as fixed-size binary rows (a signature or the band
        keys of one document, native byte order); ``h0``, ``h1``, ``hash_ok``; ``length``.
        """
        n = len(self)
        cols: dict[str, Any] = {"n_shingles": pa.array(self.n_shingles, pa.uint64())}
        for name, col in (("signatures", "sig"), ("band_keys", "keys")):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.ascontiguousarray(arr)
                width = arr.shape[1] * arr.itemsize
                cols[col] = pa.FixedSizeBinaryArray.from_buffers(
                    pa.binary(width), n, [None, pa.py_buffer(arr.tobytes())]
                )
        if self.hashes is not None:
            cols.update(
                h0=pa.array(self.hashes[:, 0]),
                h1=pa.array(self.hashes[:, 1]),
                hash_ok=pa.array(self.hash_ok),
            )
        if self.lengths is not None:
            cols["length"] = pa.array(self.lengths, pa.float64())
        return pa.table(cols)


class SignatureStore:
    """Every added document's arrays, in one place: appended per batch, concatenated on read.

    Parameters
    ----------
    num_perm, num_bands
        Signature length and bands (the shapes of an empty store).
    low_memory
        Keep band keys instead of signatures.
    exact
        Keep exact text hashes.
    lengths
        Keep byte lengths.

    Attributes
    ----------
    shingle_sets : ShingleSets or None
        Shingle sets of the candidate rows (``verify="exact"``); stale once more rows are added.
    """

    def __init__(
        self,
        *,
        num_perm: int,
        num_bands: int,
        low_memory: bool = False,
        exact: bool = False,
        lengths: bool = False,
    ) -> None:
        self.num_perm = num_perm
        self.num_bands = num_bands
        self.fields: tuple[str, ...] = tuple(
            name
            for name, on in (
                ("n_shingles", True),
                ("signatures", not low_memory),
                ("band_keys", low_memory),
                ("hashes", exact),
                ("hash_ok", exact),
                ("lengths", lengths),
            )
            if on
        )
        self._parts: list[SignedBatch] = []
        self.shingle_sets: Optional[ShingleSets] = None

    def append(self, batch: SignedBatch) -> None:
        """Add the rows of ``batch`` (it must have exactly this store's fields)."""
        if tuple(batch.arrays()) != self.fields:
            raise ValueError(f"batch has fields {tuple(batch.arrays())}, the store {self.fields}")
        self._parts.append(batch)

    def merged(self) -> SignedBatch:
        """Every row as one batch (the parts are concatenated once, then kept merged)."""
        if not self._parts:
            return SignedBatch.empty(self.fields, num_perm=self.num_perm, num_bands=self.num_bands)
        if len(self._parts) > 1:
            self._parts = [SignedBatch.concat(self._parts)]
        return self._parts[0]

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    @property
    def n_shingles(self) -> np.ndarray:
        """Shingles per document (uint64)."""
        return self.merged().n_shingles

    @property
    def signatures(self) -> Optional[np.ndarray]:
        """``(n, num_perm)`` uint32 signatures (``None`` with ``low_memory``)."""
        return self.merged().signatures

    @property
    def band_keys(self) -> Optional[np.ndarray]:
        """``(n, num_bands)`` uint64 band keys (only with ``low_memory``)."""
        return self.merged().band_keys

    @property
    def hashes(self) -> Optional[np.ndarray]:
        """``(n, 2)`` uint64 exact text hashes (only with ``exact``)."""
        return self.merged().hashes

    @property
    def hash_ok(self) -> Optional[np.ndarray]:
        """Rows that have an exact hash (only with ``exact``)."""
        return self.merged().hash_ok

    @property
    def lengths(self) -> Optional[np.ndarray]:
        """Bytes per document (only with ``lengths``)."""
        return self.merged().lengths

    @property
    def nbytes(self) -> int:
        """Bytes of the per-document arrays (shingle sets not included)."""
        return sum(p.nbytes for p in self._parts)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array by its file name (what ``MinHashDeduplicator.save`` writes)."""
        out = self.merged().arrays()
        if self.shingle_sets is not None:
            out["set_indptr"] = self.shingle_sets.indptr
            out["set_hashes"] = self.shingle_sets.hashes
        return out

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> SignatureStore:
        """Replace the contents with what :meth:`to_arrays` wrote (format 1 files too).

        A field this store keeps but the file lacks is only accepted for a file of no rows.
        """
        n = len(arrays["n_shingles"])
        got = {}
        for name in self.fields:
            if name in arrays:
                got[name] = np.asarray(arrays[name])
            elif n == 0:
                got[name] = SignedBatch.empty(
                    [name], num_perm=self.num_perm, num_bands=self.num_bands
                ).arrays()[name]
            else:
                raise ValueError(f"the file has no {name!r} array for its {n} documents")
        self._parts = [SignedBatch(**got)]
        self.shingle_sets = None
        if "set_indptr" in arrays:
            self.shingle_sets = ShingleSets(
                np.asarray(arrays["set_indptr"]), np.asarray(arrays["set_hashes"])
            )
        return self
