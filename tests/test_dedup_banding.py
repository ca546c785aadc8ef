"""Banding for recall (exact verification) vs datasketch's banding; a small controlled-pairs check."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tamis
from tamis.cli import main
from tamis.dedup import (
    candidate_probability,
    lsh_params,
    lsh_params_recall,
    make_hasher,
    resolve_banding,
)
from tamis.io import buffers


def _brute_force(t, n, recall):
    ok = [
        (b, r)
        for r in range(1, n + 1)
        for b in range(1, n // r + 1)
        if 1 - (1 - t**r) ** b >= recall
    ]
    if not ok:  # nothing reaches the target: the highest probability
        return max(
            ((b, r) for r in range(1, n + 1) for b in range(1, n // r + 1)),
            key=lambda br: (1 - (1 - t ** br[1]) ** br[0], -br[1]),
        )
    r = max(r for _, r in ok)
    return min(b for b, rr in ok if rr == r), r


@pytest.mark.parametrize("t", [0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("n", [1, 2, 16, 64, 128, 256])
@pytest.mark.parametrize("recall", [0.9, 0.99, 0.999])
def test_recall_banding_is_the_steepest_curve_reaching_the_target(t, n, recall):
    b, r = lsh_params_recall(t, n, recall)
    assert (b, r) == _brute_force(t, n, recall)
    assert b * r <= n


def test_recall_banding_at_the_default_threshold():
    assert lsh_params_recall(0.8, 128) == (16, 6)
    assert candidate_probability(0.8, 16, 6) >= 0.99
    assert candidate_probability(0.85, 16, 6) > 0.999
    assert round(candidate_probability(0.85, *lsh_params(0.8, 128)), 2) == 0.69
    with pytest.raises(ValueError, match="recall"):
        lsh_params_recall(0.8, 128, recall=1.0)
    with pytest.raises(ValueError, match="banding"):
        resolve_banding(0.8, 128, banding="fast")


def test_banding_follows_verification():
    assert (tamis.MinHashDeduplicator().num_bands_, tamis.MinHashDeduplicator().rows_) == (16, 6)
    for kw in ({"verify": "estimate"}, {"verify": "none"}, {"banding": "datasketch"}):
        d = tamis.MinHashDeduplicator(**kw)
        assert (d.num_bands_, d.rows_) == lsh_params(0.8, 128), kw
    d = tamis.MinHashDeduplicator(verify="estimate", banding="recall", num_perm=64)
    assert (d.num_bands_, d.rows_) == lsh_params_recall(0.8, 64)
    d = tamis.MinHashDeduplicator(num_bands=20, rows=6)  # explicit bands win
    assert (d.num_bands_, d.rows_) == (20, 6)
    with pytest.raises(ValueError, match="banding"):
        tamis.MinHashDeduplicator(banding="optimal")


def test_files_saved_before_banding_load_with_datasketch_banding(tmp_path):
    d = tamis.MinHashDeduplicator(low_memory=True).add(["a b c d e f g"] * 3)
    path = d.save(tmp_path / "new.npz")
    assert tamis.MinHashDeduplicator.load(path).num_bands_ == 16
    z = dict(np.load(path, allow_pickle=False))
    header = json.loads(str(z["header"]))
    del header["params"]["banding"]
    z["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "old.npz", **z)
    assert tamis.MinHashDeduplicator.load(tmp_path / "old.npz").num_bands_ == 9


def _pairs(n_pairs=300, seed=0):
    """Originals of random words and edited copies (replace/delete/insert words)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(5000)]
    originals, edited = [], []
    for _ in range(n_pairs):
        words = list(rng.choice(vocab, int(rng.integers(150, 400))))
        originals.append(" ".join(words))
        for _ in range(int(rng.integers(0, len(words) // 20))):
            op, pos = rng.integers(3), int(rng.integers(len(words)))
            if op == 0:
                words[pos] = str(rng.choice(vocab))
            elif op == 1:
                del words[pos]
            else:
                words.insert(pos, str(rng.choice(vocab)))
        edited.append(" ".join(words))
    texts = originals + edited
    indptr, hashes = make_hasher().shingle_sets(*buffers(pa.array(texts, pa.large_string())), None)
    sets = [hashes[indptr[i] : indptr[i + 1]] for i in range(len(texts))]
    jac = np.array(
        [
            len(np.intersect1d(sets[i], sets[n_pairs + i]))
            / len(np.union1d(sets[i], sets[n_pairs + i]))
            for i in range(n_pairs)
        ]
    )
    return texts, jac


def test_recall_just_above_the_threshold_on_controlled_pairs():
    texts, jac = _pairs()
    n = len(jac)
    high = jac >= 0.85
    assert high.sum() > 100
    assert ((jac >= 0.8) & (jac < 0.9)).sum() > 50
    recall = {}
    for banding in ("recall", "datasketch"):
        cid = tamis.MinHashDeduplicator(banding=banding).fit(texts).cluster_id_
        caught = cid[:n] == cid[n:]
        recall[banding] = caught[high].mean()
        # no false merge: pairs never join each other, a caught pair has J >= 0.8
        assert len(np.unique(cid)) >= n
        assert not (caught & (jac < 0.8)).any()
    assert recall["recall"] >= 0.99
    assert recall["recall"] >= recall["datasketch"]


def test_cli_banding_flag(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": _pairs(40)[0]}), src)
    got = {}
    for flags in ([], ["--banding", "datasketch"], ["--num-bands", "20", "--rows", "6"]):
        out, js = tmp_path / "o.parquet", tmp_path / "s.json"
        assert main(["dedup", str(src), "-o", str(out), "-q", "--json", str(js), *flags]) == 0
        s = json.loads(js.read_text())
        got[" ".join(flags)] = (s["num_bands"], s["rows"])
    assert got == {"": (16, 6), "--banding datasketch": (9, 13), "--num-bands 20 --rows 6": (20, 6)}
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["dedup", str(src), "-o", str(out), "-q", "--banding", "x"])
