"""datatrove's rule decisions for the corpus, resumable: the slow half of ``rules_agreement``.

datatrove 0.10.1's four filters running spaCy decide about 3-6 documents per second per core,
so the whole shared corpus (~51k documents) takes hours. This script appends one JSON line per
document (``{"row": i, "reasons": {family: reason or null}}``) to a cache file, skips the rows
already there, and visits the corpus in rounds of stride 25 (offsets 1..24, then 0, which the
stride-25 run covered first), so whatever part is done is a uniform sample. ``--worker W
--workers N`` splits the offsets between processes. ``benches/quality.py --sections
rules_agreement --datatrove-cache FILE`` then compares tamis with the cached decisions.

    nice python benches/quality_rules_oracle.py --cache bench-results/tmp/datatrove_reasons.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_corpus_arg, corpus_path
from quality import datatrove_filters, datatrove_reason

STRIDE = 25


def cached_rows(path: Path) -> set[int]:
    """Rows whose decisions the cache holds (a torn last line is ignored)."""
    rows: set[int] = set()
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.add(json.loads(line)["row"])
            except (json.JSONDecodeError, KeyError):
                continue
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arg(ap)
    ap.add_argument("--cache", required=True, help="JSONL file of decisions (appended to)")
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    texts = pq.read_table(corpus_path(args.corpus, "quality"), columns=["text"])["text"]
    cache = Path(args.cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    done = cached_rows(cache)
    filters = datatrove_filters()
    offsets = [o for o in [*range(1, STRIDE), 0] if o % args.workers == args.worker]
    t0, n = time.perf_counter(), 0
    with cache.open("a") as out:
        for off in offsets:
            for row in range(off, len(texts), STRIDE):
                if row in done:
                    continue
                text = texts[row].as_py()
                reasons = {f: datatrove_reason(flt, text) for f, flt in filters.items()}
                out.write(json.dumps({"row": row, "reasons": reasons}) + "\n")
                out.flush()
                n += 1
                if n % 500 == 0:
                    rate = n / (time.perf_counter() - t0)
                    print(f"{n} documents, {rate:.1f} docs/s", file=sys.stderr)


if __name__ == "__main__":
    main()
