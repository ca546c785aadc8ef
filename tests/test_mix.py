"""tamis.mix: plans, schedules, the mixture sampler, RS2, reweighting, search, the CLI."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tamis
from tamis import _core
from tamis.mix import (
    MixtureSampler,
    Plan,
    Schedule,
    SourceSize,
    anneal,
    count,
    exp_weights_update,
    manual,
    proportional,
    propose,
    rs2,
    search,
    skill_it_update,
    temperature,
    unimax,
)

# --- plans ---------------------------------------------------------------------------------------


def budgets(plan):
    return [s.budget for s in plan.sources]


def test_unimax_hand_computed_one_source_larger_than_its_share():
    # Sorted sizes 10, 100, 1000; budget 300, 2 epochs: a gets min(100, 20) = 20, then
    # b min(280/2, 200) = 140, then c the remaining 140.
    p = unimax({"c": 1000, "a": 10, "b": 100}, budget=300, max_epochs=2)
    assert budgets(p) == [140.0, 20.0, 140.0]
    assert [s.epochs for s in p.sources] == [0.14, 2.0, 1.4]
    assert sum(s.weight for s in p.sources) == pytest.approx(1.0)
    assert p.weights["a"] == pytest.approx(20 / 300)


def test_unimax_hand_computed_fractional_max_epochs():
    # max_epochs 0.5: a capped at 5, b at 50, c gets 600 - 55 = 545 capped at 500.
    with pytest.warns(UserWarning, match="exceeds max_epochs"):
        p = unimax({"a": 10, "b": 100, "c": 1000}, budget=600, max_epochs=0.5)
    assert budgets(p) == [5.0, 50.0, 500.0]
    # Uniform when nothing is capped: 3 x 100.
    p = unimax({"a": 200, "b": 300, "c": 1000}, budget=300, max_epochs=0.5)
    assert budgets(p) == [100.0, 100.0, 100.0]


def test_unimax_budget_larger_than_all_data():
    # Everything capped at max_epochs x size; the plan total is below the budget.
    with pytest.warns(UserWarning, match="plan uses 2220"):
        p = unimax({"a": 10, "b": 100, "c": 1000}, budget=10_000, max_epochs=2)
    assert budgets(p) == [20.0, 200.0, 2000.0]
    assert p.budget == 2220.0
    assert p.params["requested_budget"] == 10_000.0


def test_temperature_hand_computed():
    p = temperature({"en": 900, "sw": 100}, tau=2.0, budget=1000)
    assert p.weights["en"] == pytest.approx(30 / 40)
    assert budgets(p) == pytest.approx([750.0, 250.0])
    assert [s.epochs for s in p.sources] == pytest.approx([750 / 900, 2.5])
    # tau = 1 is proportional; a large tau tends to uniform; sizes as SourceSize in a unit.
    sizes = {"a": SourceSize(10, 1000, 400), "b": SourceSize(30, 3000, 100)}
    assert temperature(sizes, 1.0).weights == pytest.approx({"a": 0.8, "b": 0.2})
    assert proportional(sizes, unit="documents").weights == pytest.approx({"a": 0.25, "b": 0.75})
    assert temperature(sizes, 1e9).weights == pytest.approx({"a": 0.5, "b": 0.5})


def test_document_weights_account_for_document_length():
    # a: 10 docs of 40 tokens, b: 30 docs of 3.33 tokens; 80/20 in tokens is 25/75... in docs:
    sizes = {"a": SourceSize(10, 0, 400), "b": SourceSize(30, 0, 100)}
    p = proportional(sizes)
    assert p.document_weights() == pytest.approx({"a": 0.25, "b": 0.75})


def test_manual_warns_when_a_source_repeats_too_often():
    with pytest.warns(UserWarning, match="'med' would be repeated 5.00 times"):
        p = manual({"web": 900, "med": 100}, {"web": 1, "med": 1})
    assert budgets(p) == [500.0, 500.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        manual({"web": 900, "med": 100}, {"web": 1, "med": 1}, warn_epochs=None)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: temperature({"a": 1}, 0), "tau"),
        (lambda: proportional({}), "non-empty"),
        (lambda: proportional({"a": -1}), "sizes"),
        (lambda: proportional({"a": 1}, unit="lines"), "unit"),
        (lambda: unimax({"a": 1}, budget=0), "budget"),
        (lambda: unimax({"a": 1}, budget=1, max_epochs=0), "max_epochs"),
        (lambda: manual({"a": 1, "b": 1}, {"a": 1}), "miss"),
        (lambda: manual({"a": 1}, {"a": 1, "z": 1}), "unknown"),
        (lambda: manual({"a": 1}, {"a": -1}), "weights"),
    ],
)
def test_plans_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_plan_json_round_trip_and_megatron_blend(tmp_path):
    p = manual({"web": 600, "code": 400}, {"web": 3, "code": 1})
    p.paths = {"web": "/data/web_text_document", "code": "/data/code_text_document"}
    tamis.mix.save(p, tmp_path / "plan.json", {"k": 1})
    d = json.loads((tmp_path / "plan.json").read_text())
    assert d["run"]["command"] == "mix plan"
    assert d["run"]["tamis_version"] == tamis.__version__
    q = tamis.mix.load(tmp_path / "plan.json")
    assert isinstance(q, Plan)
    assert q.weights == p.weights
    assert q.paths == p.paths
    assert p.megatron_blend() == "0.75 /data/web_text_document 0.25 /data/code_text_document"
    assert p.megatron_blend({"web": "w"}).startswith("0.75 w 0.25 ")


def test_schedules_step_and_linear(tmp_path):
    sizes = {"web": 900, "math": 100}
    base = manual(sizes, {"web": 0.9, "math": 0.1}, warn_epochs=None)
    hot = manual(sizes, {"web": 0.5, "math": 0.5}, warn_epochs=None)
    step = anneal(base, hot, 0.2)
    assert step.weights_at(0.79) == pytest.approx([0.9, 0.1])
    assert step.weights_at(0.8) == pytest.approx([0.5, 0.5])
    lin = anneal(base, hot, 0.2, transition="linear", ramp_fraction=0.4)
    assert lin.weights_at(0.3) == pytest.approx([0.9, 0.1])  # ramp starts at 0.4
    assert lin.weights_at(0.6) == pytest.approx([0.7, 0.3])  # half way
    assert lin.weights_at(0.95) == pytest.approx([0.5, 0.5])
    tamis.mix.save(lin, tmp_path / "s.json")
    again = tamis.mix.load(tmp_path / "s.json")
    assert isinstance(again, Schedule)
    assert again.weights_at(0.6) == pytest.approx([0.7, 0.3])
    with pytest.raises(ValueError, match="anneal_fraction"):
        anneal(base, hot, 1.0)
    with pytest.raises(ValueError, match="sources"):
        Schedule([(0.0, base), (0.5, manual({"x": 1, "y": 1}, {"x": 1, "y": 1}))])


# --- counting -------------------------------------------------------------------------------------


def test_count_uses_the_wordpunct_tokenizer():
    texts = ["Don't panic!", "héllo wörld", None, ""]
    got = count({"a": texts})["a"]
    assert got.documents == 4
    assert got.tokens == sum(len(tamis.tokenize(t)) for t in texts if t)
    assert got.bytes == sum(len(t.encode()) for t in texts if t)


def test_count_with_a_local_hugging_face_tokenizer(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, "[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    got = count({"s": ["a b c", "a"]}, tokenizer=tmp_path / "tokenizer.json")["s"]
    assert got.tokens == 4
    with pytest.raises(FileNotFoundError):
        count({"s": ["a"]}, tokenizer=tmp_path / "missing.json")


# --- interleaving and RS2 -------------------------------------------------------------------------


def test_realised_proportions_over_one_million_documents():
    p = np.array([0.5, 0.27, 0.15, 0.05, 0.03])
    w = _core.mix_integer_weights(p)
    credit = np.zeros(5, dtype=np.int64)
    consumed = np.zeros(5, dtype=np.uint64)
    src, ranks = _core.mix_schedule(w, credit, consumed, 1_000_000)
    counts = np.bincount(src, minlength=5)
    assert (consumed == counts).all()
    share = counts / 1e6
    assert np.abs(share - p).max() < 0.005
    # The guarantee: n p_i - (k - 1) < c_i(n) < n p_i + 1 at every prefix (checked every 997).
    cum = np.zeros(5)
    for start in range(0, 1_000_000, 997):
        cum += np.bincount(src[start : start + 997], minlength=5)
        n = min(start + 997, 1_000_000)
        d = n * p - cum
        assert (d > -1 - 1e-6).all()
        assert (d < 4 + 1e-6).all()
    # ranks count each source's earlier steps
    assert (ranks[src == 3] == np.arange(counts[3])).all()


def test_rs2_is_without_replacement_across_epochs():
    sel = rs2(10, 0.3, 7, seed=1)
    assert len(sel) == 21
    assert sel.method == "rs2"
    assert sorted(sel.indices[:10].tolist()) == list(range(10))  # first pass: a permutation
    assert sorted(sel.indices[10:20].tolist()) == list(range(10))  # then a fresh one
    assert (np.bincount(sel.epoch) == 3).all()
    assert (rs2(10, 0.3, 7, seed=1).indices == sel.indices).all()
    assert (rs2(10, 0.3, 7, seed=2).indices != sel.indices).any()
    with pytest.raises(ValueError, match="fraction"):
        rs2(10, 0.0, 1)


def test_permutation_oracle_is_a_permutation():
    p = _core.permutation(1000, 5)
    assert sorted(p.tolist()) == list(range(1000))


def test_gather_equals_arrow_take_over_the_concatenation():
    from tamis.mix._sources import gather

    rng = np.random.default_rng(0)
    words = [f"w{i}é" * (i % 5) for i in range(300)]
    arrays = [
        pa.array(words[:100], pa.string()),
        pa.array(words[100:250], pa.large_string()),
        pa.array(words[250:], pa.string()).slice(7, 30),  # an offset into its buffers
    ]
    whole = pa.concat_arrays([a.cast(pa.large_string()) for a in arrays])
    first = np.cumsum([0] + [len(a) for a in arrays[:-1]])
    chunk = rng.integers(0, 3, 500).astype(np.uint32)
    row = (rng.random(500) * np.array([len(a) for a in arrays])[chunk]).astype(np.uint32)
    want = whole.take(first[chunk] + row)
    got = gather(arrays, chunk, row)
    assert got.type == pa.large_string()
    assert got.equals(want)
    got.validate(full=True)
    # with nulls: Arrow's path, same result
    arrays[1] = pa.array([None, *words[101:250]], pa.large_string())
    whole = pa.concat_arrays([a.cast(pa.large_string()) for a in arrays])
    assert gather(arrays, chunk, row).equals(whole.take(first[chunk] + row))
    assert len(gather([], chunk[:0], row[:0])) == 0
    with pytest.raises(ValueError, match="past"):
        _core.mix_gather(
            [np.array([0, 1])],
            [np.zeros(1, np.uint8)],
            np.array([1], np.uint32),
            np.array([0], np.uint32),
        )
    one = ([np.array([0, 1])], [np.zeros(1, np.uint8)], np.zeros(1, np.uint32))
    with pytest.raises(ValueError, match="output buffer"):
        _core.mix_gather(*one, np.zeros(1, np.uint32), np.zeros(2, np.uint8))


# --- the sampler ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Three sources: two Parquet folders (several files, small row groups), one in memory."""
    root = tmp_path_factory.mktemp("mix")
    out = {}
    for name, n, files in (("web", 900, 3), ("code", 300, 2)):
        (root / name).mkdir()
        per = n // files
        for f in range(files):
            texts = [f"{name} doc {f * per + i} " + "x" * (i % 7) for i in range(per)]
            pq.write_table(
                pa.table({"text": texts}), root / name / f"part{f}.parquet", row_group_size=37
            )
        out[name] = root / name
    out["books"] = [f"book {i}" for i in range(50)]
    return out


def rows_of(sampler):
    return [(r["source"], r["epoch"], r["row"], r["id"]) for r in sampler]


def test_ids_are_those_read_batches_gives(shards):
    s = MixtureSampler(shards, {"web": 1, "code": 1, "books": 1}, k=3000, seed=3)
    got = {(r["source"], r["id"]): r["text"] for r in s}
    for name in ("web", "code"):
        for batch in tamis.read_batches(shards[name]):
            for i, t in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                assert got[(name, i)] == t
    assert got[("books", "7")] == "book 7"


def test_every_epoch_of_a_source_is_a_permutation(shards):
    s = MixtureSampler(shards, {"web": 1, "code": 1, "books": 1}, k=3000, seed=0)
    seen = collections.defaultdict(list)
    for src, epoch, row, _ in rows_of(s):
        seen[(src, epoch)].append(row)
    sizes = {"web": 900, "code": 300, "books": 50}
    for (src, epoch), rows in seen.items():
        n = sizes[src]
        if len(rows) == n:  # a complete epoch
            assert sorted(rows) == list(range(n)), (src, epoch)
        else:  # the last, partial epoch: still no repeats
            assert len(set(rows)) == len(rows)
    # shuffled (not in file order) and different per epoch
    assert seen[("code", 0)][:20] != list(range(20))
    assert seen[("books", 0)] != seen[("books", 1)]


def test_realised_proportions_of_the_sampler(shards):
    w = {"web": 0.6, "code": 0.3, "books": 0.1}
    s = MixtureSampler(shards, w, k=10_000, seed=0, batch_size=512)
    n = collections.Counter()
    for b in s.iter_batches():
        n.update(b.column("source").to_pylist())
    assert sum(n.values()) == 10_000
    for name, share in w.items():
        assert abs(n[name] - 10_000 * share) < 3


RANDOM_STOPS = [
    sorted(np.random.default_rng(seed).choice(2500, 3, replace=False).tolist()) for seed in range(3)
]


@pytest.mark.parametrize("stops", [[1, 700, 1999], [513, 514], [0, 2047, 2048], *RANDOM_STOPS])
def test_exact_resume_at_random_stop_points(shards, stops):
    def make():
        return MixtureSampler(
            shards, {"web": 5, "code": 3, "books": 1}, k=2500, seed=9, batch_size=256
        )

    full = rows_of(make())
    got = []
    state = None
    for stop in [*stops, None]:
        s = make()
        if state is not None:
            s.load_state_dict(json.loads(json.dumps(state)))
        it = iter(s)
        while stop is None or len(got) < stop:
            try:
                r = next(it)
            except StopIteration:
                break
            got.append((r["source"], r["epoch"], r["row"], r["id"]))
        state = s.state_dict()
    assert got == full


def test_rows_made_in_short_lists_resume_exactly(shards, monkeypatch):
    """``iter()`` makes its dicts a few at a time (sampler.ROWS_AT_ONCE): a state saved at any
    position, inside a list or at its edges, continues the stream, which equals the batches'."""
    import tamis.mix.sampler as sampler_module

    def make():
        return MixtureSampler(
            shards, {"web": 5, "code": 3, "books": 1}, k=130, seed=4, batch_size=50
        )

    ref = [
        (s, e, r, i)
        for b in make().iter_batches()
        for s, e, r, i in zip(
            b.column("source").to_pylist(),
            b.column("epoch").to_pylist(),
            b.column("row").to_pylist(),
            b.column("id").to_pylist(),
        )
    ]
    monkeypatch.setattr(sampler_module, "ROWS_AT_ONCE", 7)
    assert rows_of(make()) == ref
    got: list = []
    state = None
    for stop in [*range(1, 16), 20, 21, 49, 50, 51, 56, 57, 99, 100, 101, 129, None]:
        s = make()
        if state is not None:
            s.load_state_dict(json.loads(json.dumps(state)))
        it = iter(s)
        while stop is None or len(got) < stop:
            r = next(it, None)
            if r is None:
                break
            got.append((r["source"], r["epoch"], r["row"], r["id"]))
        state = s.state_dict()
    assert got == ref


@pytest.mark.parametrize("stop", [0, 1, 255, 256, 257, 1300])
def test_state_is_exact_after_the_iterator_is_closed_or_dropped(shards, stop):
    def make():
        return MixtureSampler(
            shards, {"web": 2, "code": 1, "books": 1}, k=1500, seed=1, batch_size=256
        )

    full = rows_of(make())
    for finish in ("close", "drop", "keep"):
        s = make()
        it = iter(s)
        head = [next(it) for _ in range(stop)]
        if finish == "close":
            it.close()
        elif finish == "drop":
            del it
        state = s.state_dict()
        t = make()
        t.load_state_dict(state)
        got = [(r["source"], r["epoch"], r["row"], r["id"]) for r in [*head, *t]]
        assert got == full, finish


def test_resume_between_batches_and_after_set_weights(shards):
    def make():
        return MixtureSampler(
            shards, {"web": 1, "code": 1, "books": 1}, k=3000, seed=2, batch_size=200
        )

    a = make()
    ref = []
    for i, b in enumerate(a.iter_batches()):
        ref.append(b)
        if i == 2:
            a.set_weights({"web": 0.1, "code": 0.1, "books": 0.8})
    b = make()
    it = b.iter_batches()
    got = [next(it) for _ in range(3)]
    b.set_weights({"web": 0.1, "code": 0.1, "books": 0.8})
    got.append(next(it))
    st = b.state_dict()
    c = make()
    c.load_state_dict(st)
    got += list(c.iter_batches())
    assert pa.Table.from_batches(got).equals(pa.Table.from_batches(ref))
    after = pa.Table.from_batches(ref[4:]).column("source").to_pylist()
    assert abs(after.count("books") / len(after) - 0.8) < 0.01


def test_schedule_is_followed(shards):
    sizes = {"web": 900, "code": 300, "books": 50}
    base = manual(
        sizes, {"web": 0.8, "code": 0.1, "books": 0.1}, unit="documents", warn_epochs=None
    )
    hot = manual(sizes, {"web": 0.2, "code": 0.2, "books": 0.6}, unit="documents", warn_epochs=None)
    s = MixtureSampler(shards, anneal(base, hot, 0.25), k=8192, seed=0, update_every=512)
    src = pa.Table.from_batches(list(s.iter_batches())).column("source").to_pylist()
    head, tail = src[:6144], src[6144:]
    assert abs(head.count("web") / len(head) - 0.8) < 0.01
    assert abs(tail.count("books") / len(tail) - 0.6) < 0.01


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("world_size", [1, 2])
@pytest.mark.parametrize("num_workers", [1, 2, 3])
def test_dataloader_workers_and_ranks_cover_the_stream(shards, world_size, num_workers):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    w = {"web": 2, "code": 1, "books": 1}
    single = rows_of(MixtureSampler(shards, w, k=1001, seed=4, batch_size=64))
    union = []
    for rank in range(world_size):
        s = MixtureSampler(
            shards, w, k=1001, seed=4, batch_size=64, rank=rank, world_size=world_size
        )
        dl = DataLoader(tamis.mix.torch_dataset(s), batch_size=None, num_workers=num_workers)
        part = [(r["source"], r["epoch"], r["row"], r["id"]) for r in dl]
        union += part
    assert len(union) == len(single)
    assert collections.Counter(union) == collections.Counter(single)
    del torch


def test_sampler_pickles_mid_stream(shards):
    import pickle

    s = MixtureSampler(shards, {"web": 2, "code": 1, "books": 1}, k=900, seed=6, batch_size=100)
    it = s.iter_batches()
    first = [next(it), next(it)]
    state = s.state_dict()
    clone = pickle.loads(pickle.dumps(s))
    clone.load_state_dict(state)
    rest = list(it)
    assert pa.Table.from_batches(list(clone.iter_batches())).equals(pa.Table.from_batches(rest))
    assert len(first) == 2


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize(("num_workers", "resume"), [(1, 7), (3, 4)])
def test_dataloader_resumes_from_a_batch_count(shards, num_workers, resume):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    def loader(resume_batches):
        s = MixtureSampler(shards, {"web": 2, "code": 1, "books": 1}, k=1001, seed=5, batch_size=64)
        ds = tamis.mix.torch_dataset(s, resume_batches=resume_batches, loader_batch_size=8)
        return [b["id"] for b in DataLoader(ds, batch_size=8, num_workers=num_workers)]

    full = loader(0)
    assert loader(resume) == full[resume:]


def test_skip_equals_reading(shards):
    def make():
        return MixtureSampler(
            shards, {"web": 1, "code": 1, "books": 1}, k=2000, seed=1, batch_size=100
        )

    full = rows_of(make())
    for n in (0, 99, 100, 1234, 1999, 2000, 5000):
        s = make()
        s.skip(n)
        assert rows_of(s) == full[n:], n


def test_sampler_rejects_bad_arguments(shards):
    with pytest.raises(ValueError, match="unknown"):
        MixtureSampler(shards, {"web": 1, "code": 1, "books": 1, "x": 1})
    base = manual({"web": 1, "code": 1, "books": 1}, {"web": 1, "code": 1, "books": 1})
    with pytest.raises(ValueError, match="needs k"):
        MixtureSampler(shards, anneal(base, base, 0.5))
    with pytest.raises(ValueError, match="no documents"):
        MixtureSampler({"a": ["x"], "b": []}, [1, 1])
    with pytest.raises(ValueError, match="rank"):
        MixtureSampler(shards, [1, 1, 1], rank=2, world_size=2)
    s = MixtureSampler(shards, [1, 1, 1], seed=1)
    other = MixtureSampler(shards, [1, 1, 1], seed=2)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(s.state_dict())


def test_bad_sources_name_the_file_or_column(shards, tmp_path):
    with pytest.raises(tamis.InputError, match="nope"):
        MixtureSampler({"web": shards["web"]}, [1], text_column="nope")
    with pytest.raises(FileNotFoundError):
        MixtureSampler({"web": tmp_path / "missing.parquet"}, [1])
    with pytest.raises(ValueError, match="non-empty"):
        MixtureSampler({}, [])


def test_endless_stream_and_zero_weight(shards):
    s = MixtureSampler(shards, {"web": 1, "code": 0, "books": 1}, seed=0, batch_size=100)
    it = s.iter_batches()
    src = [x for _ in range(30) for x in next(it).column("source").to_pylist()]
    assert "code" not in src
    assert src.count("books") == 1500


# --- reweighting and search -----------------------------------------------------------------------


def test_exp_weights_update_hand_computed():
    # alpha = (0.2, 0.3, 0.5), lambda = (ln 2, 0, ln 0.5), eta 1: (0.4, 0.3, 0.25) / 0.95
    got = exp_weights_update([0.2, 0.3, 0.5], [np.log(2), 0.0, np.log(0.5)], eta=1.0, smoothing=0.0)
    assert got == pytest.approx([0.4 / 0.95, 0.3 / 0.95, 0.25 / 0.95])
    # smoothing 0.1 mixes in the uniform distribution
    sm = exp_weights_update([0.2, 0.3, 0.5], [np.log(2), 0.0, np.log(0.5)], eta=1.0, smoothing=0.1)
    assert sm == pytest.approx(0.9 * got + 0.1 / 3)
    # eta 0.5 halves the step: sqrt(2) etc.
    half = exp_weights_update([0.5, 0.5], [np.log(4), 0.0], eta=0.5, smoothing=0.0)
    assert half == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="signal"):
        exp_weights_update([0.5, 0.5], [1.0])


def test_skill_it_update_hand_computed():
    # A = [[1, 0.5], [0, 1]], L = (ln 2, ln 4): A L = (ln 2 + 0.5 ln 4, ln 4) = (ln 4, ln 4)
    got = skill_it_update([0.25, 0.75], [[1, 0.5], [0, 1]], [np.log(2), np.log(4)], eta=1.0)
    assert got == pytest.approx([0.25, 0.75])
    got = skill_it_update([0.5, 0.5], np.eye(2), [np.log(3), 0.0], eta=1.0)
    assert got == pytest.approx([0.75, 0.25])
    with pytest.raises(ValueError, match="graph"):
        skill_it_update([0.5, 0.5], np.eye(3), [0, 0, 0])


def test_propose_dirichlet():
    w = propose(2000, 3, seed=0)
    assert np.allclose(w.sum(1), 1)
    assert (w >= 0).all()
    assert np.abs(w.mean(0) - 1 / 3).max() < 0.02
    c = propose(2000, 3, around=[0.7, 0.2, 0.1], concentration=50, seed=1)
    assert np.abs(c.mean(0) - [0.7, 0.2, 0.1]).max() < 0.01
    with pytest.raises(ValueError, match="around"):
        propose(2, 3, around=[1, 0])


def test_search_finds_a_known_optimum():
    pytest.importorskip("sklearn")
    target = np.array([0.5, 0.25, 0.15, 0.1])

    def loss(w):  # a smooth synthetic "validation loss" minimised at target
        return float(np.sum((w - target) ** 2) + 0.1 * np.sum(np.abs(w - target)))

    res = search(loss, 4, rounds=6, k=16, n_candidates=2000, seed=0)
    assert np.abs(res.weights - target).sum() < 0.05  # L1 distance to the optimum
    assert res.history_scores.shape == (96,)
    # better than random search with the same 96 evaluations
    rand = propose(96, 4, seed=0)
    assert res.score < min(loss(w) for w in rand) / 5
    assert res.rounds[-1]["best"] <= res.rounds[0]["best"]


# --- CLI ------------------------------------------------------------------------------------------


def tamis_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tamis", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """data/sample split by domain into one Parquet file per domain."""
    root = tmp_path_factory.mktemp("domains")
    table = next(
        iter(
            [
                pa.Table.from_batches(
                    list(tamis.read_batches("data/sample/corpus.jsonl.gz", columns=["domain"]))
                )
            ]
        )
    )
    out = {}
    for d in sorted(set(table.column("domain").to_pylist())):
        part = table.filter(pa.compute.equal(table.column("domain"), d))
        path = root / f"{d}.parquet"
        pq.write_table(part, path, row_group_size=200)
        out[d] = path
    return out


def test_cli_plan_and_sample(domains, tmp_path):
    srcs = [f"--source={d}={p}" for d, p in domains.items()]
    plan = tmp_path / "plan.json"
    r = tamis_cli("mix", "plan", *srcs, "--scheme", "temperature", "--tau", "2", "-o", plan)
    assert r.returncode == 0, r.stderr
    assert "python-docs" in r.stdout
    assert "TOTAL" in r.stdout
    d = json.loads(plan.read_text())
    sizes = count(dict(domains.items()))
    expect = temperature(sizes, 2.0)
    assert [s["weight"] for s in d["sources"]] == pytest.approx(list(expect.weights.values()))
    out = tmp_path / "mixed.parquet"
    r = tamis_cli("mix", "sample", plan, "-k", 5000, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out)
    assert t.num_rows == 5000
    assert {"text", "id", "source", "epoch", "row"} <= set(t.column_names)
    assert tamis.read_run_metadata(out)["command"] == "mix sample"
    docw = expect.document_weights()
    src = t.column("source").to_pylist()
    for name, share in docw.items():
        assert abs(src.count(name) / 5000 - share) < 0.002
    # ids are the original ids
    ids = set(pq.read_table(domains["python-docs"], columns=["id"]).column("id").to_pylist())
    assert (
        set(t.filter(pa.compute.equal(t.column("source"), "python-docs")).column("id").to_pylist())
        <= ids
    )


def test_cli_plan_unimax_anneal_and_errors(domains, tmp_path):
    srcs = [f"--source={d}={p}" for d, p in domains.items()]
    names = list(domains)
    plan = tmp_path / "s.json"
    r = tamis_cli(
        "mix",
        "plan",
        *srcs,
        "--scheme",
        "unimax",
        "--budget",
        "1000000",
        "--max-epochs",
        "2",
        "--anneal-fraction",
        "0.2",
        *[f"--anneal-weights={n}=1" for n in names],
        "-o",
        plan,
    )
    assert r.returncode == 0, r.stderr
    sched = json.loads(plan.read_text())
    assert sched["format"] == "tamis-mix-schedule"
    phases = [ph["plan"] for ph in sched["phases"]]
    assert [ph["start"] for ph in sched["phases"]] == [0.0, 0.8]
    # each phase's budgets are its share of the run's budget
    assert phases[0]["budget"] == pytest.approx(0.8 * 1_000_000)
    assert phases[1]["budget"] == pytest.approx(0.2 * 1_000_000)
    out = tmp_path / "m.jsonl"
    r = tamis_cli("mix", "sample", plan, "-k", 1000, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 1000
    r = tamis_cli("mix", "plan", *srcs, "--scheme", "manual", "-o", tmp_path / "x.json")
    assert r.returncode == 1
    assert "--weights" in r.stderr
    r = tamis_cli("mix", "plan", "--source", "nope", "-o", tmp_path / "x.json")
    assert r.returncode == 1
    assert "NAME=VALUE" in r.stderr
    r = tamis_cli("mix", "sample", plan, "-k", 10, "-o", plan)
    assert r.returncode == 1
