"""Fuzzing the readers and the text core: every failure is a clean InputError, ValueError or
TypeError (no abort, no panic, no other exception type)."""

import gzip
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tamis
from tamis import HashingFeaturizer, read_batches
from tamis.exceptions import InputError

ALLOWED = (InputError, ValueError, TypeError)
SMALL = settings(
    max_examples=min(settings().max_examples, 40),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Objects that may look like documents: a "text" key of any type, and a few other keys.
any_documents = st.fixed_dictionaries(
    {}, optional={"text": json_values | st.text(), "id": json_values, "meta": json_values}
)
#: Documents: a text (or null), and other keys whose types may differ from line to line.
documents = st.fixed_dictionaries(
    {"text": st.none() | st.text()}, optional={"id": json_values, "n": json_values}
)
lines_of_json = st.one_of(
    documents.map(json.dumps),
    documents.map(json.dumps),
    any_documents.map(json.dumps),
    json_values.map(json.dumps),
)


def read_all(source, **kw):
    """Read everything; check the promises a successful read makes."""
    try:
        batches = list(read_batches(source, batch_size=kw.pop("batch_size", 7), **kw))
    except ALLOWED as e:
        event(f"read failed: {type(e).__name__}")
        return None
    event("read ok" if batches else "read ok, no batch")
    for b in batches:
        assert b.schema == batches[0].schema
        assert b.schema.field("text").type in (pa.string(), pa.large_string())
        assert b.num_rows <= 7
        b.column("text").validate(full=True)
    return batches


def write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    if name.endswith(".gz"):
        data = gzip.compress(data)
    elif name.endswith(".zst"):
        zstd = pytest.importorskip("zstandard")
        data = zstd.ZstdCompressor().compress(data)
    p.write_bytes(data)
    return p


suffixes = st.sampled_from([".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"])


@given(data=st.binary(max_size=600), suffix=suffixes, cut=st.integers(0, 50))
def test_random_bytes(data, suffix, cut):
    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "x" + suffix, data)
        if cut:  # truncated compressed files too
            raw = p.read_bytes()
            p.write_bytes(raw[: max(0, len(raw) - cut)])
        read_all(p)


@given(
    lines=st.lists(lines_of_json, max_size=12),
    blank=st.booleans(),
    suffix=st.sampled_from([".jsonl", ".jsonl.gz"]),
)
def test_random_json_lines(lines, blank, suffix):
    text = ("\n\n" if blank else "\n").join(lines)
    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "x" + suffix, text.encode())
        got = read_all(p)
        if got is not None:
            assert sum(b.num_rows for b in got) == sum(1 for line in lines if line.strip())


@SMALL
@given(
    sizes=st.lists(st.integers(0, 3 << 20), min_size=1, max_size=3),
    char=st.sampled_from(["x", "é", "\u4e2d", "\\n", '\\"']),
    suffix=st.sampled_from([".jsonl", ".jsonl.gz"]),
)
def test_huge_lines(sizes, char, suffix):
    docs = [{"text": "a"}, *({"text": char * (n // len(char.encode()))} for n in sizes)]
    raw = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs).encode()
    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "x" + suffix, raw)
        got = read_all(p, batch_size=100)  # a 1 MiB block: most lines straddle it
        assert got is not None
        texts = [t for b in got for t in b.column("text").to_pylist()]
        assert texts == [json.loads(json.dumps(doc))["text"] for doc in docs]


arrow_types = st.sampled_from(
    [
        pa.int64(),
        pa.int32(),
        pa.float64(),
        pa.string(),
        pa.large_string(),
        pa.bool_(),
        pa.null(),
        pa.binary(),
        pa.list_(pa.int64()),
        pa.struct([("a", pa.int64())]),
        pa.struct([("b", pa.string())]),
        pa.dictionary(pa.int32(), pa.string()),
    ]
)
column_names = st.sampled_from(["text", "id", "a", "b", "meta", "é", "x.y", ""]) | st.text(
    max_size=5
)


@st.composite
def tables(draw):
    rows = draw(st.integers(0, 5))
    names = draw(st.lists(column_names, min_size=1, max_size=4, unique=True))
    text_types = st.sampled_from([pa.string(), pa.large_string(), pa.null()])
    if "text" not in names and draw(st.integers(0, 9)) > 0:  # most tables have a text column
        names.insert(draw(st.integers(0, len(names))), "text")
    cols = {}
    for name in names:
        t = draw(text_types if name == "text" and draw(st.booleans()) else arrow_types)
        if t == pa.null():
            cols[name] = pa.nulls(rows)
        elif pa.types.is_dictionary(t):
            cols[name] = pa.array(
                draw(st.lists(st.text(max_size=4), min_size=rows, max_size=rows))
            ).dictionary_encode()
        elif t in (pa.string(), pa.large_string()):
            values = draw(st.lists(st.none() | st.text(max_size=8), min_size=rows, max_size=rows))
            cols[name] = pa.array(values, t)
        elif t == pa.int64() or t == pa.int32():
            values = draw(
                st.lists(st.none() | st.integers(-(2**31), 2**31 - 1), min_size=rows, max_size=rows)
            )
            cols[name] = pa.array(values, t)
        else:
            cols[name] = pa.nulls(rows, t)
    return pa.table(cols)


@given(
    parts=st.lists(tables(), min_size=1, max_size=3),
    columns=st.none() | st.lists(column_names, max_size=2),
    as_json=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_random_schemas(parts, columns, as_json):
    with tempfile.TemporaryDirectory() as d:
        for i, table in enumerate(parts):
            if as_json[i] and all(
                not pa.types.is_dictionary(t) and t != pa.binary() for t in table.schema.types
            ):
                rows = table.to_pylist()
                write(Path(d), f"p{i}.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
            else:
                pq.write_table(table, Path(d) / f"p{i}.parquet")
        got = read_all(Path(d), columns=columns)
        try:
            schema = tamis.io.scan_schema(Path(d), columns=columns)
        except ALLOWED:
            assert got is None
            return
        if got:
            assert got[0].schema == schema


@given(st.text(max_size=200), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_text_core(text, lowercase, nfkc, punct, ws):
    flags = {
        "lowercase": lowercase,
        "nfkc": nfkc,
        "strip_punctuation": punct,
        "fold_whitespace": ws,
    }
    try:
        assert isinstance(tamis.normalize(text, **flags), str)
        assert all(isinstance(t, str) for t in tamis.tokenize(text, **flags))
        counts = HashingFeaturizer(n_buckets=256).transform([text, None, text[::-1]])
        assert counts.shape[0] == 3
    except ALLOWED:
        pass
