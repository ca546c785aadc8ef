"""Arrow arrays from numpy and from Python strings without ``pa.array`` (no pandas import).

pyarrow 26 imports pandas, when it is installed, the first time ``pa.array``, ``pa.scalar`` or
``Array.to_numpy`` is called (to check for pandas inputs): measured 1.0 s and 38 MB of RSS on the
2-core machine, more than ``tamis dedup`` spends hashing 20,000 documents. The streaming paths
build their arrays from buffers instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def from_numpy(values: np.ndarray) -> pa.Array:
    """A 1-d numeric or bool numpy array as an Arrow array (zero-copy except for bools).

    Examples
    --------
    >>> from_numpy(np.array([3, 1])).to_pylist(), from_numpy(np.array([True, False])).to_pylist()
    ([3, 1], [True, False])
    """
    arr = np.ascontiguousarray(values)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d array, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        bits = np.packbits(arr, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(arr), [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(arr.dtype), len(arr), [None, pa.py_buffer(arr)]
    )


def string_array(values: Sequence[str]) -> pa.Array:
    """Python strings (no nulls) as an Arrow ``string`` array.

    Examples
    --------
    >>> string_array(["a:0", "é:1"]).to_pylist()
    ['a:0', 'é:1']
    """
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("string_array: more than 2 GiB of text")
    bufs = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), bufs)


def to_numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric or bool Arrow array without nulls as numpy (a read-only view, bools unpacked).

    ``Array.to_numpy`` would import pandas (see above).

    Examples
    --------
    >>> to_numpy(from_numpy(np.array([3, 1]))).tolist(), to_numpy(from_numpy(np.array([True])))
    ([3, 1], array([ True]))
    """
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if arr.null_count:
        raise ValueError(f"to_numpy: {arr.null_count} nulls in the array")
    n, off, buf = len(arr), arr.offset, arr.buffers()[1]
    if arr.type == pa.bool_():
        if n == 0:
            return np.zeros(0, np.bool_)
        bits = np.frombuffer(buf, np.uint8)
        return np.unpackbits(bits, count=off + n, bitorder="little")[off:].view(np.bool_)
    dtype = _NUMPY.get(arr.type)
    if dtype is None:
        raise TypeError(f"to_numpy: expected a numeric array, got {arr.type}")
    if n == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(buf, dtype, count=off + n)[off:]


_NUMPY_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
_NUMPY = {
    pa.from_numpy_dtype(np.dtype(t)): np.dtype(t) for t in [*_NUMPY_TYPES, np.float32, np.float64]
}
