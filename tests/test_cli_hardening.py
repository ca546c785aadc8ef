"""The CLI and the output layer as a careless or hostile user meets them.

Inputs are never touched, outputs are checked before any work, temp files never outlive a run,
errors are one line naming the path/column/parameter, Ctrl-C exits 130.
"""

import gzip
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

import tamis
from tamis.cli import build_parser, main
from tamis.output import OutputError, ParquetSink, check_output, file_mode, open_sink

DOCS = [
    "the cat sat on the mat and looked at the dog " * 3,
    "the cat sat on the mat and looked at the dog " * 3,
    "a completely different document about parsing json lines " * 3,
    "rust and python bindings with arrow buffers and numpy " * 3,
] * 5


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tamis-" in p.name)


@pytest.fixture
def corpus(tmp_path):
    """The same small corpus as Parquet and JSONL, with a domain column."""
    table = pa.table(
        {
            "text": DOCS,
            "domain": [f"d{i % 3}" for i in range(len(DOCS))],
            "score": np.arange(len(DOCS), dtype=np.float64),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    with open(tmp_path / "in.jsonl", "w") as f:
        for row in table.to_pylist():
            f.write(json.dumps(row) + "\n")
    return tmp_path


def commands(inp: Path, out: Path) -> dict[str, list[str]]:
    """Every subcommand that reads ``inp`` and writes ``out``."""
    return {
        "features": ["features", str(inp), "-o", str(out), "-q"],
        "dedup": ["dedup", str(inp), "-o", str(out), "-q"],
        "dsir": ["dsir", "--target", str(inp), "--raw", str(inp), "-k", "3", "-o", str(out), "-q"],
        "stats": ["stats", str(inp), "--json", str(out), "-q"],
    }


# -- data loss ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["features", "dedup", "dsir", "stats"])
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_output_equal_to_input_is_refused(corpus, capsys, name, fmt):
    inp = corpus / f"in.{fmt}"
    before = digest(inp)
    assert main(commands(inp, inp)[name]) == 1
    err = capsys.readouterr().err
    assert "is the input" in err
    assert str(inp) in err
    assert err.count("\n") == 1  # one line
    assert digest(inp) == before
    assert temps(corpus) == []


def test_output_through_symlink_or_hard_link_to_input_is_refused(corpus, capsys):
    inp = corpus / "in.parquet"
    before = digest(inp)
    (corpus / "link.parquet").symlink_to(inp)
    os.link(inp, corpus / "hard.parquet")
    for out in ("link.parquet", "hard.parquet"):
        assert main(["dedup", str(inp), "-o", str(corpus / out), "-q"]) == 1
        assert "is the input" in capsys.readouterr().err
    assert digest(inp) == before
    # the input named through the symlink, the output by its real name
    assert main(["dedup", str(corpus / "link.parquet"), "-o", str(inp), "-q"]) == 1
    assert digest(inp) == before


def test_output_inside_an_input_directory_is_refused(corpus, capsys):
    d = corpus / "shards"
    d.mkdir()
    (corpus / "in.parquet").rename(d / "a.parquet")
    assert main(["dedup", str(d), "-o", str(d / "sub" / "out.parquet"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "inside the input directory" in err
    assert not (d / "sub").exists()


def test_api_sink_refuses_directories_and_devices(tmp_path):
    with pytest.raises(OutputError, match="is a directory"), ParquetSink(tmp_path, "t", {}):
        pass
    with pytest.raises(OutputError, match="a device"), ParquetSink("/dev/null", "t", {}):
        pass
    (tmp_path / "x.parquet").write_bytes(b"x")
    with pytest.raises(OutputError, match="is the input"):
        check_output(tmp_path / "x.parquet", [tmp_path / "x.parquet"])
    assert temps(tmp_path) == []


def test_symlink_output_is_written_through(corpus):
    real = corpus / "real.parquet"
    real.write_bytes(b"old")
    link = corpus / "sel.parquet"
    link.symlink_to(real)
    assert main(["dedup", str(corpus / "in.parquet"), "-o", str(link), "-q"]) == 0
    assert link.is_symlink()
    assert pq.read_table(real).num_rows == pq.read_table(link).num_rows > 0


def test_special_files_are_refused(corpus, capsys):
    fifo = corpus / "fifo"
    os.mkfifo(fifo)
    for out in ("/dev/null", str(fifo)):
        assert main(["dedup", str(corpus / "in.parquet"), "-o", out, "-q"]) == 1
        err = capsys.readouterr().err
        assert "not a regular file" in err
        assert "'-' for stdout" in err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_stdout_output_is_jsonl(corpus, capfd):
    assert main(["dedup", str(corpus / "in.parquet"), "-o", "-", "-q"]) == 0
    lines = capfd.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 3  # four distinct documents, two of which are the same
    assert {r["text"] for r in rows} <= set(DOCS)


def test_directory_and_unwritable_outputs_fail_before_work(corpus, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(tamis.MinHashDeduplicator, "add", lambda *a, **k: calls.append(a))
    inp = str(corpus / "in.parquet")
    assert main(["dedup", inp, "-o", str(corpus), "-q"]) == 1
    assert "is a directory" in capsys.readouterr().err
    (corpus / "file").write_text("x")
    assert main(["dedup", inp, "-o", str(corpus / "file" / "out.parquet"), "-q"]) == 1
    assert "is not a directory" in capsys.readouterr().err
    if sys.platform.startswith("linux"):
        assert main(["dedup", inp, "-o", "/proc/tamis-test.parquet", "-q"]) == 1
        assert "cannot create files in /proc" in capsys.readouterr().err
    ro = corpus / "ro.parquet"
    ro.write_text("x")
    ro.chmod(0o444)
    if os.geteuid() != 0:  # root may write anything
        assert main(["dedup", inp, "-o", str(ro), "-q"]) == 1
        assert "read-only" in capsys.readouterr().err
    assert calls == []  # no work was done
    assert temps(corpus) == []


def test_unknown_output_extension_is_refused(corpus, capsys):
    assert main(["dedup", str(corpus / "in.parquet"), "-o", str(corpus / "o.csv"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "unknown output extension" in err
    assert ".jsonl.zst" in err


def test_two_outputs_naming_one_file_are_refused(corpus, capsys):
    out = str(corpus / "o.parquet")
    assert main(["dedup", str(corpus / "in.parquet"), "-o", out, "--json", out, "-q"]) == 1
    assert "name the same file" in capsys.readouterr().err


def test_stale_temp_files_are_removed_fresh_ones_kept(corpus):
    old = corpus / ".o.parquet.tamis-abc.tmp"
    fresh = corpus / ".o.parquet.tamis-def.tmp"
    other = corpus / ".o.parquet.someone-else"
    for p in (old, fresh, other):
        p.write_text("x")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    assert main(["dedup", str(corpus / "in.parquet"), "-o", str(corpus / "o.parquet"), "-q"]) == 0
    assert not old.exists()
    assert fresh.exists()
    assert other.exists()


def test_outputs_get_the_umask_mode(corpus):
    old = os.umask(0o022)
    try:
        out, js, model = corpus / "o.parquet", corpus / "s.json", corpus / "m.npz"
        inp = str(corpus / "in.parquet")
        argv = ["dsir", "--target", inp, "--raw", inp, "-k", "2", "-o", str(out), "-q"]
        assert (
            main([*argv, "--json", str(js), "--save-model", str(model), "--min-length", "1"]) == 0
        )
        for p in (out, js, model):
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o644, p
        os.umask(0o077)
        assert file_mode() == 0o600
    finally:
        os.umask(old)


def test_kill_9_leaves_the_old_output_intact(tmp_path):
    out = tmp_path / "o.parquet"
    out.write_bytes(b"previous result")
    code = (
        "import os, signal, pyarrow as pa\n"
        "from tamis.output import ParquetSink\n"
        f"with ParquetSink({str(out)!r}, 't', {{}}) as s:\n"
        "    s.write(pa.table({'a': [1, 2, 3]}))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"previous result"
    assert len(temps(tmp_path)) == 1  # left by kill -9; removed after a day by the next run


def test_ctrl_c_is_one_line_and_cleans_up(corpus, capsys, monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tamis.HashingFeaturizer, "transform", interrupt)
    out = corpus / "o.parquet"
    assert main(["features", str(corpus / "in.parquet"), "-o", str(out), "-q"]) == 130
    assert capsys.readouterr().err == "tamis features: interrupted\n"
    assert not out.exists()
    assert temps(corpus) == []


def test_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys):
    # Building the parser imports the command's modules (~0.3 s): Ctrl-C there once escaped
    # main() as a traceback with status -2.
    import tamis.cli

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tamis.cli, "build_parser", interrupt)
    assert main(["dsir", "--raw", "x.jsonl"]) == 130
    assert capsys.readouterr().err == "tamis dsir: interrupted\n"
    assert main(["nonsense"]) == 130
    assert capsys.readouterr().err == "tamis: interrupted\n"


def test_ctrl_c_in_a_subprocess_exits_130(corpus):
    big = corpus / "big.jsonl"
    with open(big, "w") as f:
        for i in range(60_000):
            f.write(json.dumps({"text": f"document {i} " + "word " * 50}) + "\n")
    out = corpus / "o.parquet"
    code = (
        "import sys; from tamis.cli import main; print('ready', flush=True); "
        f"sys.exit(main(['dedup', {str(big)!r}, '-o', {str(out)!r}, '-q']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "ready\n"  # imports done: the interrupt lands in main
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if "interrupted" not in err and proc.returncode in (0, -signal.SIGINT):
        return  # finished before the signal (or got it while exiting): nothing to check
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().endswith("interrupted")
    assert temps(corpus) == []


# -- columns and parameters -----------------------------------------------------------------------


def test_dsir_by_missing_column_fails_before_writing(corpus, capsys):
    out = corpus / "o.parquet"
    inp = str(corpus / "in.parquet")
    argv = ["dsir", "--target", inp, "--raw", inp, "-k", "2", "-o", str(out), "--by", "nosuch"]
    assert main([*argv, "-q"]) == 1
    err = capsys.readouterr().err
    assert "nosuch" in err
    assert "domain" in err  # the real columns are listed
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--id-column", "text"], "name the same column 'text'"),
        (["--text-column", "id"], "name the same column 'id'"),
        (["--text-column", "nosuch"], "nosuch"),
        (["--id-column", "nosuch"], "nosuch"),
    ],
)
def test_column_flags_give_one_line_errors(corpus, capsys, flags, expected):
    out = corpus / "o.parquet"
    assert main(["dedup", str(corpus / "in.parquet"), "-o", str(out), "-q", *flags]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_threads_are_bounded(corpus, capsys):
    inp, out = str(corpus / "in.parquet"), str(corpus / "o.parquet")
    assert main(["dedup", inp, "-o", out, "-q", "--n-threads", "0"]) == 1
    assert "--n-threads must be >= 1" in capsys.readouterr().err
    assert (
        main(["dedup", inp, "-o", out, "-q", "--n-threads", str(10 * (os.cpu_count() or 1))]) == 0
    )
    err = capsys.readouterr().err
    assert "tamis dedup: warning: n_threads=" in err
    assert "exceeds" in err
    assert err.count("warning") == 1


def test_replacement_reports_distinct_documents(corpus, capsys):
    inp = str(corpus / "in.parquet")
    js = corpus / "s.json"
    argv = ["dsir", "--target", inp, "--raw", inp, "-k", "40", "--method", "replacement"]
    argv += ["--min-length", "1"]
    assert main([*argv, "-o", str(corpus / "o.parquet"), "--json", str(js), "-q"]) == 0
    summary = json.loads(js.read_text())
    assert summary["selected"] == 40
    assert summary["distinct"] <= len(DOCS) < 40
    assert "distinct documents among the 40 selected" in capsys.readouterr().err


# -- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"])
def test_output_format_follows_the_extension(corpus, suffix):
    out = corpus / f"o{suffix}"
    assert main(["dedup", str(corpus / "in.parquet"), "-o", str(out), "-q"]) == 0
    if suffix == ".parquet":
        table = pq.read_table(out)
    else:
        if suffix == ".jsonl.gz":
            with gzip.open(out) as f:
                assert f.readline().startswith(b"{")
        table = tamis.io.read_batches(out)
        table = pa.Table.from_batches(list(table))
    assert table.num_rows == 3
    assert set(table.column("text").to_pylist()) <= set(DOCS)


def test_features_npz_loads_without_pickle_and_with_scipy(corpus):
    sparse = pytest.importorskip("scipy.sparse")
    out = corpus / "f.npz"
    assert main(["features", str(corpus / "in.parquet"), "-o", str(out), "--n-buckets", "64"]) == 0
    z = np.load(out, allow_pickle=False)
    assert z["ids"].dtype.kind == "U"
    m = sparse.load_npz(out)
    assert m.shape == (len(DOCS), 64)
    assert m.sum() == z["n_tokens"].sum() * 2 - len(DOCS)  # unigrams + bigrams per document
    meta = tamis.read_run_metadata(out)
    assert meta["command"] == "features"
    assert meta["params"]["n_buckets"] == 64


def test_empty_input_writes_a_valid_empty_output(tmp_path):
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), empty)
    for cmd in ("dedup", "features"):
        out = tmp_path / f"{cmd}.parquet"
        assert main([cmd, str(empty), "-o", str(out), "-q"]) == 0
        assert pq.read_table(out).num_rows == 0


def test_every_command_has_a_description_and_shows_defaults(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, name
        text = p.format_help()
        for action in p._actions:
            if action.default not in (None, False) and action.option_strings and action.help:
                if action.dest == "help":
                    continue
                assert f"(default: {action.default})" in " ".join(text.split()) or (
                    "default" in action.help
                ), (name, action.dest)


def test_read_json_output_is_valid(tmp_path):
    """JSONL sink: NaN as null, nested values, and an empty output is an empty file."""
    out = tmp_path / "o.jsonl"
    table = pa.table({"a": [1.0, float("nan")], "b": [[1, 2], None], "c": [b"\x00", b"x"]})
    with open_sink(out, "t", {}) as sink:
        sink.write(table)
    rows = pj.read_json(out).to_pylist()
    assert rows[1]["a"] is None
    assert rows[0]["b"] == [1, 2]
    empty = tmp_path / "e.jsonl.gz"
    with open_sink(empty, "t", {}):
        pass
    with gzip.open(empty) as f:
        assert f.read() == b""
