"""``tamis stats``: documents, nulls, empty documents, bytes and tokens per group."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tamis.cli import _common as c
from tamis.features import HashingFeaturizer
from tamis.output import write_json

KEYS = ("documents", "null", "empty", "bytes", "tokens")


def run(args: argparse.Namespace) -> int:
    """Documents, nulls, empty documents, bytes and tokens per value of ``--by``."""
    out = c.prepare(args, inputs=args.inputs, columns=[args.by] if args.by else [], json=args.json)
    files = c.expand_inputs(args.inputs)
    feat = HashingFeaturizer(1, (1, 1), n_threads=args.n_threads)
    groups: dict[Any, dict[str, int]] = {}
    bar = c.bar(args, "stats", c.total_rows(files))
    for batch in c.batches(args, columns=[args.by] if args.by else []):
        text = batch.column(args.text_column)
        tokens = feat.count_tokens(text)
        nbytes = pc.fill_null(pc.binary_length(text), 0)
        table = pa.table(
            {
                "group": batch.column(args.by)
                if args.by
                else pa.nulls(batch.num_rows, pa.string()),
                "documents": pa.array(np.ones(batch.num_rows, dtype=np.int64)),
                "null": pc.cast(pc.is_null(text), pa.int64()),
                "empty": pc.cast(pc.equal(pc.fill_null(pc.binary_length(text), -1), 0), pa.int64()),
                "bytes": pc.cast(nbytes, pa.int64()),
                "tokens": pa.array(tokens.astype(np.int64)),
            }
        )
        agg = table.group_by("group").aggregate([(k, "sum") for k in KEYS])
        for row in agg.to_pylist():
            g = groups.setdefault(row["group"], dict.fromkeys(KEYS, 0))
            for k in KEYS:
                g[k] += row[f"{k}_sum"]
        bar.update(batch.num_rows)
    bar.close()
    total = {k: sum(g[k] for g in groups.values()) for k in KEYS}
    rows = [
        (str(g) if args.by else "(all)", v)
        for g, v in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]
    if args.by:
        rows.append(("TOTAL", total))
    width = max([len(r[0]) for r in rows] + [len(args.by or "group")])
    lines = [f"{args.by or 'group':<{width}}  " + "  ".join(f"{k:>12}" for k in KEYS)]
    lines += [f"{name:<{width}}  " + "  ".join(f"{v[k]:>12}" for k in KEYS) for name, v in rows]
    if out.get("json") != "-":
        print("\n".join(lines))
    if args.json:
        summary = {"by": args.by, "groups": {str(g): v for g, v in groups.items()}, "total": total}
        write_json(out["json"], summary)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis stats``."""
    p = c.add_parser(sub, "stats", "documents, nulls, bytes and tokens per group (e.g. domain)")
    c.add_input_options(p)
    p.add_argument("--by", default=None, help="group by this column (e.g. domain)")
    p.add_argument("--json", default=None, help="also write the table as JSON here ('-': stdout)")
    p.set_defaults(func=run)
