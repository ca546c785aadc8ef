"""``tamis filter --backend ray``: the local results (kept ids, reasons, statistics, drop table)
for every input format the local reader takes (one local Ray for the session: conftest.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from tamis.cli import main  # noqa: E402
from tamis.quality import QualityRules  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("local_ray"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

N = 120


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_texts) -> dict[str, list[str]]:
    """The same documents as Parquet, a folder, a glob, .jsonl, .jsonl.gz and .jsonl.zst."""
    tmp = tmp_path_factory.mktemp("filter_ray")
    texts = sample_texts[:N]
    rows = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    pq.write_table(pa.Table.from_pylist(rows), tmp / "all.parquet")
    folder = tmp / "folder"
    folder.mkdir()
    no_ids = [{"text": r["text"]} for r in rows[N // 2 :]]
    (folder / "b.jsonl").write_bytes(_jsonl(no_ids))  # no id column: ids "file:row"
    pq.write_table(pa.Table.from_pylist(rows[: N // 2]), folder / "a.parquet")
    (tmp / "all.jsonl").write_bytes(_jsonl(rows))
    (tmp / "all.jsonl.gz").write_bytes(gzip.compress(_jsonl(rows)))
    with pa.CompressedOutputStream(str(tmp / "all.jsonl.zst"), "zstd") as f:
        f.write(_jsonl(rows))
    for i in range(3):
        (tmp / f"part-{i}.jsonl").write_bytes(_jsonl(rows[i * N // 3 : (i + 1) * N // 3]))
    return {
        "parquet": [str(tmp / "all.parquet")],
        "directory": [str(folder)],
        "glob": [str(tmp / "part-*.jsonl")],
        "jsonl": [str(tmp / "all.jsonl")],
        "jsonl.gz": [str(tmp / "all.jsonl.gz")],
        "jsonl.zst": [str(tmp / "all.jsonl.zst")],
    }


def _run(inputs: list[str], out: Path, backend: str, *extra: str) -> tuple[pa.Table, dict]:
    js = out.with_suffix(".json")
    args = ["filter", *inputs, "-o", str(out), "--json", str(js), "--backend", backend]
    assert main([*args, *extra, "-q"]) == 0
    return pq.read_table(out), json.loads(js.read_text())


def test_ray_equals_local_on_every_format(inputs, tmp_path, monkeypatch):
    """One command over all six formats at once (Ray starts in minutes on a loaded machine):
    every row's id, keep, reason and statistics, the rejected rows and the drop table equal the
    local backend's. The eval set of ``--exclude-eval`` is a relative path (workers get it
    made absolute)."""
    texts = pq.read_table(inputs["parquet"][0]).column("text")
    keep = QualityRules(["c4"]).decide(texts).keep
    text = texts[int(keep.argmax())].as_py()  # a document the rules keep: the eval set drops it
    (tmp_path / "ev.jsonl").write_text(json.dumps({"text": " ".join(text.split()[:60])}) + "\n")
    monkeypatch.chdir(tmp_path)
    every = [p for paths in inputs.values() for p in paths]
    extra = ["--all-rows", "--stats", "--rules", "gopher-repetition,c4"]
    extra += ["--exclude-eval", "quiz=ev.jsonl"]
    out: dict[str, tuple[pa.Table, dict, pa.Table]] = {}
    for backend in ("local", "ray"):
        rej = tmp_path / f"rej-{backend}.parquet"
        table, report = _run(
            every, tmp_path / f"{backend}.parquet", backend, *extra, "--rejected", str(rej)
        )
        out[backend] = (table, report, pq.read_table(rej))
    (local, rep_local, rej_local), (remote, rep_ray, rej_ray) = out["local"], out["ray"]
    assert local.num_rows == 6 * N
    assert remote.column_names == local.column_names
    assert remote.equals(local)  # ids, keep, reason and every statistic, in input order
    assert rej_ray.equals(rej_local)
    assert rep_ray == rep_local
    assert 0 < rep_local["kept"] < 6 * N
    reasons = set(local.column("reason").to_pylist())
    assert {"contaminated", None} <= reasons
    ids = local.column("id").to_pylist()
    assert "d0" in ids  # the files' own ids
    assert any("b.jsonl:" in i for i in ids), ids[::60]  # generated ones
