"""The corpus reader on hostile inputs: huge lines, empty shards, drifting schemas, broken files."""

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.test_io import ids_of, texts_of, write_jsonl

import tamis
from tamis import HashingFeaturizer, ImportanceResampler, InputError, read_batches
from tamis.io import Files, as_text_array, is_path_source, scan_schema


def zstd_bytes(raw: bytes) -> bytes:
    zstd = pytest.importorskip("zstandard")
    return zstd.ZstdCompressor().compress(raw)


# -- 1. lines longer than the JSON block --------------------------------------------------------


def test_huge_line_after_yielded_batches_is_read_once(tmp_path):
    # ~6 MB of small documents (more than the default 4 MiB block, so batches are yielded before
    # the reader meets the 24 MB line and restarts with a bigger block), then more documents.
    small = [{"text": f"doc {i} " + "w" * 200} for i in range(30_000)]
    big = {"text": "x" * (24 << 20)}
    rows = [*small, big, {"text": "after"}]
    p = write_jsonl(tmp_path / "big.jsonl", rows)
    batches = list(read_batches(p))
    got = texts_of(batches)
    assert len(got) == len(rows)
    assert got[:3] == [r["text"] for r in rows[:3]]
    assert got[-2] == big["text"]
    assert got[-1] == "after"
    assert ids_of(batches) == [f"big.jsonl:{i}" for i in range(len(rows))]


def test_huge_line_in_gzip(tmp_path):
    rows = [{"text": "first", "n": 0}, {"text": "y" * (12 << 20), "n": 1}, {"text": "last", "n": 2}]
    p = write_jsonl(tmp_path / "big.jsonl.gz", rows, gzip.open)
    got = list(read_batches(p))
    assert texts_of(got) == [r["text"] for r in rows]
    assert ids_of(got) == ["big.jsonl.gz:0", "big.jsonl.gz:1", "big.jsonl.gz:2"]
    assert [n for b in got for n in b.column("n").to_pylist()] == [0, 1, 2]


def test_fields_after_the_first_block(tmp_path):
    # batch_size=1000 makes the JSON block 1 MiB; 1.5 MB of documents come before the change.
    head = [{"text": None, "n": 1} for _ in range(60_000)]
    p = write_jsonl(tmp_path / "late.jsonl", [*head, {"text": "t", "n": 2.5, "meta": "m"}])
    # Texts null in the first block, then strings: read (the text column is parsed as strings).
    got = list(read_batches(p, columns=[], batch_size=1000))
    assert texts_of(got)[-2:] == [None, "t"]
    # A field absent from the first block: pyarrow cannot add it; the error says what to do.
    with pytest.raises(InputError, match=r"late\.jsonl: a field that none of the first 1024 KiB"):
        list(read_batches(p, batch_size=1000))
    # A float after ints, in a column asked for, when another file makes the column a float.
    write_jsonl(tmp_path / "f.jsonl", [{"text": "a", "n": 0.5}])
    got = pa.Table.from_batches(list(read_batches(tmp_path, columns=["n"], batch_size=1000)))
    n = got.column("n").to_pylist()  # f.jsonl sorts first
    assert (n[0], n[-1], len(n)) == (0.5, 2.5, 60_002)


# -- 2. empty shards are zero documents ---------------------------------------------------------


def test_empty_shards_are_zero_documents(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "b.jsonl.zst").write_bytes(zstd_bytes(b""))
    (tmp_path / "c.jsonl").write_text("\n\n  \n")
    (tmp_path / "d.jsonl.gz").write_bytes(b"")
    write_jsonl(tmp_path / "e.jsonl", [{"text": "only"}])
    for name in ("a.jsonl.gz", "b.jsonl.zst", "c.jsonl", "d.jsonl.gz"):
        assert list(read_batches(tmp_path / name)) == [], name
        assert scan_schema(tmp_path / name).names == ["text", "id"]
    got = list(read_batches(tmp_path))
    assert texts_of(got) == ["only"]
    assert ids_of(got) == ["e.jsonl:0"]


# -- 3. schemas that differ between shards ------------------------------------------------------


def test_compatible_schemas_unify(tmp_path):
    pq.write_table(
        pa.table({"text": pa.array(["p0", "p1"], pa.large_string()), "n": [1, 2]}),
        tmp_path / "a.parquet",
    )
    write_jsonl(tmp_path / "b.jsonl", [{"text": "j0", "n": None, "extra": "e"}])
    write_jsonl(tmp_path / "c.jsonl", [{"text": "k0", "n": 2.5}])
    batches = list(read_batches(tmp_path))
    schema = batches[0].schema
    assert all(b.schema == schema for b in batches)
    assert schema.field("text").type == pa.large_string()
    assert schema.field("n").type == pa.float64()
    table = pa.Table.from_batches(batches)
    assert table.column("text").to_pylist() == ["p0", "p1", "j0", "k0"]
    assert table.column("n").to_pylist() == [1.0, 2.0, None, 2.5]
    assert table.column("extra").to_pylist() == [None, None, "e", None]
    assert table.column("id").to_pylist() == [
        "a.parquet:0",
        "a.parquet:1",
        "b.jsonl:0",
        "c.jsonl:0",
    ]
    assert scan_schema(tmp_path) == schema
    with tamis.ParquetSink(tmp_path / "out" / "o.parquet", "test", {}) as sink:
        for b in batches:
            sink.write(b)
    assert pq.read_table(tmp_path / "out" / "o.parquet").num_rows == 4


def test_requested_column_missing_in_some_files_is_null(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "a", "domain": "web"}])
    write_jsonl(tmp_path / "b.jsonl", [{"text": "b"}])
    got = pa.Table.from_batches(list(read_batches(tmp_path, columns=["domain"])))
    assert got.schema.names == ["text", "id", "domain"]
    assert got.column("domain").to_pylist() == ["web", None]


def test_int_and_string_ids_unify_to_strings(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "a", "id": 7}])
    write_jsonl(tmp_path / "b.jsonl", [{"text": "b"}])
    got = pa.Table.from_batches(list(read_batches(tmp_path)))
    assert got.column("id").to_pylist() == ["7", "b.jsonl:0"]


def test_conflicting_types_name_both_files_before_any_batch(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "a", "meta": 1}])
    write_jsonl(tmp_path / "b.jsonl", [{"text": "b", "meta": {"k": "v"}}])
    msg = r"column 'meta' has type int64 in .*a\.jsonl but struct<k: string> in .*b\.jsonl"
    with pytest.raises(InputError, match=msg):
        next(read_batches(tmp_path))
    with pytest.raises(InputError, match=msg):
        scan_schema(tmp_path)
    # Not asked for: no conflict.
    assert texts_of(read_batches(tmp_path, columns=[])) == ["a", "b"]


def test_scan_schema_validates_named_columns(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "a", "key": "k", "lang": "en"}])
    pq.write_table(pa.table({"body": ["x"], "key": ["k2"]}), tmp_path / "b.parquet")
    with pytest.raises(
        InputError, match=r"b\.parquet: no text column 'text' \(columns: body, key\)"
    ):
        scan_schema(tmp_path)
    assert scan_schema(tmp_path / "a.jsonl", "text", "key", ["lang"]) == pa.schema(
        [("text", pa.string()), ("key", pa.string()), ("lang", pa.string())]
    )
    with pytest.raises(
        InputError, match=r"a\.jsonl: no id column 'doc_id' \(columns: text, key, lang\)"
    ):
        scan_schema(tmp_path / "a.jsonl", id_column="doc_id")
    with pytest.raises(
        InputError,
        match=r"no input file has the column 'domain' \(columns of .*a\.jsonl: text, key, lang\)",
    ):
        scan_schema(tmp_path / "a.jsonl", columns=["domain"])
    with pytest.raises(TypeError, match="scan_schema reads files"):
        scan_schema(["some text"])


def test_schema_cache_keeps_the_callers_path(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "a"}])
    monkeypatch.chdir(tmp_path)
    assert ids_of(read_batches(Path("a.jsonl"))) == ["a.jsonl:0"]
    assert ids_of(read_batches([tmp_path / "a.jsonl", Path("a.jsonl")])) == ["a.jsonl:0"]
    assert ids_of(read_batches(tmp_path.resolve() / "a.jsonl")) == ["a.jsonl:0"]


# -- 4. truncated streams and lines that are not objects ----------------------------------------


def _rows(n):
    return "".join(json.dumps({"text": f"document {i} " + "z" * 50}) + "\n" for i in range(n))


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_compressed_file(tmp_path, suffix):
    raw = _rows(20_000).encode()
    packed = gzip.compress(raw) if suffix.endswith("gz") else zstd_bytes(raw)
    p = tmp_path / f"cut{suffix}"
    p.write_bytes(packed[: len(packed) * 2 // 3])
    with pytest.raises(InputError) as err:
        list(read_batches(p))
    msg = str(err.value)
    m = re.search(
        r"cut\.jsonl\.(gz|zst): line (\d+) \(byte (\d+) of the decompressed data\): "
        r"the (gzip|zstd) stream is truncated or corrupt",
        msg,
    )
    assert m, msg
    line, byte = int(m.group(2)), int(m.group(3))
    assert 1 < line <= 20_000
    assert byte == len("".join(raw.decode().splitlines(keepends=True)[: line - 1]))


@pytest.mark.parametrize(("value", "kind"), [("[1, 2]", "an array"), ("42", "a number")])
def test_non_object_line(tmp_path, value, kind):
    p = tmp_path / "odd.jsonl"
    p.write_text('{"text": "a"}\n' + value + "\n")
    with pytest.raises(
        InputError,
        match=rf"odd\.jsonl: line 2 \(byte 14\): expected a JSON object \(one per line\), got {kind}",
    ):
        list(read_batches(p))


def test_non_object_line_in_gzip_names_decompressed_offset(tmp_path):
    p = tmp_path / "odd.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"text": "a"}\n\n"str"\n'))
    with pytest.raises(
        InputError, match=r"line 3 \(byte 15 of the decompressed data\): .* got a string"
    ):
        list(read_batches(p))


@pytest.mark.parametrize(
    "raw",
    [b"null", b"null\n" * 3000, b'{"text": "a"}\n' * 400 + b" null \r\n" * 3000, b"\n\n null"],
)
def test_null_lines_are_an_error_not_a_crash(tmp_path, raw):
    # pyarrow 26 segfaults on a JSON block that starts with a `null` line; the reader stops first.
    p = tmp_path / "n.jsonl"
    p.write_bytes(raw)
    with pytest.raises(InputError, match=r"n\.jsonl: line \d+ \(byte \d+\): .* got null"):
        list(read_batches(p, batch_size=8))  # a 1 MiB block
    # The word null inside documents is fine.
    p.write_text('{"text": "null"}\n{"text": "x null"}\n')
    assert texts_of(read_batches(p)) == ["null", "x null"]


class _Pieces:
    """A raw stream that hands out ``data`` in the given piece sizes (then the rest)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, list(sizes), 0

    def read(self, n: int = -1) -> bytes:
        size = self.sizes.pop(0) if self.sizes else len(self.data)
        piece = self.data[self.pos : self.pos + size]
        self.pos += len(piece)
        return piece

    def close(self) -> None:
        pass


_NULLISH = [
    b"\n",
    b"\n",
    b"null",
    b"\nnull\n",
    b"x" * 40,
    b"n",
    b"u",
    b"l",
    b"nu",
    b"ll",
    b"null",
    b" ",
    b" " * 70,
    b"\t",
    b"\r",
    b"\n",
    b"x",
    b"{}",
]


@settings(max_examples=400, deadline=None)
@example(parts=[b"{}\n", b" " * 100, b"null\n"], sizes=[70])  # blanks past the block's tail
@example(parts=[b"{}\n null", b" " * 100, b"\n"], sizes=[80])  # null, then long blanks
@example(parts=[b"{}\nnull", b" " * 100, b"\n"], sizes=[68])  # the tail starts inside null
@example(parts=[b"{}\n", b" " * 100, b"null\n"], sizes=[13])  # a long straddling line
@example(parts=[b"{}\n", b"null\n", b"x" * 70], sizes=[3])  # a block starts with null
@given(
    parts=st.lists(st.sampled_from(_NULLISH), max_size=120),
    sizes=st.lists(st.integers(1, 200), max_size=30),
)
def test_null_line_guard_equals_brute_force(parts, sizes):
    # Oracle: some line (split on newlines, the last one unfinished) is blanks + null + blanks.
    from tamis.io._json import _NullLineGuard

    data = b"".join(parts)
    expected = any(line.strip(b" \t\r") == b"null" for line in data.split(b"\n"))
    guard = _NullLineGuard(_Pieces(data, sizes))
    try:
        while guard.read_buffer(1 << 20):
            pass
        guard.read_buffer(1 << 20)  # the end of the stream, read again as pyarrow does
    except OSError:
        assert expected
        assert guard.found
    else:
        assert not expected


def test_json_reader_stopped_early_waits_for_its_blocks(tmp_path, monkeypatch):
    # Ctrl-C in `tamis dedup` once aborted the process at exit: pyarrow's read-ahead threads still
    # held blocks of the Python stream and took the GIL during shutdown. Closing the reader now
    # waits until pyarrow let go of every block.
    from tamis.io import _json

    left = []
    real = _json._NullLineGuard.release

    def release(self, timeout=10.0):
        real(self, timeout)
        left.append(len(self._out))

    monkeypatch.setattr(_json._NullLineGuard, "release", release)
    p = tmp_path / "big.jsonl"
    p.write_text(
        "".join(json.dumps({"text": f"doc {i} " + "w " * 300}) + "\n" for i in range(40_000))
    )
    batches = read_batches(p, batch_size=100)
    assert next(batches).num_rows > 0
    batches.close()
    assert len(left) >= 2  # the schema probe and the stopped read both waited
    assert left[-1] == 0


# -- 5. error messages list the file's real columns ---------------------------------------------


def test_parquet_without_text_column_lists_real_columns(tmp_path):
    pq.write_table(pa.table({"body": ["x"], "n": [1]}), tmp_path / "p.parquet")
    for columns in (None, [], ["n"]):
        with pytest.raises(
            InputError, match=r"p\.parquet: no text column 'text' \(columns: body, n\)"
        ):
            list(read_batches(tmp_path / "p.parquet", columns=columns))


# -- 6. files or texts -------------------------------------------------------------------------


def test_files_marker(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": "from a"}])
    b = write_jsonl(tmp_path / "b.jsonl.gz", [{"text": "from b"}], gzip.open)
    fs = tamis.files(str(a), str(b))
    assert isinstance(fs, Files)
    assert list(fs) == [a, b]
    assert fs == tamis.files([a, b])
    assert repr(fs) == f"files({str(a)!r}, {str(b)!r})"
    with pytest.raises(AttributeError):
        fs._paths = ()  # type: ignore[misc]
    assert is_path_source(fs)
    assert texts_of(read_batches(fs)) == ["from a", "from b"]
    assert texts_of(read_batches([a, b])) == ["from a", "from b"]  # a list of Path is files
    assert texts_of(read_batches(["a.jsonl", "text"])) == ["a.jsonl", "text"]  # str: texts
    assert [t for arr in as_text_array(fs) for t in arr.to_pylist()] == ["from a", "from b"]
    assert HashingFeaturizer(n_buckets=64).transform(fs).shape[0] == 2
    with pytest.raises(ValueError, match="at least one path"):
        tamis.files()
    with pytest.raises(TypeError, match="expected paths"):
        tamis.files(3)


def test_list_of_file_names_is_an_error(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "t.jsonl.gz", [{"text": "x"}], gzip.open)
    monkeypatch.chdir(tmp_path)
    msg = r"every element names a corpus file \('t\.jsonl\.gz'\).*tamis\.files\('t\.jsonl\.gz'\)"
    with pytest.raises(InputError, match=msg):
        list(read_batches(["t.jsonl.gz"]))
    with pytest.raises(InputError, match=msg):
        list(as_text_array(["t.jsonl.gz"]))
    with pytest.raises(InputError, match=msg):
        ImportanceResampler(n_buckets=64).fit(["t.jsonl.gz"], ["raw text"])
    with pytest.raises(TypeError, match=r"pass tamis\.files"):
        list(as_text_array(Path("t.jsonl.gz")))
    # One name among texts, or a name of a missing file, is a text.
    assert texts_of(read_batches(["t.jsonl.gz", "hello"])) == ["t.jsonl.gz", "hello"]
    assert texts_of(read_batches(["missing.jsonl"])) == ["missing.jsonl"]
