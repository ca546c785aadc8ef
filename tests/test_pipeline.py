"""Recipes: validation with lines, the run folder, results equal to the commands, invalidation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

from tamis import ImportanceResampler, MinHashDeduplicator
from tamis.pipeline import Pipeline, RecipeError, Step, load, parse, steps

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """900 sample documents (with 60 duplicated) in 3 JSON Lines files without an id column."""
    d = tmp_path_factory.mktemp("corpus")
    t = pj.read_json(SAMPLE / "corpus.jsonl.gz").slice(0, 900)
    t = pa.concat_tables([t, t.slice(0, 60)]).drop_columns(["id"])
    for i in range(3):
        part = t.slice(i * 320, 320)
        with open(d / f"part{i}.jsonl", "w") as f:
            for row in part.to_pylist():
                f.write(json.dumps(row) + "\n")
    return d


def recipe(tmp: Path, corpus: Path, **dsir: object) -> Path:
    r = tmp / "recipe.yaml"
    r.write_text(
        f"""inputs: {corpus}
output: {tmp / "out.parquet"}
run_dir: {tmp / "run"}
shard_rows: 150
by: domain
steps:
  - step: stats
  - step: dedup
    threshold: 0.8
  - step: dsir
    target: {SAMPLE / "target.jsonl.gz"}
    k: {dsir.get("k", 200)}
"""
    )
    return r


def tamis(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tamis", *map(str, args)], capture_output=True, text=True
    )


def test_recipe_equals_the_commands(tmp_path: Path, corpus: Path) -> None:
    """dedup then dsir through the pipeline (9 shards) = the commands over the whole files."""
    res = Pipeline.from_file(recipe(tmp_path, corpus)).run()
    assert [s["name"] for s in res.steps] == ["read", "stats", "dedup", "dsir", "write"]
    # Oracle: the same two commands, one after the other, over all the files at once.
    p = tamis("dedup", corpus, "-o", tmp_path / "d.parquet", "-q")
    assert p.returncode == 0, p.stderr
    p = tamis(
        "dsir",
        "--target",
        SAMPLE / "target.jsonl.gz",
        "--raw",
        tmp_path / "d.parquet",
        "-k",
        200,
        "-o",
        tmp_path / "s.parquet",
        "-q",
    )
    assert p.returncode == 0, p.stderr
    want, got = pq.read_table(tmp_path / "s.parquet"), pq.read_table(tmp_path / "out.parquet")
    assert got.column_names == want.column_names
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    assert got.column("log_weight").equals(want.column("log_weight"))
    dedup = {s["name"]: s for s in res.steps}["dedup"]
    assert dedup["docs_in"] == 960
    assert dedup["docs_out"] == pq.read_table(tmp_path / "d.parquet").num_rows
    assert dedup["removed"] >= 60
    # The run folder: resolved config, versions, per-step stats and markers.
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["versions"]["tamis"]
    assert run["steps"][2]["params"]["num_perm"] == 128
    assert (tmp_path / "run" / "02-dedup" / "stats.json").exists()
    assert len(list((tmp_path / "run" / "02-dedup" / "done").glob("sign-*.json"))) == 9


def test_dedup_step_oracle(tmp_path: Path, corpus: Path) -> None:
    """The sharded dedup keeps what MinHashDeduplicator.fit keeps over all rows at once."""
    p = Pipeline(
        str(corpus),
        [Step("dedup", threshold=0.7, verify="estimate")],
        run_dir=str(tmp_path / "run"),
        shard_rows=100,
    )
    res = p.run()
    texts = pa.concat_tables(pj.read_json(corpus / f"part{i}.jsonl") for i in range(3))
    keep = MinHashDeduplicator(threshold=0.7, verify="estimate").fit_predict(texts.column("text"))
    out = pa.concat_tables(pq.read_table(tmp_path / "run" / f) for f in res.steps[-1]["outputs"])
    assert out.column("text").to_pylist() == texts.filter(pa.array(keep)).column("text").to_pylist()


def test_dsir_step_oracle(tmp_path: Path, corpus: Path) -> None:
    """The sharded DSIR selects what ImportanceResampler.resample selects over all rows."""
    p = Pipeline(
        corpus,
        [Step("dsir", target=str(SAMPLE / "target.jsonl.gz"), k=100, seed=3, method="topk")],
        run_dir=str(tmp_path / "run"),
        shard_rows=64,
    )
    res = p.run()
    out = pq.read_table(tmp_path / "run" / res.steps[-1]["outputs"][0])
    r = ImportanceResampler(seed=3, n_buckets=65536)
    r.fit(SAMPLE / "target.jsonl.gz", corpus)
    want = r.resample(corpus, 100, method="topk")
    assert out.column("id").to_pylist() == want.column("id").to_pylist()
    np.testing.assert_array_equal(out.column("key").to_numpy(), want.column("key").to_numpy())


def test_changed_step_invalidates_it_and_later_only(tmp_path: Path, corpus: Path) -> None:
    r = recipe(tmp_path, corpus)
    first = Pipeline.from_file(r).run()
    assert all(first.computed[s] for s in ("read", "dedup", "dsir"))
    again = Pipeline.from_file(r).run()
    assert not any(again.computed.values())  # everything was finished
    r.write_text(r.read_text().replace("k: 200", "k: 150"))
    changed = Pipeline.from_file(r).run()
    assert not changed.computed["read"]
    assert not changed.computed["dedup"]
    assert changed.computed["dsir"]
    assert changed.computed["write"]
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 150


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "inputs: {c}\nsteps:\n  - step: dedup\n    treshold: 0.8\n",
            r"recipe.yaml:4: steps\[0\] \(dedup\): unknown parameter 'treshold' \(did you mean 'threshold'\?\)",
        ),
        (
            "inputs: {c}\nsteps:\n  - step: dedup\n    num_perm: many\n",
            r":4: .*num_perm must be an integer, got str 'many'",
        ),
        (
            "inputs: {c}\nsteps:\n  - step: dedup\n    verify: maybe\n",
            r":4: .*verify must be one of",
        ),
        ("inputs: {c}/nothing.jsonl\nsteps:\n  - step: dedup\n", r":1: .*no such file"),
        ("inputs: {c}\nsteps:\n  - step: dsir\n    k: 3\n", r":3: .*'target' is required"),
        (
            "inputs: {c}\nsteps:\n  - step: dsir\n    k: 3\n    target: /no/such.jsonl\n",
            r":5: .*no such",
        ),
        ("inputs: {c}\nsteps:\n  - step: dedupe\n", r":3: steps\[0\]: unknown step 'dedupe'"),
        ("inputs: {c}\nshard_row: 5\nsteps: []\n", r":2: unknown key 'shard_row'"),
        ("inputs: {c}\nsteps:\n  - step: dedup\n    text_column: t\n", r":4: .*set for the whole"),
        ("inputs: {c}\nsteps:\n  - step: dedup\n  - step: dedup\n", r":4: .*two steps named"),
        ("inputs: [\n", r"recipe.yaml:2: not valid YAML"),
    ],
)
def test_recipe_errors_name_the_line(tmp_path: Path, corpus: Path, text: str, match: str) -> None:
    f = tmp_path / "recipe.yaml"
    f.write_text(text.format(c=corpus))
    with pytest.raises(RecipeError, match=match):
        load(f)


def test_toml_recipe_and_errors(tmp_path: Path, corpus: Path) -> None:
    good = f'inputs = "{corpus}"\nshard_rows = 100\n\n[[steps]]\nstep = "dedup"\nthreshold = 0.9\n'
    r = parse(good, "r.toml", fmt="toml")
    assert r.steps[0].params == {"threshold": 0.9}
    assert r.shard_rows == 100
    bad = good + '\n[[steps]]\nstep = "dsir"\ntarget = "x"\nk = "ten"\n'
    with pytest.raises(RecipeError, match=r"r.toml:11: steps\[1\] \(dsir\): k must be an integer"):
        parse(bad, "r.toml", fmt="toml")


def test_cli_dry_run_and_errors(tmp_path: Path, corpus: Path) -> None:
    r = recipe(tmp_path, corpus)
    p = tamis("run", r, "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "~960 rows" in p.stdout
    assert "02-dedup" in p.stdout
    assert "threshold=0.8" in p.stdout
    assert not (tmp_path / "run").exists()  # nothing ran
    p = tamis("run", r, "--dry-run", "--json")
    plan = json.loads(p.stdout)
    assert plan["estimated_rows"] == 960
    assert plan["estimated_shards"] == 9
    r.write_text(r.read_text().replace("threshold: 0.8", "threshold: high"))
    p = tamis("run", r)
    assert p.returncode == 1
    assert p.stderr.strip().endswith("steps[1] (dedup): threshold must be a number, got str 'high'")
    assert "recipe.yaml:9:" in p.stderr


def test_steps_registered() -> None:
    registered = set(steps())
    assert {"stats", "dedup", "dsir", "score", "features", "coreset", "quality"} <= registered
    assert {"balance", "cluster", "semdedup", "select"} <= registered


def test_command_steps_equal_the_commands(tmp_path: Path, corpus: Path) -> None:
    """quality (map, per shard) and balance (whole) give what their commands give."""
    model = tmp_path / "model.npz"
    p = tamis(
        "quality",
        "train",
        "--positive",
        SAMPLE / "target.jsonl.gz",
        "--negative",
        corpus,
        "-o",
        model,
        "-q",
    )
    assert p.returncode == 0, p.stderr
    res = Pipeline(
        str(corpus),
        [Step("quality", model=str(model), min_score=0.001), Step("balance", by="domain", cap=40)],
        run_dir=str(tmp_path / "run"),
        output=str(tmp_path / "out.parquet"),
        shard_rows=100,
    ).run()
    p = tamis(
        "quality",
        "score",
        corpus,
        "--model",
        model,
        "--min-score",
        0.001,
        "-o",
        tmp_path / "q.parquet",
        "-q",
    )
    assert p.returncode == 0, p.stderr
    p = tamis(
        "balance",
        tmp_path / "q.parquet",
        "--by",
        "domain",
        "--cap",
        40,
        "-o",
        tmp_path / "b.parquet",
        "-q",
    )
    assert p.returncode == 0, p.stderr
    want, got = pq.read_table(tmp_path / "b.parquet"), pq.read_table(tmp_path / "out.parquet")
    assert sorted(got.column("id").to_pylist()) == sorted(want.column("id").to_pylist())
    quality = {s["name"]: s for s in res.steps}["quality"]
    assert quality["docs_in"] == 960
    assert quality["drop_reasons"]["quality: dropped"] == 960 - quality["docs_out"]


def test_example_recipes_agree() -> None:
    """examples/recipe.yaml and examples/recipe.toml are the same recipe."""
    y, t = load(ROOT / "examples" / "recipe.yaml"), load(ROOT / "examples" / "recipe.toml")
    assert [(s.step, s.params) for s in y.steps] == [(s.step, s.params) for s in t.steps]
    assert (y.inputs, y.shard_rows, y.by) == (t.inputs, t.shard_rows, t.by)


def _embedded(path: Path, table: pa.Table) -> Path:
    """``table`` plus an ``embedding`` column (L2-normalised hashed n-gram counts, 32 buckets)."""
    from tamis import HashingFeaturizer

    x = HashingFeaturizer(n_buckets=32).transform_dense(table.column("text")).astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 32).cast(pa.list_(pa.float32()))
    pq.write_table(table.append_column("embedding", emb), path)
    return path


def test_embedding_steps_equal_the_commands(tmp_path: Path) -> None:
    """cluster (assignments aside), semdedup and select (whole) give what their commands give."""
    raw = pj.read_json(SAMPLE / "corpus.jsonl.gz")
    pool = _embedded(tmp_path / "pool.parquet", raw.take(list(range(0, 3500, 10))))
    target = _embedded(tmp_path / "target.parquet", pj.read_json(SAMPLE / "target.jsonl.gz"))
    res = Pipeline(
        str(pool),
        [
            Step("cluster", k=4, seed=1),
            Step("semdedup", eps=0.05, k=4, seed=1),
            Step("select", target=[str(target)], method="knn", k=20),
        ],
        run_dir=str(tmp_path / "run"),
        output=str(tmp_path / "out.parquet"),
        shard_rows=100,
    ).run()
    steps_ = {s["name"]: s for s in res.steps}
    assert steps_["cluster"]["docs_out"] == 350  # assignments aside, rows pass through
    side = list((tmp_path / "run" / "01-cluster" / "side").glob("*.parquet"))
    assert pq.read_table(side[0]).num_rows == 350
    for args in (
        ("semdedup", pool, "--eps", 0.05, "-k", 4, "--seed", 1, "-o", tmp_path / "s.parquet"),
        (
            "select",
            tmp_path / "s.parquet",
            "--target",
            target,
            "--method",
            "knn",
            "-k",
            20,
            "-o",
            tmp_path / "k.parquet",
            "-q",
        ),
    ):
        p = tamis(*args)
        assert p.returncode == 0, p.stderr
    want, got = pq.read_table(tmp_path / "k.parquet"), pq.read_table(tmp_path / "out.parquet")
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    assert steps_["semdedup"]["docs_out"] == pq.read_metadata(tmp_path / "s.parquet").num_rows


def test_filter_and_decontaminate_steps_equal_the_commands(tmp_path: Path, corpus: Path) -> None:
    """filter and decontaminate (map: per shard) keep what their commands keep."""
    ev = f"docs={SAMPLE / 'target.jsonl.gz'}"
    Pipeline(
        str(corpus),
        [
            Step("filter", rules="gopher-repetition"),
            Step("decontaminate", eval=[ev], action="drop", ngram=8),
        ],
        run_dir=str(tmp_path / "run"),
        output=str(tmp_path / "out.parquet"),
        shard_rows=150,
    ).run()
    p = tamis("filter", corpus, "--rules", "gopher-repetition", "-o", tmp_path / "f.parquet", "-q")
    assert p.returncode == 0, p.stderr
    p = tamis(
        "decontaminate",
        tmp_path / "f.parquet",
        "--eval",
        ev,
        "--action",
        "drop",
        "--ngram",
        8,
        "-o",
        tmp_path / "d.parquet",
        "-q",
    )
    assert p.returncode == 0, p.stderr
    want, got = pq.read_table(tmp_path / "d.parquet"), pq.read_table(tmp_path / "out.parquet")
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    assert 0 < got.num_rows < 960
