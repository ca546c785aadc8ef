"""``tamis balance``: MetaCLIP entry balancing (``--entries``) or a per-group cap (``--by``).

Two streaming passes over the inputs: the first matches the entries (or reads the group column)
and decides which rows to keep, the second copies the kept rows. The decision for a row depends
only on its id, its entries or group, the corpus-wide counts and ``--seed``
(:mod:`tamis.balance.matching`), so the same rows are kept whatever the file order or threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from tamis._validation import check_seed
from tamis.cli import _common as c
from tamis.exceptions import InputError
from tamis.output import open_sink, write_json


def _entries(args: argparse.Namespace) -> tuple[list[str], int]:
    """The entries file's entries, duplicates after normalisation dropped (first kept)."""
    from tamis.balance import read_entries
    from tamis.text import normalize

    entries = read_entries(args.entries)
    if not entries:
        raise InputError(f"{args.entries}: no entry (one per line)")
    seen: set[str] = set()
    out = []
    for e in entries:
        key = normalize(e, lowercase=not args.no_lowercase)
        if key and key not in seen:
            seen.add(key)
            out.append(e)
    return out, len(entries) - len(out)


def _decide_entries(
    args: argparse.Namespace, total: Any, counts_out: Any
) -> tuple[Callable[[pa.RecordBatch, int], np.ndarray], int, dict[str, Any]]:
    """Pass 1 (matching, counts); returns which rows of a batch to keep, the rows, a summary."""
    from tamis.balance import EntryMatcher, EntryMatches, balance_matches

    entries, n_dup = _entries(args)
    m = EntryMatcher(
        entries,
        lowercase=not args.no_lowercase,
        word_boundary=not args.no_word_boundary,
        n_threads=args.n_threads,
    )
    if args.backend == "ray":
        from tamis import ray as tray

        tray.init(args.address)
        matches, ids = tray.match_entries(
            m, list(args.inputs), text_column=args.text_column, id_column=args.id_column
        )
    elif args.low_memory:
        # Counts only; the write pass matches each batch again and draws with these counts.
        counts = np.zeros(m.n_entries, np.uint64)
        n_rows = n_matched = 0
        bar = c.bar(args, "balance: count", total)
        for batch in c.batches(args, columns=[]):
            mm = m.transform(batch.column(args.text_column))
            counts += mm.doc_counts()
            n_rows += len(mm)
            n_matched += int((np.diff(mm.indptr) > 0).sum())
            bar.update(batch.num_rows)
        bar.close()
    else:
        parts, id_parts = [], []
        bar = c.bar(args, "balance: match", total)
        for batch in c.batches(args, columns=[]):
            parts.append(m.transform(batch.column(args.text_column)))
            id_parts.append(batch.column(args.id_column or "id"))
            bar.update(batch.num_rows)
        bar.close()
        matches = EntryMatches.concat(parts, m.n_entries)
        ids = pa.chunked_array(id_parts) if id_parts else pa.chunked_array([], pa.string())
    if not args.low_memory or args.backend == "ray":
        counts = matches.doc_counts()
        n_rows, n_matched = len(matches), int((np.diff(matches.indptr) > 0).sum())

    def select(mm: Any, ids: Any) -> Any:
        return balance_matches(
            mm,
            counts,
            ids,
            t=args.t,
            seed=args.seed,
            entries=entries,
            keep_unmatched=args.keep_unmatched,
            n_threads=args.n_threads,
        ).rows["keep"]

    if args.low_memory and args.backend != "ray":

        def keep_of(batch: pa.RecordBatch, start: int) -> np.ndarray:
            mm = m.transform(batch.column(args.text_column))
            return select(mm, batch.column(args.id_column or "id"))

    else:
        keep = select(matches, ids)

        def keep_of(batch: pa.RecordBatch, start: int) -> np.ndarray:
            return keep[start : start + batch.num_rows]

    if counts_out is not None:
        t = float(args.t)
        table = pa.table(
            {
                "entry": pa.array(entries, pa.large_string()),
                "count": pa.array(counts.astype(np.int64)),
                "probability": pa.array(np.minimum(1.0, t / np.maximum(counts, 1))),
            }
        )
        with open_sink(counts_out, "balance-counts", {"t": t}) as sink:
            sink.write(table)
    info = {
        "entries": m.n_entries,
        "duplicate_entries_dropped": n_dup,
        "matched": n_matched,
        "head_entries": int((counts > args.t).sum()),
    }
    return keep_of, n_rows, info


def _decide_groups(
    args: argparse.Namespace, total: Any
) -> tuple[Callable[[pa.RecordBatch, int], np.ndarray], int, dict[str, Any]]:
    from tamis.balance import cap_per_group

    groups, id_parts = [], []
    bar = c.bar(args, "balance: groups", total)
    for batch in c.batches(args, columns=[args.by]):
        groups.append(batch.column(args.by))
        id_parts.append(batch.column(args.id_column or "id"))
        bar.update(batch.num_rows)
    bar.close()
    g = pa.chunked_array(groups) if groups else pa.chunked_array([], pa.string())
    ids = pa.chunked_array(id_parts) if id_parts else pa.chunked_array([], pa.string())
    sel = cap_per_group(g, args.cap, ids=ids, seed=args.seed, n_threads=args.n_threads)
    keep = sel.rows["keep"]

    def keep_of(batch: pa.RecordBatch, start: int) -> np.ndarray:
        return keep[start : start + batch.num_rows]

    info = {"groups": sel.info["n_groups"], "capped_groups": sel.info["n_capped"]}
    return keep_of, len(keep), info


def run(args: argparse.Namespace) -> int:
    """Balance the inputs; writes the kept rows."""
    if (args.entries is None) == (args.by is None):
        raise ValueError(
            "give exactly one of --entries FILE (with --t) or --by COLUMN (with --cap)"
        )
    if args.by is not None and args.cap is None:
        raise ValueError("--by needs --cap N (most rows kept per group)")
    if args.entries is not None and args.cap is not None:
        raise ValueError("--cap goes with --by; --entries uses --t")
    if args.cap is not None and args.cap < 1:
        raise ValueError(f"--cap must be >= 1, got {args.cap}")
    if not (np.isfinite(args.t) and args.t > 0):
        raise ValueError(f"--t must be a positive number, got {args.t}")
    if args.backend == "ray" and args.by is not None:
        raise ValueError("--backend ray applies to --entries (the per-document matching pass)")
    if args.entries is not None and not Path(args.entries).is_file():
        raise FileNotFoundError(f"--entries: no such file: {args.entries}")
    if args.counts is not None and args.entries is None:
        raise ValueError("--counts goes with --entries")
    check_seed(args.seed)
    out = c.prepare(
        args,
        inputs=args.inputs,
        columns=[args.by] if args.by else [],
        o=args.output,
        json=args.json,
        counts=args.counts,
    )
    if args.entries is not None:
        for key, path in out.items():
            if (
                path is not None
                and str(path) != "-"
                and Path(path).resolve() == args.entries.resolve()
            ):
                raise ValueError(f"--{key if key != 'o' else 'output'} is the --entries file")
    t0 = time.perf_counter()
    total = c.total_rows(c.expand_inputs(args.inputs))
    if args.entries is not None:
        keep_of, n_rows, info = _decide_entries(args, total, out.get("counts"))
    else:
        keep_of, n_rows, info = _decide_groups(args, total)
    params = {
        "inputs": [str(p) for p in args.inputs],
        "entries": str(args.entries) if args.entries else None,
        "t": args.t if args.entries else None,
        "by": args.by,
        "cap": args.cap,
        "seed": args.seed,
        "backend": args.backend,
    }
    id_col = args.id_column or "id"
    empty = pa.schema([(args.text_column, pa.large_string()), (id_col, pa.string())])
    bar = c.bar(args, "balance: write", total)
    start = n_kept = 0
    with open_sink(out["o"], "balance", params, schema=empty) as sink:
        for batch in c.batches(args, columns=None):
            n = batch.num_rows
            if start + n > n_rows:
                break
            mask = keep_of(batch, start)
            table = pa.Table.from_batches([batch]).filter(pa.array(mask))
            if table.num_rows:
                sink.write(table)
            n_kept += table.num_rows
            start += n
            bar.update(n)
        if start != n_rows:
            raise InputError(
                f"the inputs changed between the two passes ({n_rows} rows, then more or fewer)"
            )
    bar.close()
    summary = {
        "documents": n_rows,
        "kept": n_kept,
        **info,
        "backend": args.backend,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    what = f"t={args.t:g}" if args.entries else f"--by {args.by} --cap {args.cap}"
    print(
        f"balance: {n_rows} documents, {n_kept} kept ({what}) in {summary['seconds']} s "
        f"-> {args.output}",
        file=sys.stderr,
    )
    if args.json:
        write_json(out["json"], summary)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis balance``."""
    p = c.add_parser(
        sub,
        "balance",
        "balance a corpus over entries (MetaCLIP) or cap rows per group",
        "With --entries: find every entry of the file (one per line) in every document, count "
        "documents per entry over the whole input, and keep a document if any of its entries "
        "passes a draw of probability min(1, t / count) (MetaCLIP). With --by COLUMN --cap N: "
        "keep at most N random rows per value of COLUMN. Draws are keyed by --seed and the row "
        "id: file order and threads never change the result.",
    )
    c.add_input_options(p)
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.add_argument("--entries", type=Path, default=None, help="entries file, one per line")
    p.add_argument("--t", type=float, default=20_000, help="per-entry threshold (--entries)")
    p.add_argument("--by", default=None, help="group column (with --cap)")
    p.add_argument("--cap", type=int, default=None, help="most rows kept per group (--by)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws")
    p.add_argument("--keep-unmatched", action="store_true", help="keep documents matching no entry")
    p.add_argument("--no-lowercase", action="store_true", help="match case-sensitively")
    p.add_argument(
        "--no-word-boundary",
        action="store_true",
        help="count occurrences inside words too ('cat' in 'concat')",
    )
    p.add_argument(
        "--counts", default=None, help="also write entry, count, probability here (--entries)"
    )
    p.add_argument(
        "--low-memory",
        action="store_true",
        help="keep only the counts between the passes (matches each batch twice; same result)",
    )
    p.add_argument("--json", default=None, help="also write the summary as JSON here ('-': stdout)")
    c.add_backend_options(p)
    p.set_defaults(func=run)
