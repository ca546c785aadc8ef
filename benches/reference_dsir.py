#!/usr/bin/env python3
"""Benchmark the reference DSIR featuriser (PyPI ``data-selection==1.0.3``).

Two modes. ``reference_dsir.py whole ...`` runs data-selection's whole DSIR as a user would
(``HashedNgramDSIR`` on JSON-lines files: ``fit_importance_estimator``,
``compute_importance_weights``, ``resample``); ``benches/dsir.py`` times it as one process, from
interpreter start to the written selection, against ``tamis dsir``. The default mode times the
featuriser alone:

Run with the interpreter of a venv that has the reference installed (``benches/features.py
--ref-python REF_VENV/bin/python`` does this for you), e.g.::

    python3 -m venv REF_VENV
    REF_VENV/bin/pip install data-selection==1.0.3 nltk==3.9.4 pyarrow numpy
    REF_VENV/bin/python benches/reference_dsir.py \
        --input data/corpus/pool.parquet --text-column text --limit 3000 --out ref.json

(``make corpus`` builds ``data/corpus/pool.parquet``.) This script imports nothing of tamis.

What is timed: exactly the per-document call that
``HashedNgramDSIR.featurizer`` makes, i.e.
``data_selection.hashed_ngram_dsir.get_ngram_counts(text, n=2,
num_buckets=10000, tokenizer=WordPunctTokenizer().tokenize)``, one document
at a time, single process.  Loading the parquet file is not timed.
``mb_per_s`` uses MB = 1e6 bytes of UTF-8 text.

``--dump-features K`` adds ``"features"``: for each of the first K documents a
dict mapping bucket (as a JSON string key, JSON objects cannot have integer
keys) to its raw count, plus ``"lengths"``: the reference's per-example length
metadata (``HashedNgramDSIR.get_perexample_metadata``, the value compared with
``min_example_length``), as an int.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import NoReturn


def _die(msg: str, code: int = 2) -> NoReturn:
    print(f"reference_dsir: error: {msg}", file=sys.stderr)
    sys.exit(code)


def load_texts(path: str, column: str, limit: int | None) -> tuple[list[str], int]:
    """Read up to ``limit`` non-null strings of ``column``; return (texts, n_null_skipped)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover
        _die(f"pyarrow is required: {e}")
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        _die(f"cannot open parquet {path!r}: {e}")
    names = pf.schema_arrow.names
    if column not in names:
        _die(f"column {column!r} not in {path!r} (columns: {names})")
    texts: list[str] = []
    skipped = 0
    for batch in pf.iter_batches(batch_size=4096, columns=[column]):
        for v in batch.column(0).to_pylist():
            if v is None:
                skipped += 1
                continue
            if isinstance(v, (bytes, bytearray)):
                v = bytes(v).decode("utf-8", errors="replace")
            elif not isinstance(v, str):
                v = str(v)
            texts.append(v)
            if limit is not None and len(texts) >= limit:
                return texts, skipped
    return texts, skipped


def whole(argv: list[str]) -> int:
    """data-selection 1.0.3 end to end: fit, weights, resample; selection written to --out-dir.

    Its defaults (``num_tokens_to_fit="auto"``, 10,000 buckets, WordPunct, min length 100);
    ``--top-k`` takes the k largest weights (the mode whose set tamis's ``--reference --method
    topk`` reproduces); without it, Gumbel top-k with numpy's global RNG (``--seed`` seeds it).
    """
    ap = argparse.ArgumentParser(prog="reference_dsir.py whole", description=whole.__doc__)
    ap.add_argument("--target", nargs="+", required=True, help="target .jsonl file(s)")
    ap.add_argument("--raw", nargs="+", required=True, help="raw .jsonl file(s)")
    ap.add_argument("-k", type=int, required=True)
    ap.add_argument("--out-dir", required=True, help="selection (one .jsonl per shard)")
    ap.add_argument("--cache-dir", required=True, help="the reference's cache (weights)")
    ap.add_argument("--num-proc", type=int, default=1)
    ap.add_argument("--top-k", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    import numpy as np
    from data_selection import HashedNgramDSIR

    if args.seed is not None:
        np.random.seed(args.seed)
    dsir = HashedNgramDSIR(args.raw, args.target, cache_dir=args.cache_dir, num_proc=args.num_proc)
    dsir.fit_importance_estimator()
    dsir.compute_importance_weights()
    dsir.resample(out_dir=args.out_dir, num_to_sample=args.k, top_k=args.top_k)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["whole"]:
        return whole(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, help="parquet file")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--limit", type=int, default=None, help="max documents (default: all)")
    ap.add_argument("--out", required=True, help="output JSON path ('-' for stdout)")
    ap.add_argument(
        "--dump-features",
        type=int,
        default=0,
        metavar="K",
        help="include bucket counts of the first K docs in the JSON",
    )
    ap.add_argument("--num-buckets", type=int, default=10000)
    ap.add_argument("--ngrams", type=int, default=2)
    ap.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="untimed warm-up calls on the first docs (default 20)",
    )
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit <= 0:
        _die("--limit must be positive")
    if args.dump_features < 0:
        _die("--dump-features must be >= 0")
    if not os.path.isfile(args.input):
        _die(f"corpus {args.input} not found (build it with `make corpus`, or pass --input PATH)")

    warnings.simplefilter("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import data_selection
        import nltk
        import numpy as np
        from data_selection.hashed_ngram_dsir import get_ngram_counts, wpt
    except ImportError as e:
        _die(
            f"reference not importable with {sys.executable}: {e} "
            "(pip install data-selection==1.0.3 nltk==3.9.4 pyarrow numpy)"
        )
    if data_selection.__version__ != "1.0.3":
        print(
            f"reference_dsir: warning: data-selection {data_selection.__version__} != 1.0.3",
            file=sys.stderr,
        )

    texts, skipped = load_texts(args.input, args.text_column, args.limit)
    if not texts:
        _die("no non-null texts loaded")
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)

    n, nb = args.ngrams, args.num_buckets
    tok = wpt.tokenize  # == HashedNgramDSIR(tokenizer='wordpunct').tokenizer

    def featurize(text):
        # identical to HashedNgramDSIR.featurizer
        return get_ngram_counts(text, tokenizer=tok, num_buckets=nb, n=n)

    for t in texts[: max(0, args.warmup)]:
        featurize(t)

    t0 = time.perf_counter()
    for t in texts:
        featurize(t)
    seconds = time.perf_counter() - t0

    result = {
        "impl": "data-selection 1.0.3",
        "mb_per_s": n_bytes / 1e6 / seconds,
        "docs_per_s": len(texts) / seconds,
        "n_docs": len(texts),
        "bytes": n_bytes,
        "seconds": seconds,
        "skipped_null": skipped,
        "params": {"num_buckets": nb, "ngrams": n, "tokenizer": "wordpunct"},
        "env": {
            "python": sys.version.split()[0],
            "data_selection": data_selection.__version__,
            "nltk": nltk.__version__,
            "numpy": np.__version__,
        },
    }
    if args.dump_features:
        feats, lengths = [], []
        remainder = n * (n - 1) / 2  # as in HashedNgramDSIR.get_perexample_metadata
        for t in texts[: args.dump_features]:
            c = featurize(t)
            nz = np.nonzero(c)[0]
            feats.append({str(int(b)): int(c[b]) for b in nz})
            lengths.append(int((c.sum() + remainder) // n))
        result["features"] = feats
        result["lengths"] = lengths

    payload = json.dumps(result, indent=None if args.dump_features else 2)
    if args.out == "-":
        sys.stdout.write(payload + "\n")
    else:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(payload + "\n")
        os.replace(tmp, args.out)
    print(
        f"reference_dsir: {len(texts)} docs, {n_bytes} bytes, {seconds:.3f}s, "
        f"{result['mb_per_s']:.3f} MB/s, {result['docs_per_s']:.1f} docs/s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
