"""tamis steps inside a real datatrove pipeline: same kept documents as the tamis CLI."""

import json

import numpy as np
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest
from tests.conftest import SAMPLE

from tamis.cli import main

pytest.importorskip("datatrove")
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from tamis.integrations.datatrove import (
    TamisFilter,
    TamisMinhashBuckets,
    TamisMinhashCluster,
    TamisMinhashFilter,
    TamisMinhashSignature,
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two JSONL shards of the sample with near-duplicates inside and across them."""
    texts = pj.read_json(str(SAMPLE / "corpus.jsonl.gz")).column("text").to_pylist()[:600]
    rng = np.random.default_rng(0)
    docs = list(texts)
    for i in rng.choice(len(texts), 80, replace=False).tolist():  # edited copies
        words = texts[i].split(" ")
        j = int(rng.integers(len(words)))
        docs.append(" ".join([*words[:j], "tamis", *words[j + 1 :]]))
    folder = tmp_path_factory.mktemp("shards")
    half = len(docs) // 2
    for s, part in enumerate([docs[:half], docs[half:]]):
        with open(folder / f"part-{s}.jsonl", "w") as f:
            for i, text in enumerate(part):
                f.write(json.dumps({"id": f"{s * half + i:06d}", "text": text}) + "\n")
    return folder


def _kept_ids(folder) -> list[str]:
    ids = []
    for path in sorted(folder.glob("*.jsonl")):
        ids += [json.loads(line)["id"] for line in path.read_text().splitlines()]
    return ids


@pytest.mark.parametrize("verify", ["estimate", "none"])
def test_minhash_stages_equal_the_cli(shards, tmp_path, verify):
    params = {"threshold": 0.8, "num_perm": 128, "verify": verify, "n_threads": 1}
    sig, edges, remove = tmp_path / "sig", tmp_path / "edges", tmp_path / "remove"
    reader = JsonlReader(str(shards), glob_pattern="*.jsonl")
    run = LocalPipelineExecutor
    run(
        [reader, TamisMinhashSignature(str(sig), **params)],
        tasks=2,
        logging_dir=str(tmp_path / "log1"),
    ).run()
    run(
        [TamisMinhashBuckets(str(sig), str(edges), **params)],
        tasks=3,
        logging_dir=str(tmp_path / "log2"),
    ).run()
    run(
        [TamisMinhashCluster(str(sig), str(edges), str(remove), **params)],
        tasks=1,
        logging_dir=str(tmp_path / "log3"),
    ).run()
    out, dropped = tmp_path / "out", tmp_path / "dropped"
    run(
        [
            JsonlReader(str(shards), glob_pattern="*.jsonl"),
            TamisMinhashFilter(
                str(remove), exclusion_writer=JsonlWriter(str(dropped), compression=None)
            ),
            JsonlWriter(str(out), compression=None),
        ],
        tasks=2,
        logging_dir=str(tmp_path / "log4"),
    ).run()
    got = sorted(_kept_ids(out))

    cli_out = tmp_path / "cli.parquet"
    args = ["dedup", str(shards), "-o", str(cli_out), "--id-column", "id", "--verify", verify]
    assert main([*args, "--n-threads", "1", "-q"]) == 0
    expected = sorted(pq.read_table(cli_out).column("id").to_pylist())
    assert got == expected
    assert 0 < len(_kept_ids(dropped)) == 680 - len(expected)
    stats = json.loads((tmp_path / "log4" / "stats.json").read_text())
    names = [s["name"] for s in stats]
    assert any("tamis MinHash 4" in n for n in names)
    step = next(s for s in stats if "tamis MinHash 4" in s["name"])
    assert step["stats"]["dropped"] == len(_kept_ids(dropped))


def test_exact_verification_is_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match="verify='exact' needs the texts"):
        TamisMinhashSignature(str(tmp_path), verify="exact")


def test_filter_step_counts_reasons_and_writes_exclusions(shards, tmp_path):
    from tamis import tokenize

    def short(texts):
        n = np.array([len(tokenize(t)) for t in texts])
        keep = n >= 200
        return keep, [None if k else "too_few_tokens" for k in keep.tolist()]

    out, dropped = tmp_path / "out", tmp_path / "dropped"
    LocalPipelineExecutor(
        [
            JsonlReader(str(shards), glob_pattern="*.jsonl"),
            TamisFilter(
                short, batch_size=64, exclusion_writer=JsonlWriter(str(dropped), compression=None)
            ),
            JsonlWriter(str(out), compression=None),
        ],
        tasks=1,
        logging_dir=str(tmp_path / "log"),
    ).run()
    kept, gone = _kept_ids(out), _kept_ids(dropped)
    assert len(kept) + len(gone) == 680
    assert gone
    reasons = {
        json.loads(line)["metadata"]["filter_reason"]
        for p in dropped.glob("*.jsonl")
        for line in p.read_text().splitlines()
    }
    assert reasons == {"too_few_tokens"}
    stats = json.loads((tmp_path / "log" / "stats.json").read_text())
    step = next(s for s in stats if s["name"].endswith("tamis filter"))
    assert step["stats"]["dropped_too_few_tokens"] == len(gone)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TamisFilter(short, batch_size=0)


def test_rules_filter_step_equals_tamis_filter(shards, tmp_path):
    from tamis.integrations.datatrove import TamisRulesFilter

    out, dropped = tmp_path / "out", tmp_path / "dropped"
    LocalPipelineExecutor(
        [
            JsonlReader(str(shards), glob_pattern="*.jsonl"),
            TamisRulesFilter(exclusion_writer=JsonlWriter(str(dropped), compression=None)),
            JsonlWriter(str(out), compression=None),
        ],
        tasks=2,
        logging_dir=str(tmp_path / "log"),
    ).run()
    cli_out, rejected = tmp_path / "cli.parquet", tmp_path / "rejected.parquet"
    args = ["filter", str(shards), "-o", str(cli_out), "--id-column", "id"]
    assert main([*args, "--rejected", str(rejected), "-q"]) == 0
    assert sorted(_kept_ids(out)) == sorted(pq.read_table(cli_out).column("id").to_pylist())
    rej = pq.read_table(rejected)
    got = {
        json.loads(line)["id"]: json.loads(line)["metadata"]["filter_reason"]
        for p in dropped.glob("*.jsonl")
        for line in p.read_text().splitlines()
    }
    assert got == dict(zip(rej.column("id").to_pylist(), rej.column("reason").to_pylist()))
    assert got  # the sample has rule failures (code files)
    stats = json.loads((tmp_path / "log" / "stats.json").read_text())
    step = next(s for s in stats if s["name"].endswith("tamis rules"))
    assert step["stats"]["dropped"] == len(got)


def test_decontamination_filter_step_drops_the_injected_items(shards, tmp_path):
    from tamis.decontam import DecontaminationIndex, EvalSet
    from tamis.integrations.datatrove import TamisDecontaminationFilter

    first = json.loads((shards / "part-1.jsonl").read_text().splitlines()[3])
    item = " ".join(first["text"].split()[:40])
    assert len(item.split()) >= 13
    index = DecontaminationIndex.build([EvalSet("bench", [item], ["q1"])], ngram=13)
    path = index.save(tmp_path / "index.npz")
    out = tmp_path / "out"
    LocalPipelineExecutor(
        [
            JsonlReader(str(shards), glob_pattern="*.jsonl"),
            TamisDecontaminationFilter(path),
            JsonlWriter(str(out), compression=None),
        ],
        tasks=1,
        logging_dir=str(tmp_path / "log"),
    ).run()
    kept = set(_kept_ids(out))
    assert first["id"] not in kept
    assert 600 <= len(kept) < 680
