"""MinHash dedup: tamis side by side with datasketch 2.0, rensa and gaoya, in one run.

Three measurements on the shared corpus (``--corpus``, default data/corpus/pool.parquet, built by
``make corpus``):

1. signature throughput from raw text, one thread (MB of text per second per core), word 5-gram
   shingles, 128 permutations; rensa and datasketch get their shingles from Python (as users feed
   them), gaoya and tamis shingle in Rust;
2. end-to-end dedup of a seeded random sample of documents at Jaccard 0.8 (signatures, LSH, clusters),
   each tool in its own subprocess so that peak RSS is its own (``ru_maxrss``);
3. precision / recall of the pairs each tool reports on the ``licenses`` domain against the exact
   Jaccard (>= 0.8) of word 5-gram shingle sets, computed by brute force;
4. (``cli``) the same sample deduplicated end to end by whole processes, side by side:
   ``tamis dedup`` through its CLI at 1 and 2 threads, and rensa / datasketch pipelines that read
   the file, deduplicate and write the kept rows (``benches/_dedup_pipelines.py``): wall and CPU
   seconds from start-up to the written file, peak RSS of each process, the load of the machine.

Usage: python benches/dedup.py [--corpus PATH] [--n-docs 20000] [--sig-docs 2000]
                               [--tools tamis,rensa,...] [--quick]
Writes bench-results/dedup.json (bench-results/tmp/dedup.json with --quick), keeping the sections
and tools of an earlier run that this one skipped. A tool that is not installed is skipped, with
a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from _common import add_corpus_arg, add_quick_arg, corpus_path, out_path

WORDPUNCT = re.compile(r"\w+|[^\w\s]+")
NUM_PERM = 128
THRESHOLD = 0.8
NGRAM = 5


def shingle_strs(text: str, n: int = NGRAM) -> list[str]:
    toks = WORDPUNCT.findall(text.lower())
    if not toks:
        return []
    w = min(n, len(toks))
    return [" ".join(toks[i : i + w]) for i in range(len(toks) - w + 1)]


def rss_mb(field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) RSS of this process image; unlike ru_maxrss, VmHWM does
    not inherit the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def components(n: int, pairs) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


# ---------------------------------------------------------------- per-tool pair/cluster finders


def pairs_datasketch(texts: list[str]) -> set[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    mhs = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode() for s in shingle_strs(t)])
        mhs.append(m)
        lsh.insert(i, m)
    out = set()
    for i, m in enumerate(mhs):
        out |= {(min(i, j), max(i, j)) for j in lsh.query(m) if j != i}
    return out


def pairs_rensa(texts: list[str]) -> set[tuple[int, int]]:
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(THRESHOLD, NUM_PERM, 16)
    mhs = []
    for i, t in enumerate(texts):
        m = RMinHash(NUM_PERM, 42)
        m.update(shingle_strs(t))
        mhs.append(m)
        lsh.insert(i, m)
    out = set()
    for i, m in enumerate(mhs):
        out |= {(min(i, j), max(i, j)) for j in lsh.query(m) if j != i}
    return out


def pairs_gaoya(texts: list[str]) -> set[tuple[int, int]]:
    from gaoya.minhash import MinHashStringIndex

    index = MinHashStringIndex(32, THRESHOLD, 21, 6, None, "word", True, (NGRAM, NGRAM))
    index.par_bulk_insert_docs(list(range(len(texts))), texts)
    out = set()
    for i, hits in enumerate(index.par_bulk_query(texts)):
        out |= {(min(i, j), max(i, j)) for j in hits if j != i}
    return out


def pairs_tamis(texts: list[str], verify: str = "estimate", **kw) -> set[tuple[int, int]]:
    import tamis

    d = tamis.MinHashDeduplicator(threshold=THRESHOLD, exact=False, verify=verify, **kw)
    d.fit(texts)
    sig = d.signatures_
    cand = tamis.candidate_pairs(sig, num_bands=d.num_bands_, rows=d.rows_)
    if verify == "none" or len(cand) == 0:
        return {(int(a), int(b)) for a, b in cand}
    if verify == "estimate":
        keep = (sig[cand[:, 0]] == sig[cand[:, 1]]).mean(axis=1) >= THRESHOLD
        return {(int(a), int(b)) for a, b in cand[keep]}
    sets = [set(shingle_strs(t)) for t in texts]
    return {
        (int(a), int(b))
        for a, b in cand
        if len(sets[a] & sets[b]) / max(1, len(sets[a] | sets[b])) >= THRESHOLD
    }


# ---------------------------------------------------------------- workers (subprocesses)


def worker(tool: str, path: str, n_threads: int | None) -> dict:
    # Import the tool before the clock starts: the time and memory measured are the work's.
    __import__(tool.split("-")[0] if tool != "gaoya" else "gaoya.minhash")
    base = rss_mb()
    loaded = base
    ru = resource.getrusage(resource.RUSAGE_SELF)
    c0 = ru.ru_utime + ru.ru_stime
    t0 = time.perf_counter()
    if tool == "tamis":  # streaming from the file, as the CLI does
        import tamis

        d = tamis.MinHashDeduplicator(
            threshold=THRESHOLD, num_perm=NUM_PERM, n_threads=n_threads, verify="estimate"
        )
        for batch in tamis.read_batches(Path(path), batch_size=4096):
            d.add(batch.column("text"))
        d.cluster()
        removed = int((~d.keep_mask_).sum())
    elif tool == "tamis-exact":  # streaming, exact verification (a second pass for the sets)
        import tamis

        d = tamis.MinHashDeduplicator(
            threshold=THRESHOLD, num_perm=NUM_PERM, n_threads=n_threads, verify="exact"
        )
        for batch in tamis.read_batches(Path(path), batch_size=4096):
            d.add(batch.column("text"))
        d.add_shingle_sets(
            b.column("text") for b in tamis.read_batches(Path(path), batch_size=4096)
        )
        d.cluster()
        removed = int((~d.keep_mask_).sum())
    elif tool == "tamis-table":  # the texts loaded first, like the other tools
        import tamis

        col = pq.read_table(path, columns=["text"]).column("text")
        loaded = rss_mb("VmRSS")
        d = tamis.MinHashDeduplicator(
            threshold=THRESHOLD, num_perm=NUM_PERM, n_threads=n_threads, verify="estimate"
        )
        removed = int((~d.fit(col).keep_mask_).sum())
    else:
        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
        loaded = rss_mb("VmRSS")
        finder = {"datasketch": pairs_datasketch, "rensa": pairs_rensa, "gaoya": pairs_gaoya}[tool]
        roots = components(len(texts), finder(texts))
        removed = int((roots != np.arange(len(texts))).sum())
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": ru.ru_utime + ru.ru_stime - c0,
        "peak_rss_mb": rss_mb(),
        "base_rss_mb": base,
        "loaded_rss_mb": loaded,
        "work_mb": rss_mb() - loaded,
        "removed": removed,
    }


def run_worker(tool: str, path: str, n_threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", tool, "--parquet", path]
    if n_threads:
        cmd += ["--threads", str(n_threads)]
    env = {**os.environ, "RAYON_NUM_THREADS": str(n_threads or "")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- measurements


def signature_throughput(texts: list[str], tools: list[str]) -> dict:
    nbytes = sum(len(t.encode()) for t in texts)
    res = {}

    def timed(name, fn):
        fn(texts[:50])  # warm-up
        c0, t0 = time.process_time(), time.perf_counter()
        fn(texts)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        res[name] = {
            "seconds": dt,
            "cpu_seconds": dc,
            "mb_per_s": nbytes / dt / 1e6,
            "mb_per_cpu_s": nbytes / dc / 1e6,
        }
        print(
            f"  {name:<28} {nbytes / dc / 1e6:8.1f} MB/s per core (CPU time)"
            f"  {nbytes / dt / 1e6:8.1f} MB/s wall",
            flush=True,
        )

    if "tamis" in tools:
        import tamis

        arr = pa.array(texts, pa.large_string())
        timed(
            "tamis fast",
            lambda t: tamis.minhash_signatures(arr if len(t) == len(texts) else t, n_threads=1),
        )
        timed(
            "tamis affine32 (datasketch)",
            lambda t: tamis.minhash_signatures(
                arr if len(t) == len(texts) else t, scheme="affine32", n_threads=1
            ),
        )
    if "rensa" in tools:
        from rensa import RMinHash

        def rensa_sig(ts):
            for t in ts:
                RMinHash(NUM_PERM, 42).update(shingle_strs(t))

        timed("rensa (Python shingles)", rensa_sig)
    if "gaoya" in tools:
        from gaoya.minhash import MinHashStringIndex

        def gaoya_sig(ts):
            idx = MinHashStringIndex(32, THRESHOLD, 21, 6, None, "word", True, (NGRAM, NGRAM))
            for i, t in enumerate(ts):
                idx.insert_document(i, t)

        timed("gaoya (insert, 1 thread)", gaoya_sig)
    if "datasketch" in tools:
        from datasketch import MinHash

        def ds_sig(ts):
            for t in ts:
                MinHash(num_perm=NUM_PERM).update_batch([s.encode() for s in shingle_strs(t)])

        timed("datasketch", ds_sig)
    return {"bytes": nbytes, "docs": len(texts), "tools": res}


def accuracy(texts: list[str], tools: list[str]) -> dict:
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        for s in set(shingle_strs(t)):
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    a = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(vocab))
    )
    inter = (a @ a.T).toarray()
    size = np.asarray(a.sum(axis=1)).ravel()
    union = size[:, None] + size[None, :] - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 0)
    iu = np.triu_indices(len(texts), 1)
    truth = {(int(i), int(j)) for i, j in zip(*iu) if jac[i, j] >= THRESHOLD}
    print(f"  {len(texts)} docs, {len(truth)} pairs with J >= {THRESHOLD}", flush=True)
    finders = {}
    if "datasketch" in tools:
        finders["datasketch (9x13 LSH)"] = pairs_datasketch
    if "rensa" in tools:
        finders["rensa (16x8 LSH)"] = pairs_rensa
    if "gaoya" in tools:
        finders["gaoya (21x6 + check)"] = pairs_gaoya
    if "tamis" in tools:
        finders["tamis (estimate)"] = pairs_tamis
        finders["tamis (exact verify)"] = lambda t: pairs_tamis(t, verify="exact")
        finders["tamis (exact, 20x6 bands)"] = lambda t: pairs_tamis(
            t, verify="exact", num_bands=20, rows=6
        )
    res = {"docs": len(texts), "true_pairs": len(truth), "tools": {}}
    for name, fn in finders.items():
        t0 = time.perf_counter()
        got = fn(texts)
        dt = time.perf_counter() - t0
        tp = len(got & truth)
        p = tp / len(got) if got else 1.0
        r = tp / len(truth) if truth else 1.0
        res["tools"][name] = {"precision": p, "recall": r, "pairs": len(got), "seconds": dt}
        print(f"  {name:<28} precision {p:.4f}  recall {r:.4f}  ({len(got)} pairs)", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arg(ap)
    ap.add_argument("--n-docs", type=int, default=20_000)
    ap.add_argument("--sig-docs", type=int, default=2_000)
    ap.add_argument(
        "--acc-docs", type=int, default=None, help="licenses documents for accuracy (default all)"
    )
    ap.add_argument("--tools", default="tamis,rensa,gaoya,datasketch")
    ap.add_argument("--skip", default="", help="sections to skip: sig,e2e,acc,cli,recall")
    ap.add_argument("--recall-pairs", type=int, default=1200, help="controlled pairs (recall)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of the cli section (best kept)")
    ap.add_argument("--out", default=None, help="default bench-results/dedup.json")
    add_quick_arg(ap)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--parquet", default=None)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.parquet, args.threads)))
        return 0
    import tamis

    if tamis._core.build_profile != "release":
        sys.exit("refusing to benchmark a debug build")
    corpus = corpus_path(args.corpus, "dedup")
    if args.quick:
        args.n_docs, args.sig_docs = min(args.n_docs, 2_000), min(args.sig_docs, 300)
        args.acc_docs = min(args.acc_docs or 400, 400)
    tools = []
    for t in args.tools.split(","):
        if t == "tamis" or importlib.util.find_spec(t) is not None:
            tools.append(t)
        else:
            print(f"dedup: skipping {t} (not installed: pip install {t})", file=sys.stderr)
    skip = set(args.skip.split(","))
    pool = pq.read_table(corpus, columns=["text", "domain"])
    rng = np.random.default_rng(0)
    out: dict = {
        "cpu_count": os.cpu_count(),
        "num_perm": NUM_PERM,
        "threshold": THRESHOLD,
        "ngram": NGRAM,
    }
    if "sig" not in skip:
        idx = np.sort(rng.choice(pool.num_rows, args.sig_docs, replace=False))
        texts = pool.column("text").take(pa.array(idx)).to_pylist()
        print(f"signatures, 1 thread, {args.sig_docs} docs:", flush=True)
        out["signatures"] = signature_throughput(texts, tools)
    if "e2e" not in skip:
        idx = np.sort(np.random.default_rng(1).choice(pool.num_rows, args.n_docs, replace=False))
        sample = pool.take(pa.array(idx))
        mb = pc.sum(pc.binary_length(sample.column("text"))).as_py() / 1e6
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "sample.parquet")
            # Row groups of 2,000 documents, as a large corpus would be written. (pyarrow's
            # streaming reader still peaks far above one row group: see "work" of tamis stream.)
            pq.write_table(sample, path, row_group_size=2000)
            print(f"end to end, {args.n_docs} docs ({mb:.0f} MB), J >= {THRESHOLD}:", flush=True)
            e2e = {"docs": args.n_docs, "mb": mb, "tools": {}}
            runs = [(t, None) for t in tools if t != "tamis"]
            if "tamis" in tools:
                runs = [
                    ("tamis", 1),
                    ("tamis", None),
                    ("tamis-table", 1),
                    ("tamis-exact", 1),
                    *runs,
                ]
            for tool, nt in runs:
                name = tool
                if tool == "tamis":
                    name = f"tamis stream, {nt or os.cpu_count()}t"
                elif tool == "tamis-table":
                    name = f"tamis table, {nt}t"
                elif tool == "tamis-exact":
                    name = f"tamis exact, {nt}t"
                r = run_worker(tool, path, nt)
                e2e["tools"][name] = r
                if "error" in r:
                    print(f"  {name:<22} error: {r['error']}", flush=True)
                else:
                    print(
                        f"  {name:<22} {r['seconds']:7.1f} s wall {r['cpu_seconds']:7.1f} s CPU  "
                        f"peak {r['peak_rss_mb']:4.0f} MB (imports {r['base_rss_mb']:3.0f}, "
                        f"texts loaded {r['loaded_rss_mb']:4.0f}, work {r['work_mb']:4.0f})  "
                        f"removed {r['removed']}",
                        flush=True,
                    )
            out["end_to_end"] = e2e
    if "cli" not in skip:
        from _dedup_pipelines import cli_section

        out["cli"] = cli_section(pool, args.n_docs, tools, args.repeat)
    if "acc" not in skip:
        lic = pool.filter(pc.equal(pool.column("domain"), "licenses")).column("text").to_pylist()
        lic = lic[: args.acc_docs]
        print("accuracy on licenses:", flush=True)
        out["accuracy"] = accuracy(lic, tools)
    if "recall" not in skip:
        from _dedup_recall import recall_section

        out["recall"] = recall_section(pool.column("text").to_pylist(), tools, args.recall_pairs)
    dest = out_path(args.out, "dedup.json", args.quick)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():  # keep the sections and tools this run skipped
        old = json.loads(dest.read_text())
        for key, sec in out.items():
            if isinstance(sec, dict) and "tools" in sec and isinstance(old.get(key), dict):
                sec["tools"] = {**old[key].get("tools", {}), **sec["tools"]}
        out = {**old, **out}
    dest.write_text(json.dumps(out, indent=2))
    print(f"-> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
