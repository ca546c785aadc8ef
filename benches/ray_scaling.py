"""Local backend vs the Ray backend on one machine: the overhead of Ray, same results.

On a seeded sample of the shared corpus (``--corpus``, default data/corpus/pool.parquet, built
by ``make corpus``) it runs, side by side in one process: DSIR (fit + resample, k = 1% of the
sample) and MinHash dedup (Jaccard 0.8, estimate verification; on Ray also with
``verify_on="workers", components="ray"``: "dedup-w"), locally and on a local Ray cluster
(``ray.init(num_cpus=...)``), checks that the selections / keep masks are identical and reports
wall times and the Ray / local ratio. Ray's own start-up (``ray.init``) is timed separately and
not included in the ratios.

Usage: python benches/ray_scaling.py [--corpus PATH] [--n-docs 20000] [--cpus 2] [--blocks 8]
                                     [--quick]
Writes bench-results/ray_scaling.json (bench-results/tmp/ with --quick). Needs the ray extra.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import tamis
from _common import add_corpus_arg, add_quick_arg, corpus_path, need, out_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arg(ap)
    ap.add_argument("--n-docs", type=int, default=20_000)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="Rust threads per task (local too)")
    ap.add_argument("--out", default=None, help="default bench-results/ray_scaling.json")
    add_quick_arg(ap)
    args = ap.parse_args()
    corpus = corpus_path(args.corpus, "ray_scaling")
    need("ray_scaling", "ray", "the ray extra: pip install -e '.[ray]'", args.quick)
    if args.quick:
        args.n_docs, args.blocks = min(args.n_docs, 2_000), min(args.blocks, 4)

    table = pq.read_table(corpus, columns=["id", "text", "domain"])
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(table.num_rows, size=min(args.n_docs, table.num_rows), replace=False))
    raw = table.take(pa.array(idx))
    target = table.filter(pa.compute.equal(table.column("domain"), "python-docs")).slice(0, 2000)
    target = target.select(["text"])
    k = max(1, raw.num_rows // 100)
    rows = []

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    params = {"n_buckets": 10_000, "min_length": 20, "n_threads": args.threads}
    local_sel, t_dsir_local = timed(
        lambda: tamis.ImportanceResampler(**params).fit(target, raw).resample(raw, k)
    )

    import ray

    from tamis import ray as tray

    _, t_init = timed(
        lambda: (
            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False),
            tray.init(),
        )
    )

    def ray_dsir():
        r = tray.dsir_fit(tamis.ImportanceResampler(**params), target, raw, num_blocks=args.blocks)
        return tray.dsir_resample(r, raw, k, num_blocks=args.blocks)

    ray_sel, t_dsir_ray = timed(ray_dsir)
    same = ray_sel.equals(local_sel)
    rows.append(("dsir", raw.num_rows, t_dsir_local, t_dsir_ray, same))

    texts = raw.select(["text", "id"])
    dparams = {"threshold": 0.8, "verify": "estimate", "n_threads": args.threads}
    local_d, t_dd_local = timed(
        lambda: tamis.MinHashDeduplicator(**dparams).fit(texts.column("text"))
    )
    ray_d, t_dd_ray = timed(
        lambda: tray.dedup(tamis.MinHashDeduplicator(**dparams), texts, num_blocks=args.blocks)
    )
    same = bool(np.array_equal(ray_d.keep_mask, local_d.keep_mask_)) and bool(
        np.array_equal(ray_d.cluster_id, local_d.cluster_id_)
    )
    rows.append(("dedup", raw.num_rows, t_dd_local, t_dd_ray, same))
    ray_w, t_dd_w = timed(
        lambda: tray.dedup(
            tamis.MinHashDeduplicator(**dparams),
            texts,
            num_blocks=args.blocks,
            verify_on="workers",
            components="ray",
        )
    )
    same = bool(np.array_equal(ray_w.cluster_id, local_d.cluster_id_))
    rows.append(("dedup-w", raw.num_rows, t_dd_local, t_dd_w, same))
    ray.shutdown()

    print(f"ray.init: {t_init:.2f} s (num_cpus={args.cpus}, blocks={args.blocks})")
    print(f"{'pipeline':<8} {'docs':>8} {'local s':>9} {'ray s':>9} {'ray/local':>10} {'same':>5}")
    for name, n, tl, tr, ok in rows:
        print(f"{name:<8} {n:>8} {tl:>9.2f} {tr:>9.2f} {tr / tl:>10.1f} {ok!s:>5}")
    out = {
        "n_docs": raw.num_rows,
        "cpus": args.cpus,
        "blocks": args.blocks,
        "ray_version": ray.__version__,
        "ray_init_s": t_init,
        "results": [
            {"pipeline": n, "local_s": tl, "ray_s": tr, "ratio": tr / tl, "identical": ok}
            for n, _, tl, tr, ok in rows
        ],
    }
    dest = out_path(args.out, "ray_scaling.json", args.quick)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2))
    print(f"-> {dest}")


if __name__ == "__main__":
    main()
