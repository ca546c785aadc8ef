"""``tamis features``: hashed n-gram counts of a corpus, per document or summed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import pyarrow as pa

from tamis.cli import _common as c
from tamis.features import HashingFeaturizer
from tamis.output import OUTPUT_FORMATS, open_sink, save_npz

#: ``features`` keeps data-selection's 10,000 buckets (its counts are compared bucket for bucket
#: with the reference); ``dsir`` defaults to 65,536, measured more precise (docs/dsir.md).
DEFAULT_BUCKETS = 10_000
FORMATS = (*OUTPUT_FORMATS, ".npz")


def add_featurizer_options(p: argparse.ArgumentParser, *, buckets: int | None) -> None:
    """The featuriser's flags (named after :class:`~tamis.HashingFeaturizer`'s parameters)."""
    p.add_argument(
        "--n-buckets",
        "--buckets",
        action=c.Store,
        dest="n_buckets",
        type=int,
        default=buckets,
        help="hash buckets",
    )
    p.add_argument(
        "--ngram-range", type=int, nargs=2, default=[1, 2], metavar=("MIN", "MAX"), help="n-grams"
    )
    p.add_argument("--analyzer", choices=["word", "char"], default="word", help="n-gram unit")
    c.add_normalizer_options(p)
    p.add_argument("--seed", type=int, default=0, help="hash seed")


def _featurizer(args: argparse.Namespace) -> HashingFeaturizer:
    return HashingFeaturizer(
        args.n_buckets,
        tuple(args.ngram_range),
        analyzer=args.analyzer,
        **c.normalizer_kwargs(args),
        seed=args.seed,
        n_threads=args.n_threads,
    )


def run(args: argparse.Namespace) -> int:
    """Hashed n-gram counts of a corpus, per document (Parquet, JSONL, npz) or summed."""
    out = c.prepare(args, inputs=args.inputs, formats=FORMATS, o=args.output)["o"]
    feat = _featurizer(args)
    files = c.expand_inputs(args.inputs)
    params = {**feat.get_params(), "inputs": [str(p) for p in args.inputs], "sum": args.sum}
    id_col = args.id_column or "id"
    npz = str(out).lower().endswith(".npz")
    bar = c.bar(args, "features", c.total_rows(files))
    n_docs = 0
    if args.sum:
        total = np.zeros(feat.n_buckets, dtype=np.uint64)
        for batch in c.batches(args, columns=[]):
            feat.count(batch.column(args.text_column), out=total)
            n_docs += batch.num_rows
            bar.update(batch.num_rows)
        if npz:
            save_npz(out, "features", params, counts=total)
        else:
            table = pa.table({"bucket": np.arange(feat.n_buckets, dtype=np.uint32), "count": total})
            with open_sink(out, "features", params) as sink:
                sink.write(table)
    elif npz:
        from tamis.features import _concat

        parts, ids = [], []
        for batch in c.batches(args, columns=[]):
            parts.append(feat.transform(batch.column(args.text_column)))
            ids.append(batch.column(id_col))
            n_docs += batch.num_rows
            bar.update(batch.num_rows)
        csr = _concat(parts, feat.n_buckets)
        id_arr = pa.chunked_array(ids).to_numpy(zero_copy_only=False) if ids else np.empty(0)
        if id_arr.dtype == object:  # fixed-width unicode: loads without pickle
            id_arr = np.array([str(i) for i in id_arr], dtype=str)
        save_npz(
            out,
            "features",
            params,
            format=np.array("csr"),  # scipy.sparse.load_npz reads format/shape/data/indices/indptr
            indptr=csr.indptr,
            indices=csr.indices,
            data=csr.data,
            n_tokens=csr.n_tokens,
            ids=id_arr,
            shape=np.array(csr.shape),
        )
    else:
        schema = pa.schema(
            [
                (id_col, pa.string()),
                ("n_tokens", pa.uint64()),
                ("buckets", pa.large_list(pa.uint32())),
                ("counts", pa.large_list(pa.uint32())),
            ]
        )
        with open_sink(out, "features", params, schema=schema) as sink:
            for batch in c.batches(args, columns=[]):
                csr = feat.transform(batch.column(args.text_column))
                offsets = pa.array(csr.indptr.astype(np.int64), type=pa.int64())
                table = pa.table(
                    {
                        id_col: batch.column(id_col),
                        "n_tokens": csr.n_tokens,
                        "buckets": pa.LargeListArray.from_arrays(offsets, pa.array(csr.indices)),
                        "counts": pa.LargeListArray.from_arrays(offsets, pa.array(csr.data)),
                    }
                )
                sink.write(table)
                n_docs += batch.num_rows
                bar.update(batch.num_rows)
    bar.close()
    print(f"features: {n_docs} documents -> {out}", file=sys.stderr)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis features``."""
    p = c.add_parser(sub, "features", "hashed n-gram counts of a corpus, per document or summed")
    c.add_input_options(p)
    add_featurizer_options(p, buckets=DEFAULT_BUCKETS)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .parquet, .jsonl[.gz|.zst] or .npz (CSR, loads with scipy.sparse.load_npz)",
    )
    p.add_argument("--sum", action="store_true", help="one count vector for the whole corpus")
    p.set_defaults(func=run)
