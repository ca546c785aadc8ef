"""``tamis filter``: outputs, the drop table, the rejected rows, hardening."""

import json

import pyarrow.parquet as pq
import pytest
from tests.conftest import SAMPLE

from tamis.cli import main
from tamis.quality import QualityRules
from tamis.quality.rules import FAMILIES

CORPUS = SAMPLE / "corpus.jsonl.gz"


def test_filter_kept_rejected_and_table(tmp_path, capsys):
    out, rej, js = tmp_path / "kept.parquet", tmp_path / "rej.parquet", tmp_path / "drops.json"
    args = ["filter", str(CORPUS), "-o", str(out), "--rejected", str(rej), "--json", str(js)]
    assert main([*args, "-q"]) == 0
    kept, dropped = pq.read_table(out), pq.read_table(rej)
    report = json.loads(js.read_text())
    assert kept.num_rows + dropped.num_rows == report["documents"] == 3500
    assert kept.num_rows == report["kept"]
    assert "reason" not in kept.schema.names
    assert "domain" in kept.schema.names
    reasons = dropped["reason"].to_pylist()
    assert None not in reasons
    err = capsys.readouterr().err
    assert "gopher_below_alpha_threshold" in err
    assert "kept" in err
    # the library decides the same
    texts = pq.read_table(rej)["text"]
    assert QualityRules().decide(texts).reason().to_pylist() == reasons


def test_filter_all_rows_with_stats_as_jsonl(tmp_path):
    out = tmp_path / "all.jsonl"
    assert (
        main(
            [
                "filter",
                str(CORPUS),
                "-o",
                str(out),
                "--all-rows",
                "--stats",
                "-q",
                "--rules",
                "fineweb,c4",
            ]
        )
        == 0
    )
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3500
    assert {"keep", "reason", "fineweb_list_ratio", "c4_n_sentences"} <= set(rows[0])
    assert all((r["reason"] is None) == r["keep"] for r in rows)


def test_rule_params_change_thresholds(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert main(["filter", str(CORPUS), "-o", str(a), "--rules", "gopher", "-q"]) == 0
    loose = '{"gopher": {"max_non_alpha_words_ratio": null, "max_avg_word_length": null}}'
    assert (
        main(
            ["filter", str(CORPUS), "-o", str(b), "--rules", "gopher", "-q", "--rule-params", loose]
        )
        == 0
    )
    assert pq.read_table(b).num_rows > pq.read_table(a).num_rows


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rules", "gopher,nope"], "rules must be among"),
        (["--rule-params", '{"c5": {}}'], "unknown family"),
        (["--rule-params", "{not json"], "not valid JSON"),
        (["--rule-params", '{"c4": {"min_sentences": 3}}'], "c4 has no threshold"),
        (["--n-threads", "0"], "--n-threads"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, extra, message):
    out = tmp_path / "o.parquet"
    assert main(["filter", str(CORPUS), "-o", str(out), "-q", *extra]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_outputs_are_checked_before_reading(tmp_path, capsys):
    assert main(["filter", str(CORPUS), "-o", str(CORPUS), "-q"]) == 1
    assert main(["filter", str(CORPUS), "-o", str(tmp_path / "x.txt"), "-q"]) == 1
    same = tmp_path / "same.parquet"
    assert main(["filter", str(CORPUS), "-o", str(same), "--rejected", str(same), "-q"]) == 1
    assert main(["filter", str(tmp_path / "missing.jsonl"), "-o", str(same), "-q"]) == 1
    assert main(["filter", str(CORPUS), "-o", str(same), "--text-column", "body", "-q"]) == 1
    assert not same.exists()


def test_every_family_is_a_flag_value():
    assert ",".join(FAMILIES) == "gopher,gopher-repetition,c4,fineweb"
