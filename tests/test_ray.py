"""The Ray backend gives exactly the local results, for any number of blocks (local Ray, 2 CPUs)."""

from __future__ import annotations

import gzip
import json
import random
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import tamis  # noqa: E402
from tamis import ray as tray  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("local_ray"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def docs(sample_texts) -> list[str]:
    """Real documents plus edited copies (near duplicates) and exact copies."""
    rng = random.Random(0)
    base = [" ".join(t.split()[:150]) for t in sample_texts if len(t.split()) >= 40][:120]
    out = list(base)
    for _ in range(60):
        words = base[rng.randrange(len(base))].split()
        for _ in range(int(len(words) * rng.choice([0.0, 0.02, 0.1, 0.3]))):
            words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
        out.append(" ".join(words))
    rng.shuffle(out)
    return [*out, "", out[3]]


@pytest.mark.parametrize("method", ["gumbel", "topk"])
def test_dsir_equals_local(tmp_path, sample_texts, method):
    raw = pa.table({"text": sample_texts[:400], "id": [f"d{i}" for i in range(400)]})
    target = sample_texts[1000:1100]
    params = {"n_buckets": 2048, "min_length": 10, "seed": 3}
    local = tamis.ImportanceResampler(**params).fit(target, raw)
    want = local.resample(raw, 25, method=method)
    for blocks in (1, 7) if method == "gumbel" else (3,):  # and one per file: test_files_*
        r = tray.dsir_fit(tamis.ImportanceResampler(**params), target, raw, num_blocks=blocks)
        np.testing.assert_array_equal(r.raw_counts_, local.raw_counts_)
        np.testing.assert_array_equal(r.target_counts_, local.target_counts_)
        got = tray.dsir_resample(r, raw, 25, method=method, num_blocks=blocks)
        if blocks == 1:  # another seed than the estimator's, as the local one takes it
            other = tray.dsir_resample(r, raw, 25, method=method, seed=5, num_blocks=blocks)
            assert other.equals(local.resample(raw, 25, method=method, seed=5))
        assert got.column("id").to_pylist() == want.column("id").to_pylist()
        assert got.equals(want)


def test_dsir_separate_targets_and_row_ids(sample_texts):
    raw = sample_texts[:300]
    targets = [sample_texts[1000:1050], sample_texts[2000:2050]]
    params = {"n_buckets": 1024, "min_length": 5, "separate_targets": True}
    want = tamis.ImportanceResampler(**params).fit(targets, raw).resample(raw, 20)
    r = tray.dsir_fit(tamis.ImportanceResampler(**params), targets, raw, num_blocks=3)
    got = tray.dsir_resample(r, raw, 20, num_blocks=5)
    assert got.equals(want)
    with pytest.raises(ValueError, match="replacement"):
        tray.dsir_resample(r, raw, 5, method="replacement")


@pytest.mark.parametrize(("verify", "keep"), [("estimate", "first"), ("exact", "longest")])
def test_dedup_equals_local(docs, verify, keep):
    local = tamis.MinHashDeduplicator(threshold=0.7, verify=verify, keep=keep).fit(docs)
    assert local.keep_mask_.sum() < len(docs) - 20  # there is something to find
    d = tamis.MinHashDeduplicator(threshold=0.7, verify=verify, keep=keep)
    # (one block per file: test_files_equal_local)
    res = tray.dedup(d, docs, num_blocks=7 if verify == "estimate" else 3)
    np.testing.assert_array_equal(res.cluster_id, local.cluster_id_)
    np.testing.assert_array_equal(res.keep_mask, local.keep_mask_)
    np.testing.assert_array_equal(res.duplicate_of, local.duplicate_of_)
    # Verification on the workers (a join, then map_groups), and for "estimate" the distributed
    # connected components instead of the driver's union-find.
    components = "ray" if verify == "estimate" else "driver"
    res = tray.dedup(d, docs, num_blocks=2, verify_on="workers", components=components)
    np.testing.assert_array_equal(res.cluster_id, local.cluster_id_)
    np.testing.assert_array_equal(res.keep_mask, local.keep_mask_)
    np.testing.assert_array_equal(res.duplicate_of, local.duplicate_of_)
    kept = tray.collect(res.kept())
    assert kept.column("text").to_pylist() == [t for t, k in zip(docs, local.keep_mask_) if k]
    sel = res.selection()
    np.testing.assert_array_equal(sel.indices, np.flatnonzero(local.keep_mask_))


def test_dedup_ids_and_scores(docs, tmp_path):
    n = len(docs)
    ids = [f"x{(i * 7919) % n:05d}" for i in range(n)]
    q = np.random.default_rng(0).random(n)
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": docs, "doc": ids, "q": q}), path)
    d = tamis.MinHashDeduplicator(threshold=0.8, verify="none")
    want = tamis.MinHashDeduplicator(threshold=0.8, verify="none").fit(docs, ids=np.array(ids))
    got = tray.dedup(d, str(path), id_column="doc", num_blocks=4)
    np.testing.assert_array_equal(got.keep_mask, want.keep_mask_)
    d = tamis.MinHashDeduplicator(threshold=0.8, keep="score", exact=False)
    want = tamis.MinHashDeduplicator(threshold=0.8, keep="score", exact=False).fit(docs, scores=q)
    got = tray.dedup(d, str(path), score_column="q", num_blocks=2)
    np.testing.assert_array_equal(got.keep_mask, want.keep_mask_)
    with pytest.raises(ValueError, match="score_column"):
        tray.dedup(d, docs)


def test_cli_backend_ray(tmp_path, corpus, sample_texts, monkeypatch):
    """``tamis dedup|dsir --backend ray`` on relative globs, folders and compressed JSON lines."""
    from tamis.cli import main

    here = tmp_path / "cwd"  # a copy: these paths are read as relative ones only here
    shutil.copytree(corpus["root"] / "json", here / "json")
    shutil.copytree(corpus["root"] / "pq", here / "pq")
    for name in ("docs.jsonl.gz", "docs.jsonl.zst"):
        shutil.copy(corpus["root"] / name, here / name)
    monkeypatch.chdir(here)  # relative paths: made absolute on the driver
    inputs = ["json/*.jsonl", "docs.jsonl.zst"]
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.parquet"
        args = ["dedup", *inputs, "-o", str(out), "-q", "--backend", backend, "--all-rows"]
        args += ["--ray-partitions", "2", "--ray-components", "ray"]
        assert main(args) == 0
    a, b = (pq.read_table(tmp_path / f"{x}.parquet") for x in ("local", "ray"))
    assert a.num_rows == 2 * 182
    assert a.column("id")[0].as_py() == "docs.jsonl.zst:0"
    assert b.equals(a)
    pq.write_table(pa.table({"text": sample_texts[1000:1050]}), tmp_path / "t.parquet")
    for backend in ("local", "ray"):
        args = ["dsir", "--target", str(tmp_path / "t.parquet"), "--raw", "pq", "docs.jsonl.gz"]
        args += ["-k", "10", "--min-length", "5", "-q", "--backend", backend]
        assert main([*args, "-o", str(tmp_path / f"s-{backend}.parquet")]) == 0
    a, b = (pq.read_table(tmp_path / f"s-{x}.parquet") for x in ("local", "ray"))
    assert a.num_rows == 10
    assert b.equals(a)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, docs) -> dict:
    """``docs`` written in every input format the local reader takes, and a source naming each."""
    root = tmp_path_factory.mktemp("corpus")
    table = pa.table({"text": docs, "q": np.arange(len(docs), dtype=np.float64)})
    # Shards whose schemas differ (the reader unifies them): "q" in some, "meta" in others.
    other = table.slice(120).drop_columns(["q"]).append_column("meta", pa.array(["m"] * 62))
    parts = [table.slice(0, 70), table.slice(70, 50), other]
    for i, (sub, part) in enumerate(zip(["a", "a", "b"], parts)):
        (root / "pq" / sub).mkdir(parents=True, exist_ok=True)
        pq.write_table(part, root / "pq" / sub / f"{i}.parquet", row_group_size=40)
    pq.write_table(table, root / "one.parquet")
    lines = [json.dumps(r) + "\n" for r in table.to_pylist()]
    (root / "json").mkdir()
    (root / "json" / "0.jsonl").write_text("".join(lines[:100]))
    meta = [json.dumps({"text": t, "meta": "m"}) + "\n" for t in docs[100:]]
    (root / "json" / "1.jsonl").write_text("".join(meta))
    (root / "json" / "2.jsonl").write_text("")  # an empty shard
    (root / "docs.jsonl.gz").write_bytes(gzip.compress("".join(lines).encode()))
    zstd = pytest.importorskip("zstandard")
    (root / "docs.jsonl.zst").write_bytes(zstd.ZstdCompressor().compress("".join(lines).encode()))
    sources = {
        "parquet": str(root / "one.parquet"),
        "directory": str(root / "pq"),  # nested folders: ids "a/0.parquet:3"
        "glob": str(root / "pq" / "*" / "*.parquet"),
        "jsonl": [root / "json" / "0.jsonl", root / "json" / "1.jsonl", root / "json" / "2.jsonl"],
        "jsonl.gz": str(root / "docs.jsonl.gz"),
        "jsonl.zst": str(root / "docs.jsonl.zst"),
    }
    return {"root": root, "sources": sources}


def _local_table(source) -> pa.Table:
    """What the local backend reads: ``tamis.io.read_batches``."""
    return pa.Table.from_batches(list(tamis.io.read_batches(source)))


@pytest.mark.parametrize("fmt", ["parquet", "directory", "glob", "jsonl", "jsonl.gz", "jsonl.zst"])
def test_files_equal_local(corpus, sample_texts, fmt):
    """DSIR and dedup on files read by Ray tasks give the local results, ids included."""
    src = corpus["sources"][fmt]
    want_rows = _local_table(src)
    assert want_rows.num_rows == 182
    if fmt == "directory":  # ids relative to the common folder, as the local reader's
        assert want_rows.column("id")[0].as_py() == "a/0.parquet:0"
    if fmt in ("directory", "glob", "jsonl"):  # shards of different schemas, unified
        assert "meta" in want_rows.column_names

    target = sample_texts[1000:1060]
    params = {"n_buckets": 1024, "min_length": 5, "seed": 1}
    local = tamis.ImportanceResampler(**params).fit(target, src)
    want = local.resample(src, 15)
    r = tray.dsir_fit(tamis.ImportanceResampler(**params), target, src)
    np.testing.assert_array_equal(r.raw_counts_, local.raw_counts_)
    got = tray.dsir_resample(r, src, 15)
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    assert got.equals(want)

    texts = want_rows.column("text")
    d = tamis.MinHashDeduplicator(threshold=0.7)
    want_d = tamis.MinHashDeduplicator(threshold=0.7).fit(texts)
    res = tray.dedup(d, src)
    np.testing.assert_array_equal(res.cluster_id, want_d.cluster_id_)
    np.testing.assert_array_equal(res.keep_mask, want_d.keep_mask_)
    kept = tray.collect(res.kept())  # every column and id of the kept rows
    assert 0 < len(kept) < len(want_rows)
    assert kept.equals(want_rows.filter(pa.array(want_d.keep_mask_)))


def test_files_errors(corpus, tmp_path):
    with pytest.raises(FileNotFoundError):
        tray.dedup(tamis.MinHashDeduplicator(), str(tmp_path / "nothing" / "*.parquet"))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok"}\n{"text": "\xff\xfe"}\n')
    with pytest.raises(Exception, match="UTF-8"):
        tray.row_numbered(str(bad))
    with pytest.raises(Exception, match="no id column"):
        tray.row_numbered(corpus["sources"]["jsonl.gz"], id_column="doc")


def test_score_files_equal_local(corpus, docs):
    """Scoring actors on files of every format: the local reader's rows and the local scores."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tamis.scoring import LMScorer
    from test_scoring import TEXTS, tiny_llama, train_tokenizer

    root = corpus["root"]
    small = root / "small"
    small.mkdir()
    table = pa.table({"text": [t[:300] for t in docs[:12]] + TEXTS})
    pq.write_table(table.slice(0, 8), small / "a.parquet")
    lines = [json.dumps(r) + "\n" for r in table.to_pylist()]
    (small / "b.jsonl").write_text("".join(lines[8:12]))
    (small / "c.jsonl.gz").write_bytes(gzip.compress("".join(lines[12:16]).encode()))
    zstd = pytest.importorskip("zstandard")
    (small / "d.jsonl.zst").write_bytes(
        zstd.ZstdCompressor().compress("".join(lines[16:]).encode())
    )
    tok = train_tokenizer(TEXTS * 4, vocab_size=300)
    model = tiny_llama(len(tok))
    rows = _local_table(str(small))
    want = LMScorer(model, tok, device="cpu").score(rows.column("text"))
    ds = tray.score(
        str(small), model=model, tokenizer=tok, device="cpu", num_cpus=0.5, batch_size=3
    )
    got = tray.collect(ds)
    assert got.column("id").to_pylist() == rows.column("id").to_pylist()
    assert got.column("text").to_pylist() == rows.column("text").to_pylist()
    for name in ("sum_nll", "mean_nll", "n_tokens"):
        np.testing.assert_allclose(
            got.column(name).to_numpy(), want.column(name).to_numpy(), rtol=1e-5
        )


@pytest.mark.parametrize("num_shards", [1, 3])
def test_connected_components_equal_union_find(num_shards):
    rng = np.random.default_rng(num_shards)
    n = 300
    # Chains (long diameters), a star, random edges and isolated nodes.
    chain = np.stack([np.arange(0, 60), np.arange(1, 61)], axis=1)[rng.permutation(60)]
    star = np.stack([np.full(30, 150), np.arange(100, 130)], axis=1)
    rand = rng.integers(160, 290, size=(80, 2))
    edges = np.concatenate([chain, star, rand, [[5, 5]]])
    want = tamis._core.union_roots(n, np.ascontiguousarray(edges, dtype=np.uint32))
    got = tray.connected_components([edges[:100], edges[100:]], n, num_shards=num_shards)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tray.connected_components(np.empty((0, 2)), 4), np.arange(4))


def test_ray_uses_public_api():
    """``tamis.ray`` calls only public names of the other tamis modules (the engine functions).

    Checked on the source of every module of the package: no ``from tamis.x import _name``, no
    ``import tamis.x._y``, and no ``obj._name`` attribute access unless ``_name`` is defined in
    the package itself (so no private method of an estimator either). Modules with a private
    name may be imported from only when listed: ``tamis._base`` and ``tamis._validation`` hold
    the shared argument checks (``check_is_fitted``, ``check_seed``) every estimator uses. Ray's
    backend does not import ``tamis._core``: every native call goes through an engine function.
    """
    import ast
    from pathlib import Path

    allowed_modules = {"tamis._base", "tamis._validation"}
    pkg = Path(tray.__file__).parent
    trees = {p.name: ast.parse(p.read_text(), str(p)) for p in sorted(pkg.glob("*.py"))}
    assert {"__init__.py", "dsir.py", "dedup.py"} <= set(trees)
    own = set()  # private names the package defines (functions, classes, globals, attributes)
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
    bad = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            where = f"{name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tamis"):
                mod = node.module or ""
                if mod.startswith("tamis.ray"):
                    continue
                private_part = any(p.startswith("_") for p in mod.split("."))
                if private_part and mod not in allowed_modules:
                    bad.append(f"{where}: from {mod} import ...")
                bad += [f"{where}: {mod}.{a.name}" for a in node.names if a.name.startswith("_")]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    parts = a.name.split(".")
                    if parts[0] == "tamis" and any(p.startswith("_") for p in parts):
                        bad.append(f"{where}: import {a.name}")
            elif isinstance(node, ast.Attribute):
                attr = node.attr
                private = attr.startswith("_") and not attr.startswith("__")
                if private and attr not in own:
                    bad.append(f"{where}: .{attr}")
    assert bad == []


def test_quality_score_equals_local(sample_texts):
    from tamis.quality import HashedClassifier, score_table

    raw = pa.table({"text": sample_texts[:300], "id": [f"d{i}" for i in range(300)]})
    clf = HashedClassifier(n_buckets=2048, l2=1e-3).fit(
        sample_texts[:300], [int("def " in t) for t in sample_texts[:300]]
    )
    for min_score in (None, 0.5):
        want = score_table(clf, raw, min_score=min_score)
        got, n = tray.quality_score(raw, clf, min_score=min_score, num_blocks=4)
        assert n == 300
        assert got.select(want.column_names).equals(want)


def test_balance_matching_equals_local(tmp_path, sample_texts):
    from tamis.balance import EntryMatcher, balance_matches

    texts = sample_texts[:300]
    paths = []
    for i in range(3):  # three files: one Ray task each
        p = tmp_path / f"part{i}.parquet"
        pq.write_table(pa.table({"text": texts[i * 100 : (i + 1) * 100]}), p)
        paths.append(p)
    entries = ["the", "import", "def", "which", "return value"]
    local = EntryMatcher(entries).fit(paths)
    for blocks in (None, 4):
        m, ids = tray.match_entries(EntryMatcher(entries), paths, num_blocks=blocks)
        np.testing.assert_array_equal(m.indptr, local.matches_.indptr)
        np.testing.assert_array_equal(m.indices, local.matches_.indices)
        np.testing.assert_array_equal(m.data, local.matches_.data)
        assert ids.to_pylist() == local.ids_.to_pylist()
        got = balance_matches(m, m.doc_counts(), ids, t=20, seed=1, entries=entries)
        assert got.indices.tolist() == local.balance(20, seed=1).indices.tolist()
