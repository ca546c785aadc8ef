"""Integrations: Selection.take in the caller's container, Hugging Face datasets functions."""

import numpy as np
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest
from tests.conftest import SAMPLE

from tamis import ImportanceResampler
from tamis._base import Selection
from tamis.cli import main

datasets = pytest.importorskip("datasets")
pl = pytest.importorskip("polars")


@pytest.fixture(scope="module")
def corpus() -> pa.Table:
    """The shipped sample with an explicit id column (the CLI then keys its draws on the same ids)."""
    table = pj.read_json(str(SAMPLE / "corpus.jsonl.gz")).slice(0, 1200)
    ids = pa.array([f"doc-{i:05d}" for i in range(table.num_rows)])
    return table.select(["text", "domain"]).append_column("id", ids)


@pytest.fixture(scope="module")
def target() -> pa.Table:
    return pj.read_json(str(SAMPLE / "target.jsonl.gz")).select(["text"])


def test_take_keeps_the_container_type():
    sel = Selection(indices=np.array([2, 0]), columns={"score": np.array([0.5, 0.1])}, n_rows=3)
    table = pa.table({"text": ["a", "b", "c"], "x": [1, 2, 3]})
    expected = {"text": ["c", "a"], "x": [3, 1], "score": [0.5, 0.1]}
    assert sel.take(table).to_pydict() == expected
    assert sel.take(table.to_batches()[0]).to_pydict() == expected
    assert sel.take(table.to_pandas()).to_dict("list") == expected
    out = sel.take(pl.from_arrow(table))
    assert isinstance(out, pl.DataFrame)
    assert out.to_dict(as_series=False) == expected
    ds = sel.take(datasets.Dataset(table))
    assert isinstance(ds, datasets.Dataset)
    assert ds.to_dict() == expected
    assert ds.features["x"] == datasets.Value("int64")
    assert sel.take(["a", "b", "c"]) == ["c", "a"]
    assert sel.take(table, explain=False).column_names == ["text", "x"]
    with pytest.raises(ValueError, match="already has a column named 'score'"):
        sel.take(table.append_column("score", pa.array([1.0, 2.0, 3.0])))
    with pytest.raises(ValueError, match="made over 3 rows; data has 2"):
        sel.take(table.slice(0, 2))
    with pytest.raises(TypeError, match=r"cannot take rows of a builtins\.dict"):
        Selection(indices=np.array([0]), n_rows=0).take({"a": 1})


def test_polars_in_and_out(corpus, target):
    df = pl.from_arrow(corpus)
    r = ImportanceResampler(id_column="id", n_threads=1).fit(target, df)
    out = r.select(df, 50, seed=3).take(df)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["text", "domain", "id", "log_weight", "key", "target"]
    expected = r.select(corpus, 50, seed=3)
    assert out["id"].to_list() == list(expected.ids)


def test_datasets_dsir_equals_the_cli(corpus, target, tmp_path):
    from tamis.integrations import datasets as td

    raw, tgt = tmp_path / "raw.parquet", tmp_path / "target.parquet"
    pq.write_table(corpus, raw)
    pq.write_table(target, tgt)
    out = tmp_path / "cli.parquet"
    args = ["dsir", "--target", str(tgt), "--raw", str(raw), "-k", "100", "-o", str(out)]
    assert main([*args, "--id-column", "id", "--seed", "7", "-q"]) == 0
    cli = pq.read_table(out)

    ds = datasets.Dataset(corpus)
    ds = ds.cast_column(
        "domain", datasets.ClassLabel(names=sorted(set(corpus["domain"].to_pylist())))
    )
    got = td.dsir(ds, datasets.Dataset(target), k=100, seed=7, id_column="id")
    assert isinstance(got, datasets.Dataset)
    assert got.features["domain"] == ds.features["domain"]  # features kept
    assert got.column_names == ["text", "domain", "id", "log_weight", "key", "target"]
    assert got["id"] == cli.column("id").to_pylist()
    np.testing.assert_allclose(got["log_weight"], cli.column("log_weight").to_numpy())
    # An indices mapping (a shuffled / selected dataset) is read through, not ignored.
    shuffled = ds.select(list(reversed(range(len(ds)))))
    again = td.dsir(shuffled, datasets.Dataset(target), k=100, seed=7, id_column="id")
    assert sorted(again["id"]) == sorted(got["id"])


def test_datasets_dedup_equals_the_cli(corpus, tmp_path):
    from tamis.integrations import datasets as td

    dup = corpus.slice(0, 40)
    table = pa.concat_tables(
        [corpus, dup.set_column(2, "id", pa.array([f"z{i}" for i in range(40)]))]
    )
    inp, out = tmp_path / "in.parquet", tmp_path / "cli.parquet"
    pq.write_table(table, inp)
    assert main(["dedup", str(inp), "-o", str(out), "--id-column", "id", "-q"]) == 0
    cli = pq.read_table(out)
    got = td.dedup(datasets.Dataset(table), threshold=0.8)
    assert got["id"] == cli.column("id").to_pylist()
    assert len(got) <= table.num_rows - 40  # the appended copies are gone
    assert "cluster_id" in got.column_names
    with pytest.raises(ValueError, match="text_column='body' is not a column"):
        td.dedup(datasets.Dataset(table), text_column="body")
    with pytest.raises(TypeError, match=r"expected a datasets\.Dataset"):
        td.dedup(table)


def test_datasets_score_adds_the_scorer_columns(sample_texts):
    pytest.importorskip("torch")
    from tests.test_scoring import tiny_llama, train_tokenizer

    from tamis.integrations import datasets as td
    from tamis.scoring import LMScorer

    tok = train_tokenizer(sample_texts[:100])
    model = tiny_llama(len(tok))
    ds = datasets.Dataset.from_dict({"text": sample_texts[:24], "n": list(range(24))})
    got = td.score(ds, model, tokenizer=tok, device="cpu")
    expected = LMScorer(model, tok, device="cpu").score(sample_texts[:24], ["mean_nll", "n_tokens"])
    assert got.column_names == ["text", "n", "mean_nll", "n_tokens"]
    np.testing.assert_allclose(got["mean_nll"], expected.column("mean_nll").to_numpy(), rtol=1e-6)
    top = td.score(ds, model, tokenizer=tok, device="cpu", k=5)
    best = np.sort(np.argsort(expected.column("mean_nll").to_numpy(), kind="stable")[:5])
    assert top["n"] == best.tolist()
