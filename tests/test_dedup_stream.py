"""The streaming passes of ``tamis dedup`` (small batches, prefetch, row groups) and lazy imports."""

import json
import subprocess
import sys
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tamis.cli import main
from tamis.cli._stream import BATCH_BYTES, RowGroups, batch_rows, prefetch


def test_prefetch_yields_in_order_and_raises_where_the_producer_failed():
    assert list(prefetch(range(100))) == list(range(100))

    def bad():
        yield 1
        yield 2
        raise ValueError("row 3 is broken")

    got = []

    def consume():
        got.extend(prefetch(bad()))

    with pytest.raises(ValueError, match="row 3"):
        consume()
    assert got == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_stops():
    before = threading.active_count()
    gen = prefetch(iter(range(10**9)))
    assert next(gen) == 0
    gen.close()
    assert threading.active_count() == before


def test_prefetch_closes_its_source_in_its_thread_when_stopped():
    closed = []

    def source():
        try:
            yield from range(10**9)
        finally:  # a reader's cleanup (pyarrow's read-ahead) must not run at interpreter shutdown
            closed.append(threading.current_thread().name)

    gen = prefetch(source())
    assert next(gen) == 0
    gen.close()
    assert closed == ["tamis-prefetch"]


@pytest.fixture
def interrupt_thread_start(monkeypatch):
    """Calling it makes ``Thread.start`` raise KeyboardInterrupt once the thread runs (Ctrl-C
    landing while start waits); ``monkeypatch.undo()`` restores it."""

    def patch():
        start = threading.Thread.start

        def interrupted_start(self):
            start(self)
            raise KeyboardInterrupt

        monkeypatch.setattr(threading.Thread, "start", interrupted_start)

    return patch


def test_prefetch_interrupted_while_its_thread_starts_stops_it(monkeypatch, interrupt_thread_start):
    # Ctrl-C landed in Thread.start (waiting for the thread to run), before the generator's
    # try: the producer ran on into the shutdown and the process aborted.
    before = threading.active_count()
    interrupt_thread_start()
    with pytest.raises(KeyboardInterrupt):
        next(prefetch(iter(range(10**9))))
    monkeypatch.undo()
    assert threading.active_count() == before


class _Sink:
    def __init__(self):
        self.tables = []

    def write(self, table):
        self.tables.append(table)


def test_row_groups_collect_small_tables():
    sink = _Sink()
    groups = RowGroups(sink, max_rows=10)
    for i in range(7):
        groups.write(pa.table({"x": [i, i]}))
    groups.flush()
    assert [t.num_rows for t in sink.tables] == [10, 4]
    assert pa.concat_tables(sink.tables).column("x").to_pylist() == [
        i for i in range(7) for _ in (0, 1)
    ]
    by_bytes = _Sink()
    groups = RowGroups(by_bytes, max_rows=10**6, max_bytes=1)
    groups.write(pa.table({"x": [1]}))
    assert len(by_bytes.tables) == 1


def test_batch_rows_follows_the_text_bytes_of_the_footers(tmp_path):
    path = tmp_path / "c.parquet"
    rng = np.random.default_rng(0)
    texts = [rng.bytes(5_000).hex() for _ in range(1000)]  # 10,000 distinct bytes each
    pq.write_table(pa.table({"text": texts}), path, row_group_size=300)
    rows = batch_rows([path], "text", 8192)
    assert abs(rows - BATCH_BYTES // 10_000) <= 25
    assert batch_rows([path], "text", 50) == 50
    assert batch_rows([tmp_path / "c.jsonl"], "text", 777) == 777  # no footer to read


def _corpus(tmp_path, n=600):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, 60)) for _ in range(n)]
    for i in range(0, n, 7):  # near-duplicates: one word changed
        texts[i + 1 if i + 1 < n else i] = texts[i].replace(texts[i].split()[3], "zz", 1)
    path = tmp_path / "in.parquet"
    pq.write_table(
        pa.table({"text": texts, "id": [f"d{i}" for i in range(n)], "n": list(range(n))}),
        path,
        row_group_size=128,
    )
    return path


@pytest.mark.parametrize("flags", [[], ["--all-rows"], ["--keep", "longest"]])
def test_batch_size_does_not_change_the_output(tmp_path, flags):
    src = _corpus(tmp_path)
    outs = []
    for bs in ("3", "100000"):
        out = tmp_path / f"out{bs}.parquet"
        assert main(["dedup", str(src), "-o", str(out), "-q", "--batch-size", bs, *flags]) == 0
        outs.append(pq.read_table(out))
    assert outs[0].equals(outs[1])
    assert outs[0].num_rows < 600 or "--all-rows" in flags
    # small batches are gathered into row groups of --batch-size rows
    assert pq.ParquetFile(tmp_path / "out3.parquet").metadata.row_group(0).num_rows >= 3


def test_import_tamis_is_lazy():
    code = (
        "import sys, json, tamis; print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"torch", "ray", "pandas", "datasets", "scipy", "sklearn", "pyarrow"}
    code = "import tamis; print(tamis.MinHashDeduplicator.__name__, tamis.cluster.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["MinHashDeduplicator", "tamis.cluster"]
    import tamis

    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(tamis, "no_such_name")  # noqa: B009


def test_every_cli_module_is_a_registered_command():
    from pathlib import Path

    import tamis.cli
    from tamis.cli import COMMAND_MODULES, build_parser

    here = Path(tamis.cli.__file__).parent
    modules = sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(COMMAND_MODULES) == modules
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == modules
    only = next(a for a in build_parser("dedup")._actions if a.dest == "command")
    assert list(only.choices) == ["dedup"]


def test_dedup_output_has_no_text_dictionary_and_reading_threads_do_not_matter(tmp_path):
    from tamis.io import read_batches

    src = _corpus(tmp_path)
    a = pa.Table.from_batches(read_batches(src, batch_size=50, use_threads=False))
    b = pa.Table.from_batches(read_batches(src, batch_size=50))
    assert a.equals(b)
    out = tmp_path / "out.parquet"
    assert main(["dedup", str(src), "-o", str(out), "-q"]) == 0
    meta = pq.ParquetFile(out).metadata.row_group(0)
    enc = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(3)}
    assert "RLE_DICTIONARY" not in enc["text"]  # plain text pages, no 1 MB dictionary attempt
    assert "RLE_DICTIONARY" in enc["id"]


def test_dedup_process_takes_jemalloc_unless_the_user_chose(tmp_path):
    # Arrow reads ARROW_DEFAULT_MEMORY_POOL when it loads: the CLI sets it before, for dedup only
    code = (
        "import sys; from tamis.cli._stream import choose_arrow_pool; "
        "choose_arrow_pool(sys.argv[1:]); import os, pyarrow as pa; "
        "print(pa.default_memory_pool().backend_name, os.environ.get('JE_ARROW_MALLOC_CONF'))"
    )
    chosen = ("ARROW_DEFAULT_MEMORY_POOL", "JE_ARROW_MALLOC_CONF")
    env = {k: v for k, v in __import__("os").environ.items() if k not in chosen}

    def pool(cmd, *flags, **extra):
        run = [sys.executable, "-c", code, cmd, *flags]
        out = subprocess.run(run, capture_output=True, text=True, check=True, env={**env, **extra})
        return out.stdout.split()

    if sys.platform.startswith("linux"):
        assert pool("dedup") == ["jemalloc", "narenas:1,dirty_decay_ms:-1,muzzy_decay_ms:-1"]
    assert pool("dsir") != ["jemalloc", "narenas:1,dirty_decay_ms:-1,muzzy_decay_ms:-1"]
    assert pool("dedup", "in.parquet", "--backend", "ray")[0] != "jemalloc"  # Ray's workers
    assert pool("dedup", "--backend=ray")[0] != "jemalloc"
    assert pool("dedup", ARROW_DEFAULT_MEMORY_POOL="system")[0] == "system"


def test_write_behind_writes_in_order_and_raises_the_writers_error():
    from tamis._prefetch import write_behind

    out = []
    with write_behind(out.append) as put:
        for i in range(100):
            put(i)
    assert out == list(range(100))

    def failing(x):
        if x == 3:
            raise OSError("disk full")
        out.append(x)

    def write_all(write, items, error=None):
        with write_behind(write) as put:
            for i in items:
                put(i)
            if error is not None:
                raise error

    out.clear()
    with pytest.raises(OSError, match="disk full"):
        write_all(failing, range(10))
    assert out == [0, 1, 2]
    # the block's own error wins; items still queued are dropped, the thread is joined
    before = threading.active_count()
    with pytest.raises(KeyError):
        write_all(out.append, [1], KeyError("stop"))
    assert threading.active_count() == before


@pytest.mark.parametrize("flags", [[], ["--all-rows"], ["--verify", "estimate"]])
def test_dedup_output_is_the_same_file_at_any_thread_count(tmp_path, flags):
    src = _corpus(tmp_path)
    outs = []
    for nt in ("1", "2", "3"):
        out = tmp_path / f"out{nt}.parquet"
        cmd = ["dedup", str(src), "-o", str(out), "-q", "--n-threads", nt, "--batch-size", "40"]
        assert main([*cmd, *flags]) == 0
        outs.append(pq.ParquetFile(out))
    first = outs[0]
    groups = [first.metadata.row_group(i).num_rows for i in range(first.metadata.num_row_groups)]
    for other in outs[1:]:
        assert other.read().equals(first.read())
        meta = other.metadata
        assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == groups


def test_write_behind_interrupted_while_its_thread_starts_stops_it(
    monkeypatch, interrupt_thread_start
):
    from tamis._prefetch import write_behind

    before = threading.active_count()

    def enter():
        with write_behind(print):
            pass

    interrupt_thread_start()
    with pytest.raises(KeyboardInterrupt):
        enter()
    monkeypatch.undo()
    assert threading.active_count() == before
