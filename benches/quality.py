"""Quality filtering against its peers, side by side in one run.

Sections (one function each, selected with ``--sections``; others add theirs to SECTIONS):

- ``rules_agreement``: tamis's heuristic rules vs datatrove 0.10.1's filters running spaCy,
  per family: keep/drop agreement, identical reasons among agreed drops, and every disagreement
  written to the JSON (with the two reasons) so each class can be explained.
- ``rules_speed``: documents per second of the four rule families, tamis on one thread and on
  all cores vs datatrove's four filters called per document (as a datatrove pipeline does),
  on the same documents.

    python benches/quality.py                    # full corpus agreement, 3000-doc speed sample
    python benches/quality.py --quick            # a smoke test (results under bench-results/tmp)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_corpus_arg, add_quick_arg, corpus_path, out_path
from tamis.quality import FAMILIES, QualityRules


def datatrove_filters() -> dict[str, Any]:
    """datatrove's four filters with their defaults (English: spaCy words and sentences)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher": GopherQualityFilter(),
        "gopher-repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(),
    }


def datatrove_reason(flt: Any, text: str) -> str | None:
    """The filter's reason (``None``: kept; ``error:...`` when datatrove raises)."""
    from datatrove.data import Document

    try:
        out = flt.filter(Document(text=text, id="0"))
    except Exception as e:  # ZeroDivisionError on degenerate documents
        return f"error:{type(e).__name__}"
    return None if out is True else out[1]


def load_datatrove_cache(pattern: str) -> dict[int, dict[str, str | None]]:
    """Corpus row -> datatrove's reason per family, from ``quality_rules_oracle.py`` caches."""
    import glob

    out: dict[int, dict[str, str | None]] = {}
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a torn last line of a running oracle
                    continue
                out[rec["row"]] = rec["reasons"]
    return out


def rules_agreement(texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    rows = list(range(len(texts)))
    theirs: dict[str, list[str | None]] = {f: [] for f in FAMILIES}
    if args.datatrove_cache:  # decisions computed by benches/quality_rules_oracle.py
        if args.stride != 1 or args.limit:
            raise SystemExit("--datatrove-cache holds corpus rows: use it without --stride/--limit")
        cache = load_datatrove_cache(args.datatrove_cache)
        rows = sorted(cache)
        texts = [texts[i] for i in rows]
        for f in FAMILIES:
            theirs[f] = [cache[i][f] for i in rows]
        out["datatrove_cache"] = args.datatrove_cache
        out["documents_covered"] = len(rows)
    else:
        filters = datatrove_filters()
        for text in texts:  # all four filters per document: datatrove's word cache hits
            for f, flt in filters.items():
                theirs[f].append(datatrove_reason(flt, text))
    ours = {f: QualityRules(f).decide(texts).reason().to_pylist() for f in FAMILIES}
    for f in FAMILIES:
        a, b = ours[f], theirs[f]
        same_keep = sum((x is None) == (y is None) for x, y in zip(a, b, strict=True))
        agreed_drops = [
            (x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None
        ]
        same_reason = sum(x == y for x, y in agreed_drops)
        diffs = Counter(
            (x or "keep", y or "keep")
            for x, y in zip(a, b, strict=True)
            if (x is None) != (y is None) or x != y
        )
        examples = [
            {"row": rows[i], "tamis": x, "datatrove": y, "text": texts[i][:300]}
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            if x != y
        ][:40]
        out[f] = {
            "documents": len(texts),
            "keep_drop_agreement": same_keep / len(texts),
            "agreed_drops": len(agreed_drops),
            "same_reason_among_agreed_drops": same_reason / max(len(agreed_drops), 1),
            "dropped_tamis": sum(x is not None for x in a),
            "dropped_datatrove": sum(y is not None for y in b),
            "disagreements": {f"{x} | {y}": n for (x, y), n in diffs.most_common()},
            "examples": examples,
        }
        print(
            f"{f:18s} keep/drop {100 * out[f]['keep_drop_agreement']:.3f}%  same reason "
            f"{100 * out[f]['same_reason_among_agreed_drops']:.3f}% of {len(agreed_drops)} drops",
            file=sys.stderr,
        )
    out["datatrove_seconds"] = time.perf_counter() - t0
    return out


def rules_speed(texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    n = min(len(texts), 300 if args.quick else 3000)
    sample = texts[:n]
    filters = datatrove_filters()
    for flt in filters.values():  # load spaCy before timing
        datatrove_reason(flt, "Warm up. The tokenizer loads here.")
    t0 = time.perf_counter()
    for text in sample:
        for flt in filters.values():
            datatrove_reason(flt, text)
    dt = time.perf_counter() - t0
    res: dict[str, Any] = {"documents": n, "datatrove_1_core_docs_per_s": n / dt}
    for threads in (1, os.cpu_count() or 1):
        rules = QualityRules(n_threads=threads)
        rules.decide(sample[:10])
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            rules.decide(sample)
            best = min(best, time.perf_counter() - t0)
        res[f"tamis_{threads}_threads_docs_per_s"] = n / best
    res["speedup_per_core"] = res["tamis_1_threads_docs_per_s"] / res["datatrove_1_core_docs_per_s"]
    print(
        f"rules: datatrove {res['datatrove_1_core_docs_per_s']:.0f} docs/s, tamis 1 thread "
        f"{res['tamis_1_threads_docs_per_s']:.0f} docs/s ({res['speedup_per_core']:.1f}x)",
        file=sys.stderr,
    )
    return res


SECTIONS: dict[str, Callable[[list[str], argparse.Namespace], dict[str, Any]]] = {
    "rules_agreement": rules_agreement,
    "rules_speed": rules_speed,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_corpus_arg(ap)
    add_quick_arg(ap)
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--limit", type=int, default=None, help="first N documents only")
    ap.add_argument("--stride", type=int, default=1, help="every STRIDE-th document only")
    ap.add_argument("-o", "--output", default=None, help="JSON results")
    ap.add_argument(
        "--datatrove-cache",
        default=None,
        metavar="GLOB",
        help="rules_agreement: datatrove's decisions from benches/quality_rules_oracle.py "
        "(the rows they cover) instead of running datatrove here",
    )
    args = ap.parse_args()
    path = corpus_path(args.corpus, "quality")
    texts = pq.read_table(path, columns=["text"])["text"].to_pylist()
    texts = texts[:: args.stride]
    limit = args.limit or (1000 if args.quick else None)
    if limit:
        texts = texts[:limit]
    results: dict[str, Any] = {"corpus": path, "documents": len(texts), "stride": args.stride}
    for name in args.sections.split(","):
        results[name] = SECTIONS[name](texts, args)
    out = out_path(args.output, "quality.json", args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
