"""``tamis decontaminate``: find eval items in a corpus; flag, drop or cut; report per eval set."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tamis.cli import _common as c
from tamis.output import open_sink, write_json


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments as a dict (a clear error naming ``flag`` otherwise)."""
    out: dict[str, str] = {}
    for v in values or []:
        name, sep, value = v.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{flag} expects NAME=VALUE, got {v!r}")
        if name in out:
            raise ValueError(f"{flag}: {name!r} given twice")
        out[name] = value
    return out


def eval_sets(args: argparse.Namespace) -> list[Any]:
    """The ``--eval NAME=PATH`` sets, with ``--eval-fields`` / ``--eval-id-column`` applied."""
    from tamis.decontam import load_eval_set

    sets = parse_pairs(args.eval, "--eval")
    fields = parse_pairs(getattr(args, "eval_fields", None), "--eval-fields")
    ids = parse_pairs(getattr(args, "eval_id_column", None), "--eval-id-column")
    queries = parse_pairs(getattr(args, "eval_query_fields", None), "--eval-query-fields")
    for flag, d in [("--eval-fields", fields), ("--eval-id-column", ids)]:
        for name in d:
            if name not in sets:
                raise ValueError(f"{flag}: no --eval named {name!r}")
    out = []
    for name, path in sets.items():
        if not Path(path).exists() and not any(ch in path for ch in "*?["):
            raise FileNotFoundError(f"--eval {name}: no such file or directory: {path}")
        out.append(
            load_eval_set(
                name,
                path,
                fields=fields[name].split(",") if name in fields else None,
                id_column=ids.get(name),
                query_fields=queries[name].split(",") if name in queries else None,
            )
        )
    return out


def add_eval_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    """``--eval NAME=PATH`` (repeatable) and the per-set field options."""
    p.add_argument(
        "--eval",
        action="append",
        required=required,
        metavar="NAME=PATH",
        help="an eval set: JSONL/Parquet file, directory or glob, or a saved datasets dataset",
    )
    p.add_argument(
        "--eval-fields",
        action="append",
        metavar="NAME=F1,F2",
        help="fields of eval set NAME that count (default: every text column)",
    )
    p.add_argument(
        "--eval-id-column", action="append", metavar="NAME=COL", help="item id column of NAME"
    )


def run(args: argparse.Namespace) -> int:
    """Scan the inputs against the eval sets and write flagged, kept or cut rows."""
    from tamis.decontam import (
        DatatroveDecontaminator,
        DecontaminationIndex,
        Decontaminator,
        Report,
        apply_batch,
    )

    if not args.eval and not args.index:
        raise ValueError("give --eval NAME=PATH (one or more) or --index")
    out = c.prepare(
        args,
        inputs=args.inputs,
        o=args.output,
        report=args.report,
        save_index=args.save_index,
        json=args.json,
    )
    t0 = time.perf_counter()
    if args.mode == "datatrove":
        return _run_datatrove(args, out, DatatroveDecontaminator, t0)
    d = Decontaminator(
        ngram=args.ngram,
        min_tokens=args.min_tokens,
        action=args.action,
        min_matches=args.min_matches,
        matched_fraction=args.matched_fraction,
        margin=args.margin,
        min_fragment_chars=args.min_fragment_chars,
        max_fragments=args.max_fragments,
        max_items=args.max_items,
        n_threads=args.n_threads,
    )
    if args.index:
        d.set_index(DecontaminationIndex.load(args.index))
    else:
        d.fit(eval_sets(args))
    if args.save_index:
        d.index_.save(args.save_index)
    t_index = time.perf_counter() - t0
    report = Report(d.index_)
    id_col = args.id_column or "id"
    params = {**d.get_params(), "inputs": [str(p) for p in args.inputs], "backend": args.backend}
    if args.backend == "ray":
        from tamis import ray as tray

        tray.init(args.address)
        results = tray.decontaminate(
            d, list(args.inputs), text_column=args.text_column, id_column=args.id_column
        )
    else:
        results = (
            (*apply_batch(d, b, args.text_column), b.column(id_col)) for b in c.batches(args)
        )
    n_out = 0
    with open_sink(out["o"], "decontaminate", params) as sink:
        for table, res, flag, ids in results:
            report.add(res, ids.to_pylist(), flag)
            if table.num_rows:
                sink.write(table)
            n_out += table.num_rows
    rep = report.to_dict()
    rep["seconds"] = round(time.perf_counter() - t0, 3)
    rep["seconds_index"] = round(t_index, 3)
    rep["output_rows"] = n_out
    rep["index_bytes"] = d.index_.nbytes
    if out.get("report"):
        write_json(out["report"], rep)
    print(
        f"decontaminate: {rep['documents']} documents, {rep['contaminated_documents']} "
        f"contaminated ({args.action}); {n_out} rows written; index {d.index_.n_ngrams} "
        f"n-grams; {rep['seconds']} s -> {args.output}",
        file=sys.stderr,
    )
    if args.json:
        write_json(out["json"], rep)
    return 0


def _run_datatrove(args: argparse.Namespace, out: dict[str, Any], cls: Any, t0: float) -> int:
    import numpy as np
    import pyarrow as pa

    if args.action == "cut":
        raise ValueError("--mode datatrove supports --action flag or drop (datatrove drops)")
    d = cls(
        ngram=args.ngram,
        find_query_ngrams=args.find_query_ngrams,
        find_overlap_ngrams=args.find_overlap_ngrams,
        n_threads=args.n_threads,
    )
    d.fit(eval_sets(args))
    n_docs = n_bad = n_out = 0
    with open_sink(out["o"], "decontaminate", {"mode": "datatrove"}) as sink:
        for b in c.batches(args):
            keep, ngrams, tasks = d.filter(b.column(args.text_column))
            table = pa.Table.from_batches([b])
            n_docs += len(keep)
            n_bad += int((~keep).sum())
            if args.action == "flag":
                table = table.append_column("contaminated_ngram", pa.array(ngrams, pa.string()))
                table = table.append_column("contaminated_task", pa.array(tasks, pa.string()))
                table = table.append_column("contaminated", pa.array(~np.asarray(keep)))
            else:
                table = table.filter(pa.array(keep))
            if table.num_rows:
                sink.write(table)
            n_out += table.num_rows
    rep = {"documents": n_docs, "contaminated_documents": n_bad, "output_rows": n_out}
    if out.get("report"):
        write_json(out["report"], rep)
    print(
        f"decontaminate (datatrove): {n_docs} documents, {n_bad} contaminated; "
        f"{round(time.perf_counter() - t0, 3)} s -> {args.output}",
        file=sys.stderr,
    )
    return 0


def add(sub: Any) -> None:
    """Register ``tamis decontaminate``."""
    p = c.add_parser(
        sub,
        "decontaminate",
        "find eval-set items in a corpus (exact word n-grams); flag, drop or cut; report",
        "Index the word n-grams of the eval sets (case, punctuation, whitespace and line "
        "wrapping ignored), scan every document, and flag, drop or cut the contaminated ones. "
        "--report writes, per eval set, the items found and the documents that contain them.",
    )
    c.add_input_options(p)
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    add_eval_options(p, required=False)
    p.add_argument(
        "--eval-query-fields",
        action="append",
        metavar="NAME=F1,F2",
        help="--mode datatrove: the query fields of NAME (--eval-fields are then the label)",
    )
    p.add_argument("--index", default=None, help="a saved index (.npz) instead of --eval")
    p.add_argument("--save-index", default=None, help="also save the index here (.npz)")
    p.add_argument("--ngram", type=int, default=13, help="words per n-gram (8-50)")
    p.add_argument("--min-tokens", type=int, default=8, help="shortest item indexed (whole)")
    p.add_argument("--action", choices=["flag", "drop", "cut"], default="flag", help="what to do")
    p.add_argument("--min-matches", type=int, default=1, help="matched n-grams to be contaminated")
    p.add_argument(
        "--matched-fraction", type=float, default=0.0, help="and at least this fraction matched"
    )
    p.add_argument("--margin", type=int, default=200, help="cut: characters removed around a span")
    p.add_argument(
        "--min-fragment-chars", type=int, default=200, help="cut: shortest fragment kept"
    )
    p.add_argument(
        "--max-fragments", type=int, default=10, help="cut: more fragments drop the document"
    )
    p.add_argument("--max-items", type=int, default=10, help="items listed per document")
    p.add_argument(
        "--mode",
        choices=["default", "datatrove"],
        default="default",
        help="datatrove: datatrove 0.10.1's NGramsDecontFilter decisions (use --ngram 12)",
    )
    p.add_argument(
        "--find-query-ngrams", action="store_true", help="--mode datatrove: index query n-grams"
    )
    p.add_argument(
        "--find-overlap-ngrams",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--mode datatrove: index query/label overlap n-grams",
    )
    p.add_argument("--report", default=None, help="per-eval-set report (JSON) here")
    p.add_argument("--json", default=None, help="also write the summary as JSON here ('-': stdout)")
    c.add_backend_options(p)
    p.set_defaults(func=run)
