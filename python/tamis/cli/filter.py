"""``tamis filter``: quality filtering in one streaming pass, with the reason for every drop.

The filter is a list of *stages* (:class:`Stage`), applied to every record batch in order: the
heuristic rules (``--rules``), then any model-based stage a module registers in
:data:`STAGE_BUILDERS` (a fastText classifier, language identification). Each stage decides
every row of the batch (``keep``, a reason code, optional statistics columns); a document is
kept when every stage keeps it and its ``reason`` is the first failing stage's rule.

Outputs: the kept documents with every input column (``-o``); with ``--all-rows`` every document
plus ``keep`` and ``reason``; ``--rejected FILE`` also writes the dropped documents with their
``reason`` (rewriting pipelines recycle exactly those); ``--stats`` adds every statistic the
stages compare. A table of the documents dropped per rule goes to stderr (``--json`` writes it
as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tamis.cli import _common as c
from tamis.output import open_sink, write_json
from tamis.quality.rules import FAMILIES, QualityRules, RuleDecisions, apply_rules, parse_rules


@dataclass
class Stage:
    """One step of the filter.

    Attributes
    ----------
    name
        Shown in the drop table (``rules``, ``fasttext``, ``langid``).
    decide
        ``decide(batch, with_stats)``: the :class:`~tamis.quality.rules.RuleDecisions` of every
        row (``labels`` are ``(family, rule)`` pairs, ``columns`` the statistics).
    labels
        Every ``(family, rule)`` the stage can report, in order (rows of the drop table).
    """

    name: str
    decide: Callable[[pa.RecordBatch, bool], RuleDecisions]
    labels: list[tuple[str, str]]


def rules_stage(args: argparse.Namespace) -> Stage | None:
    """The heuristic rules of ``--rules`` (``None`` with ``--rules none``)."""
    if args.rules.strip().lower() == "none":
        return None
    params = load_rule_params(args.rule_params)
    rules = QualityRules(
        parse_rules(args.rules),
        gopher=params.get("gopher"),
        gopher_repetition=params.get("gopher-repetition"),
        c4=params.get("c4"),
        fineweb=params.get("fineweb"),
        n_threads=args.n_threads,
    )
    text = args.text_column
    return Stage(
        "rules", lambda b, stats: apply_rules(rules, b, text, with_stats=stats), rules.labels
    )


def decontam_stage(args: argparse.Namespace) -> Stage | None:
    """``--exclude-eval NAME=PATH``: drop documents containing an eval item (13-gram scan)."""
    if not getattr(args, "exclude_eval", None):
        return None
    from tamis.cli.decontaminate import eval_sets
    from tamis.decontam import Decontaminator

    spec = argparse.Namespace(eval=args.exclude_eval, eval_fields=None, eval_id_column=None)
    d = Decontaminator(n_threads=args.n_threads).fit(eval_sets(spec))
    label = [("decontam", "contaminated")]

    def decide(batch: pa.RecordBatch, stats: bool) -> RuleDecisions:
        res, flag = d.scan(batch.column(args.text_column))
        cols = {"matched_fraction": res.matched_fraction} if stats else {}
        return RuleDecisions(~flag, flag.astype(np.uint16), label, cols)

    return Stage("decontam", decide, label)


def _decontam_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--exclude-eval",
        action="append",
        metavar="NAME=PATH",
        default=None,
        help="drop documents containing an item of this eval set (as tamis decontaminate "
        "--action drop); repeatable",
    )


def _model_stage(name: str, path: str | None, label: str, min_score: float, args: Any) -> Stage:
    from tamis.quality.fasttext import FastTextModel

    model = FastTextModel(str(path))
    index = model.label_index(label)
    labels = [(name, f"{name}_low_score")]

    def decide(batch: pa.RecordBatch, stats: bool) -> RuleDecisions:
        score = model.label_probability(
            batch.column(args.text_column), model.labels[index], n_threads=args.n_threads
        )
        keep = score >= min_score  # a null text (NaN) is dropped
        cols = {f"{name}_score": score} if stats else {}
        return RuleDecisions(keep, (~keep).astype(np.uint16), labels, cols)

    return Stage(name, decide, labels)


def fasttext_stage(args: argparse.Namespace) -> Stage | None:
    """``--fasttext MODEL --label L --min-score S``: keep documents with P(L) >= S."""
    if not getattr(args, "fasttext", None):
        return None
    if not args.label:
        raise ValueError("--fasttext needs --label (the label whose probability is the score)")
    return _model_stage("fasttext", args.fasttext, args.label, args.min_score, args)


def langid_stage(args: argparse.Namespace) -> Stage | None:
    """``--langid MODEL --lang L --min-lang-score S``: keep documents in language L."""
    if not getattr(args, "langid", None):
        return None
    return _model_stage("langid", args.langid, args.lang, args.min_lang_score, args)


def _fasttext_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fasttext", metavar="MODEL", default=None, help="fastText .bin/.ftz classifier"
    )
    p.add_argument("--label", default=None, help="label of --fasttext whose probability is kept")
    p.add_argument("--min-score", type=float, default=0.5, help="keep P(label) >= this")
    p.add_argument("--langid", metavar="MODEL", default=None, help="fastText language-ID model")
    p.add_argument("--lang", default="en", help="language to keep with --langid")
    p.add_argument("--min-lang-score", type=float, default=0.65, help="keep P(lang) >= this")


#: Builders of the stages, in order: each returns a stage or ``None`` (not asked for). Other
#: modules append theirs (a model-based stage) and add their flags in :data:`FLAG_ADDERS`.
STAGE_BUILDERS: list[Callable[[argparse.Namespace], Stage | None]] = [
    rules_stage,
    decontam_stage,
    fasttext_stage,
    langid_stage,
]
#: Functions that add a stage's flags to the ``tamis filter`` parser.
FLAG_ADDERS: list[Callable[[argparse.ArgumentParser], None]] = [_decontam_flags, _fasttext_flags]


def load_rule_params(value: str | None) -> dict[str, dict[str, Any]]:
    """``--rule-params``: JSON (inline or a ``.json`` file) mapping family -> thresholds."""
    if not value:
        return {}
    text = Path(value).read_text() if value.endswith(".json") else value
    try:
        params = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--rule-params is not valid JSON: {e}") from None
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise ValueError('--rule-params must map families to objects: {"gopher": {...}}')
    unknown = sorted(set(params) - set(FAMILIES))
    if unknown:
        raise ValueError(f"--rule-params: unknown family {unknown[0]!r} ({', '.join(FAMILIES)})")
    return params


def combine(
    results: list[RuleDecisions], offsets: list[int], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``keep`` and a global reason code per row: the first failing stage's rule."""
    keep = np.ones(n, bool)
    code = np.zeros(n, np.int64)
    for res, off in zip(results, offsets, strict=True):
        first = keep & ~res.keep
        code[first] = res.codes[first].astype(np.int64) + off
        keep &= res.keep
    return keep, code


#: The global reason code column of :func:`decide_batch`'s table (0: kept; ``i + 1``: the
#: ``i``-th label of :func:`build_stages`).
CODE = "__reason_code"


def build_stages(args: argparse.Namespace) -> tuple[list[Stage], list[tuple[str, str]], list[int]]:
    """The stages ``args`` asks for, every ``(family, rule)`` label and each stage's offset."""
    stages = [s for s in (build(args) for build in STAGE_BUILDERS) if s is not None]
    if not stages:
        raise ValueError("nothing to filter with: give --rules (or a model stage)")
    labels: list[tuple[str, str]] = []
    offsets = []
    for s in stages:
        offsets.append(len(labels))
        labels.extend(s.labels)
    return stages, labels, offsets


def decide_batch(
    stages: list[Stage], offsets: list[int], batch: pa.RecordBatch, stats: bool
) -> pa.Table:
    """Every row of ``batch`` with the stages' statistics columns (``stats``) and :data:`CODE`.

    The engine of both backends: the local one calls it per batch, the Ray one per block.
    """
    results = [s.decide(batch, stats) for s in stages]
    _, code = combine(results, offsets, batch.num_rows)
    table = pa.Table.from_batches([batch])
    for res in results:
        for name, col in res.columns.items():
            table = table.append_column(name, pa.array(col))
    return table.append_column(CODE, pa.array(code))


def portable_args(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the files the stages read made absolute (for Ray workers elsewhere)."""
    out = argparse.Namespace(**vars(args))
    for name in ("fasttext", "langid"):
        if getattr(out, name, None):
            setattr(out, name, os.path.abspath(getattr(out, name)))
    if out.rule_params and out.rule_params.endswith(".json"):
        out.rule_params = os.path.abspath(out.rule_params)
    if getattr(out, "exclude_eval", None):
        out.exclude_eval = [
            f"{spec.partition('=')[0]}={os.path.abspath(spec.partition('=')[2])}"
            if "=" in spec
            else spec
            for spec in out.exclude_eval
        ]
    return out


def run(args: argparse.Namespace) -> int:
    """Filter the inputs; print the drops per rule."""
    outs = c.prepare(
        args, inputs=args.inputs, o=args.output, rejected=args.rejected, json=args.json
    )
    stages, labels, offsets = build_stages(args)
    names = pa.array([r for _, r in labels], pa.string())
    params = {
        "inputs": [str(p) for p in args.inputs],
        "stages": [s.name for s in stages],
        "rules": args.rules,
        "rule_params": args.rule_params,
        "all_rows": args.all_rows,
        "stats": args.stats,
        "backend": args.backend,
    }
    if args.backend == "ray":
        from tamis import ray as tray

        tray.init(args.address)
        decided: Any = tray.filter_documents(
            list(args.inputs),
            portable_args(args),
            text_column=args.text_column,
            id_column=args.id_column,
        )
    else:
        decided = (decide_batch(stages, offsets, b, args.stats) for b in c.batches(args))
    counts = np.zeros(len(labels) + 1, np.int64)
    n_docs = 0
    bar = c.bar(args, "filter", c.total_rows(c.expand_inputs(args.inputs)))
    with ExitStack() as stack:
        sink = stack.enter_context(
            open_sink(args.output if str(args.output) == "-" else outs["o"], "filter", params)
        )
        rejected = None
        if args.rejected:
            rejected = stack.enter_context(open_sink(outs["rejected"], "filter", params))
        for table in decided:
            code = table.column(CODE).to_numpy()
            table = table.drop_columns([CODE])
            keep = code == 0
            counts += np.bincount(code, minlength=len(labels) + 1)
            n_docs += table.num_rows
            reason = pa.DictionaryArray.from_arrays(
                pa.array(code - 1, pa.int32(), mask=keep), names
            ).cast(pa.string())
            if args.all_rows:
                out = table.append_column("keep", pa.array(keep))
                sink.write(out.append_column("reason", reason))
            else:
                sink.write(table.filter(pa.array(keep)))
            if rejected is not None:
                dropped = table.append_column("reason", reason)
                rejected.write(dropped.filter(pa.array(~keep)))
            bar.update(table.num_rows)
    bar.close()
    report = {
        "documents": n_docs,
        "kept": int(counts[0]),
        "dropped": {f"{f}/{r}": int(counts[i + 1]) for i, (f, r) in enumerate(labels)},
    }
    print(table_text(report, labels), file=sys.stderr)
    if args.json:
        write_json(outs["json"], report)
    return 0


def table_text(report: dict[str, Any], labels: list[tuple[str, str]]) -> str:
    """The drop table: one row per rule that dropped a document, then the totals."""
    n = max(report["documents"], 1)
    rows = [("family", "rule", "dropped", "share")]
    for f, r in labels:
        k = report["dropped"][f"{f}/{r}"]
        if k:
            rows.append((f, r, str(k), f"{100 * k / n:.2f}%"))
    dropped = report["documents"] - report["kept"]
    rows.append(("all", "dropped", str(dropped), f"{100 * dropped / n:.2f}%"))
    rows.append(("all", "kept", str(report["kept"]), f"{100 * report['kept'] / n:.2f}%"))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(r[i].ljust(width[i]) if i < 2 else r[i].rjust(width[i]) for i in range(4))
        for r in rows
    ]
    return "\n".join(lines)


def add(sub: Any) -> None:
    """Register ``tamis filter``."""
    p = c.add_parser(
        sub,
        "filter",
        "quality filtering: Gopher, C4 and FineWeb rules (and model stages)",
        "Keep the documents that pass every rule; print how many each rule dropped.",
    )
    c.add_input_options(p)
    p.add_argument(
        "--rules",
        default=",".join(FAMILIES),
        help="rule families in check order, comma-separated, or 'none'",
    )
    p.add_argument(
        "--rule-params",
        default=None,
        help='thresholds replacing the defaults, JSON or a .json file: {"gopher": '
        '{"min_doc_words": 30}} (null disables a rule)',
    )
    p.add_argument("--all-rows", action="store_true", help="write every row with keep and reason")
    p.add_argument("--stats", action="store_true", help="add every rule statistic as a column")
    p.add_argument("--rejected", default=None, help="also write the dropped rows with reason")
    p.add_argument("--json", default=None, help="write the drop counts as JSON ('-': stdout)")
    for adder in FLAG_ADDERS:
        adder(p)
    c.add_backend_options(p)
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.set_defaults(func=run)
