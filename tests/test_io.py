import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis import InputError, ParquetSink, read_batches, read_run_metadata, write_parquet
from tamis.io import buffers, list_files

DOCS = [{"text": f"document number {i}", "domain": "a" if i % 2 else "b"} for i in range(25)]


def write_jsonl(path, rows, opener=open):
    with opener(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def texts_of(batches):
    return [t for b in batches for t in b.column("text").to_pylist()]


def ids_of(batches, name="id"):
    return [t for b in batches for t in b.column(name).to_pylist()]


@pytest.fixture
def corpus_dir(tmp_path):
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    write_jsonl(d / "a.jsonl", DOCS[:10])
    write_jsonl(d / "sub" / "b.jsonl.gz", DOCS[10:20], gzip.open)
    pq.write_table(pa.Table.from_pylist(DOCS[20:]), d / "c.parquet")
    return d


def test_every_format_and_directory(corpus_dir):
    batches = list(read_batches(corpus_dir, batch_size=4))
    assert sorted(texts_of(batches)) == sorted(d["text"] for d in DOCS)
    assert all(b.num_rows <= 4 for b in batches)
    ids = ids_of(batches)
    assert len(set(ids)) == 25
    assert "sub/b.jsonl.gz:0" in ids
    assert "c.parquet:4" in ids


def test_zstd(tmp_path):
    zstd = pytest.importorskip("zstandard")
    raw = "".join(json.dumps(r) + "\n" for r in DOCS).encode()
    (tmp_path / "x.jsonl.zst").write_bytes(zstd.ZstdCompressor().compress(raw))
    assert texts_of(read_batches(tmp_path / "x.jsonl.zst")) == [d["text"] for d in DOCS]


def test_ids_do_not_depend_on_argument_order(corpus_dir):
    files = list_files(corpus_dir)
    fwd = dict(zip(ids_of(read_batches(files)), texts_of(read_batches(files))))
    rev = dict(zip(ids_of(read_batches(files[::-1])), texts_of(read_batches(files[::-1]))))
    assert fwd == rev


def test_glob_and_existing_id_column(tmp_path):
    rows = [{"doc": "x y", "key": f"k{i}"} for i in range(3)]
    write_jsonl(tmp_path / "p1.jsonl", rows)
    write_jsonl(tmp_path / "p2.jsonl", rows)
    got = list(read_batches(str(tmp_path / "p*.jsonl"), text_column="doc", id_column="key"))
    assert ids_of(got, "key") == ["k0", "k1", "k2"] * 2
    assert "id" not in got[0].schema.names
    with pytest.raises(InputError, match="no id column 'nope'"):
        list(read_batches(tmp_path / "p1.jsonl", text_column="doc", id_column="nope"))


def test_column_selection(corpus_dir):
    b = next(read_batches(corpus_dir / "c.parquet", columns=["domain"]))
    assert b.schema.names == ["text", "id", "domain"]
    b = next(read_batches(corpus_dir / "c.parquet", columns=[]))
    assert b.schema.names == ["text", "id"]


def test_in_memory_inputs():
    texts = ["a", None, "c"]
    for src in (
        texts,
        pa.array(texts),
        pa.chunked_array([texts]),
        pa.table({"text": texts, "n": [1, 2, 3]}),
        pa.record_batch({"text": pa.array(texts)}),
    ):
        got = list(read_batches(src))
        assert texts_of(got) == texts
        assert ids_of(got) == [0, 1, 2]


def test_pandas_and_polars_frames():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": ["x", "y"], "domain": ["a", "b"]})
    assert texts_of(read_batches(df)) == ["x", "y"]
    try:
        import polars as pl
    except ImportError:
        return
    assert texts_of(read_batches(pl.DataFrame({"text": ["x", "y"]}))) == ["x", "y"]


def test_missing_text_column_names_file(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"body": "x"}])
    with pytest.raises(InputError, match=r"t\.jsonl: no text column 'text' \(columns: body\)"):
        list(read_batches(tmp_path / "t.jsonl"))


def test_non_string_text_column(tmp_path):
    write_jsonl(tmp_path / "n.jsonl", [{"text": 1}])
    with pytest.raises(TypeError, match="expected a string column"):
        list(read_batches(tmp_path / "n.jsonl"))


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"text": "fine"}\n{"text": "also fine"}\n{"text": "bad \xff byte"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl: row 2 \(line 3: invalid UTF-8 at byte 14\)"):
        list(read_batches(p))


def test_invalid_json_names_line(tmp_path):
    p = tmp_path / "broken.jsonl"
    p.write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(InputError, match=r"broken\.jsonl: line 2 \(byte 14\): invalid JSON"):
        list(read_batches(p))


def test_empty_file_and_blank_lines(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert list(read_batches(tmp_path / "empty.jsonl")) == []
    (tmp_path / "blank.jsonl").write_text('{"text": "a"}\n\n{"text": "b"}\n\n')
    assert texts_of(read_batches(tmp_path / "blank.jsonl")) == ["a", "b"]


def test_null_and_empty_texts_pass_through(tmp_path):
    write_jsonl(tmp_path / "n.jsonl", [{"text": None}, {"text": ""}, {"text": "z"}])
    assert texts_of(read_batches(tmp_path / "n.jsonl")) == [None, "", "z"]


def test_missing_paths_and_types(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(read_batches(tmp_path / "nope.parquet"))
    with pytest.raises(FileNotFoundError, match="matches no corpus file"):
        list(read_batches(str(tmp_path / "*.parquet")))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unknown file type"):
        list(read_batches(tmp_path / "x.csv"))
    with pytest.raises(TypeError, match="cannot read a corpus"):
        list(read_batches(42))
    with pytest.raises(ValueError, match="batch_size"):
        list(read_batches(["a"], batch_size=0))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"junk\.parquet: not a readable Parquet file"):
        list(read_batches(tmp_path / "junk.parquet"))


def test_buffers_are_zero_copy_views():
    arr = pa.array(["ab", "cde", None], pa.large_string()).slice(1)
    offsets, data, valid = buffers(arr)
    assert offsets.tolist() == [2, 5, 5]
    assert np.shares_memory(data, np.frombuffer(arr.buffers()[2], dtype=np.uint8))
    assert valid.tolist() == [True, False]


def test_atomic_parquet_with_metadata(tmp_path):
    out = tmp_path / "o" / "x.parquet"
    write_parquet(pa.table({"a": [1, 2]}), out, "test", {"k": 3})
    assert pq.read_table(out).column("a").to_pylist() == [1, 2]
    meta = read_run_metadata(out)
    assert meta["command"] == "test"
    assert meta["params"] == {"k": 3}
    # An error inside the sink leaves neither the file nor a temp file behind.
    out2 = tmp_path / "o" / "y.parquet"

    def fail_midway():
        with ParquetSink(out2, "test", {}) as sink:
            sink.write(pa.table({"a": [1]}))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.parquet"]


def test_empty_output_keeps_schema(tmp_path):
    out = tmp_path / "e.parquet"
    with ParquetSink(out, "t", {}, schema=pa.schema([("a", pa.int64())])):
        pass
    assert pq.read_table(out).schema.names == ["a"]
    with (
        pytest.raises(InputError, match="nothing to write"),
        ParquetSink(tmp_path / "f.parquet", "t", {}),
    ):
        pass
    assert not (tmp_path / "f.parquet").exists()
