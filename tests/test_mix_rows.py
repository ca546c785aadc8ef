"""tamis.mix: the per-document path (strings made straight from the window blocks) and UTF-8
checks of the rows taken (the sampler's fast paths; tests/test_mix.py has the rest)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tamis
from tamis import _core
from tamis.mix import MixtureSampler
from tamis.mix._sources import gather, strings


def test_strings_equal_the_gathered_rows():
    rng = np.random.default_rng(1)
    words = [f"w{i}é😀" * (i % 4) for i in range(200)]
    arrays = [
        pa.array(words[:80], pa.string()),
        pa.array(words[80:], pa.large_string()).slice(5, 100),  # an offset into its buffers
    ]
    chunk = rng.integers(0, 2, 400).astype(np.uint32)
    row = (rng.random(400) * np.array([len(a) for a in arrays])[chunk]).astype(np.uint32)
    want = gather(arrays, chunk, row).to_pylist()
    assert strings(arrays, chunk, row) == want
    arrays[0] = pa.array([None, *words[1:80]], pa.string())  # with nulls: Arrow's path
    assert strings(arrays, chunk, row) == gather(arrays, chunk, row).to_pylist()
    assert strings([], chunk[:0], row[:0]) == []
    with pytest.raises(ValueError, match="past"):
        _core.mix_strings(
            [np.array([0, 1])],
            [np.zeros(1, np.uint8)],
            np.zeros(1, np.uint32),
            np.ones(1, np.uint32),
        )
    bad = ([np.array([0, 1, 3])], [np.array([97, 0xFF, 0xFE], np.uint8)])
    assert _core.mix_strings(*bad, np.zeros(1, np.uint32), np.zeros(1, np.uint32)) == ["a"]
    with pytest.raises(UnicodeDecodeError):
        _core.mix_strings(*bad, np.zeros(1, np.uint32), np.ones(1, np.uint32))
    bad_array = pa.LargeStringArray.from_buffers(
        2, pa.py_buffer(np.array([0, 1, 3])), pa.py_buffer(bytes([97, 0xFF, 0xFE]))
    )
    assert gather([bad_array], np.zeros(1, np.uint32), np.zeros(1, np.uint32)).to_pylist() == ["a"]
    with pytest.raises(pa.ArrowInvalid):
        gather([bad_array], np.zeros(1, np.uint32), np.ones(1, np.uint32))


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("rows")
    texts = [f"doc {i} " + "é" * (i % 5) for i in range(500)]
    pq.write_table(pa.table({"text": texts}), root / "a.parquet", row_group_size=30)
    return {"a": root / "a.parquet", "b": [f"book {i}" for i in range(40)]}


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_rows_equal_the_batches(two_sources, batch_size):
    def make():
        return MixtureSampler(
            two_sources, {"a": 3, "b": 1}, k=1300, seed=4, batch_size=batch_size, buffer_blocks=2
        )

    rows = list(make())
    from_batches = [r for b in make().iter_batches() for r in b.to_pylist()]
    assert len(rows) == 1300
    assert rows == from_batches


def test_invalid_utf8_names_the_file_and_row_group(tmp_path):
    good = [f"ok {i}".encode() for i in range(40)]
    bad = [*good[:33], b"bad \xff\xfe", *good[34:]]
    # Parquet's writer and reader do not check UTF-8: the bad row reaches the sampler.
    pq.write_table(
        pa.table({"text": _unchecked_strings(bad)}), tmp_path / "bad.parquet", row_group_size=10
    )
    for read in (list, lambda s: list(s.iter_batches())):
        s = MixtureSampler({"x": tmp_path / "bad.parquet"}, [1], k=40, seed=0, batch_size=8)
        with pytest.raises(tamis.InputError, match=r"bad\.parquet: row group 3: text is not valid"):
            read(s)
    # The rows before the bad one are read; with shuffle off the first 3 row groups are fine.
    s = MixtureSampler({"x": tmp_path / "bad.parquet"}, [1], k=30, shuffle=False, batch_size=8)
    assert len(list(s)) == 30


def _unchecked_strings(values):
    """``values`` (bytes) as a ``string`` array, without a UTF-8 check (buffers shared)."""
    col = pa.array(values, pa.binary())
    return pa.StringArray.from_buffers(len(col), col.buffers()[1], col.buffers()[2])
