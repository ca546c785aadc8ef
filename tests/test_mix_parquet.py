"""The Rust reader of Parquet text columns (``_core.MixParquetText``) against pyarrow's, and the
mixture read through it against the mixture read through pyarrow only."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tamis
from tamis import _core
from tamis.mix import MixtureSampler, _sources

RNG = np.random.default_rng(7)
WORDS = ["alpha", "béta", "γάμμα", "", "x" * 3000, "日本語のテキスト", "tab\tand\nnewline", "🙂"]


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), rng.integers(0, 12)))
        for _ in range(n)
    ]


# (name, column type, write_table options): every option the reader has a path for, and some it
# hands back to pyarrow (other codecs).
LAYOUTS = [
    ("default", pa.string(), {}),
    ("plain", pa.string(), {"compression": "none", "use_dictionary": False}),
    ("snappy-plain", pa.string(), {"use_dictionary": False}),
    ("dict-uncompressed", pa.string(), {"compression": "none"}),
    ("small-pages", pa.string(), {"data_page_size": 512, "dictionary_pagesize_limit": 256}),
    ("page-v2", pa.string(), {"data_page_version": "2.0"}),
    ("large-string", pa.large_string(), {}),
    ("binary", pa.binary(), {"compression": "none"}),
    ("lz4", pa.string(), {"compression": "lz4"}),
    ("gzip", pa.string(), {"compression": "gzip"}),
    ("zstd", pa.string(), {"compression": "zstd"}),
]


@pytest.mark.parametrize(("name", "typ", "opts"), LAYOUTS, ids=[x[0] for x in LAYOUTS])
def test_reader_equals_pyarrow_for_every_row_group(tmp_path, name, typ, opts):
    texts = _texts(700, seed=len(name))
    table = pa.table({"id": [f"d{i}" for i in range(700)], "text": pa.array(texts).cast(typ)})
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path, row_group_size=150, **opts)
    reader = _core.MixParquetText.open(str(path), "text")
    assert reader is not None
    pf = pq.ParquetFile(path)
    assert reader.n_row_groups == pf.num_row_groups == 5
    for rg in range(pf.num_row_groups):
        block = reader.read(rg)
        if name in ("gzip", "zstd"):
            assert block is None  # other codecs: pyarrow's path
            continue
        want = pf.read_row_group(rg, columns=["text"]).column(0).to_pylist()
        if typ == pa.binary():
            want = [w.decode() for w in want]
        assert len(block) == len(want)
        assert block.n_bytes == sum(len(w.encode()) for w in want)
        idx = RNG.permutation(len(want)).astype(np.uint32)
        chunk = np.zeros(len(idx), np.uint32)
        assert _core.mix_block_strings([block], chunk, idx) == [want[i] for i in idx]
        got = _sources.gather([block], chunk, idx)
        assert got.type == pa.large_string()
        assert got.to_pylist() == [want[i] for i in idx]
        assert block.first_invalid_utf8() is None
    with pytest.raises(ValueError, match="row_group"):
        reader.read(5)


def test_columns_it_does_not_read_and_row_groups_with_nulls(tmp_path):
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "text": ["a", None, "c", "d"],
            "n": [1, 2, 3, 4],
            "nested": [{"text": "x"}] * 4,
            "lists": [["a"], [], ["b"], ["c"]],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    reader = _core.MixParquetText.open(str(path), "text")
    assert reader.read(0) is None  # a null: pyarrow's path
    assert _core.mix_block_strings(
        [reader.read(1)], np.zeros(2, np.uint32), np.arange(2, dtype=np.uint32)
    ) == ["c", "d"]
    for col in ("n", "nested", "lists", "missing", "nested.text"):
        assert _core.MixParquetText.open(str(path), col) is None


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        _core.MixParquetText.open(str(tmp_path / "nope.parquet"), "text")
    for content in (b"", b"PAR1 not parquet at all PAR1", b"\x00" * 100):
        p = tmp_path / "bad.parquet"
        p.write_bytes(content)
        with pytest.raises(ValueError, match=r"bad\.parquet"):
            _core.MixParquetText.open(str(p), "text")
    with pytest.raises((IsADirectoryError, OSError)):
        _core.MixParquetText.open(str(tmp_path), "text")
    # Pages overwritten, footer intact: an error naming the row group, never a crash.
    path = tmp_path / "damaged.parquet"
    pq.write_table(pa.table({"text": _texts(400, 1)}), path, row_group_size=100)
    raw = bytearray(path.read_bytes())
    meta = pq.ParquetFile(path).metadata
    start = meta.row_group(2).column(0).data_page_offset
    for i in range(start, start + 64):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    reader = _core.MixParquetText.open(str(path), "text")
    assert reader.read(0) is not None
    with pytest.raises(ValueError, match="row group 2"):
        reader.read(2)
    s = MixtureSampler({"x": path}, [1], k=400, shuffle=False, batch_size=64)
    with pytest.raises(tamis.InputError, match=r"damaged\.parquet: row group 2"):
        list(s)


def _sources_of(tmp_path, layouts) -> dict:
    out = {}
    for i, (name, typ, opts) in enumerate(layouts):
        texts = _texts(900, seed=100 + i)
        if name == "default":  # some nulls in one row group: a window mixing both kinds
            texts[250] = None
        ids: object = [f"{name}-{j}" for j in range(900)]
        if name == "plain":  # integer ids: their string form is pyarrow's to make
            ids = list(range(1000 * i, 1000 * i + 900))
        table = pa.table({"text": pa.array(texts).cast(typ), "id": ids})
        if name == "dict-uncompressed":  # a null id: that row group's ids through pyarrow
            ids[5] = None  # type: ignore[index]
        if name == "snappy-plain":  # no id column: generated ids
            table = table.drop_columns(["id"])
        path = tmp_path / f"src-{name}.parquet"
        pq.write_table(table, path, row_group_size=128, **opts)
        out[name] = path
    return out


@pytest.mark.parametrize("batches", [False, True])
def test_the_mixture_is_the_same_through_either_reader(tmp_path, monkeypatch, batches):
    # Binary text columns are refused by the schema check (a string column is expected).
    paths = _sources_of(tmp_path, [x for x in LAYOUTS if x[0] != "binary"])
    weights = dict.fromkeys(paths, 1.0)

    def run():
        s = MixtureSampler(paths, weights, k=12_000, seed=3, batch_size=500, buffer_blocks=3)
        if batches:
            return [r for b in s.iter_batches() for r in b.to_pylist()]
        return list(s)

    fast = run()
    monkeypatch.setattr(_sources, "RUST_PARQUET", False)
    slow = run()
    assert len(fast) == 12_000
    assert fast == slow
    assert any(r["text"] is None for r in fast)  # the null row was drawn, through pyarrow
