"""l_p sensitivity-sampling coresets: quality table and speed vs numpy, in one run.

Protocol (issue 5): A is n × d with heavy-tailed rows (Gaussian × Pareto(1.5) row scale) and
`rare` columns used by only 3 rows each; b = A x* + Student-t(2) noise. For p = 1 and p = 3 and
each scheme, coresets of expected size k (Bernoulli sampler unless stated) over several seeds:
  distortion = worst |(Σ w_j |a_jᵀx|^p / ||Ax||_p^p)^{1/p} − 1| over random, singular-vector,
               axis and high-leverage-row directions (tamis.sensitivity.embedding_distortion);
  regression = ||A x_S − b||_p^p / ||A x* − b||_p^p with x_S the l_p regression (IRLS) solution on
               the coreset of [A b] and x* the one on all rows.
Timing: tamis (Rust, faer) vs numpy (OpenBLAS) implementations of the same algorithms at the same
tolerance, in the same process: exact leverage (numpy Householder QR, and numpy Gram/Cholesky),
sketched leverage (CountSketch, m = 4d²), Lewis weights p = 1 and p = 3.

    python benches/coreset.py                  # n=200000 d=64 k=2000, 5 seeds
    python benches/coreset.py --n 50000 --seeds 3
    python benches/coreset.py --quick          # n=20000 d=16 k=500, 1 seed: a smoke test
Synthetic data: no corpus needed. Writes bench-results/coreset.json (bench-results/tmp/ with
--quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import tamis
from _common import add_quick_arg, out_path
from tamis import _core
from tamis.sensitivity import (
    _directions,
    _sample_raw,
    leverage_scores,
    lewis_weights,
    lp_regression,
)

PROTOTYPE = (
    "distortion uniform p=1 1.92/3.35, Lewis+Bernoulli p=1 0.105/0.116, uniform p=3 1.00/3.21, "
    "Lewis+Bernoulli p=3 0.017/0.018; regression Lewis p=1 1.009, root leverage p=1 1.006, "
    "uniform up to 1.29 (p=1) and 2.1 (p=3)"
)


def make_data(n, d, rare, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)) * rng.pareto(1.5, size=(n, 1))
    for j in range(d - rare, d):
        A[:, j] = 0.0
        rows = rng.choice(n, size=3, replace=False)
        A[rows, j] = rng.standard_normal(3) * 10
    x_star = rng.standard_normal(d)
    b = A @ x_star + rng.standard_t(2, size=n)
    return A, b


# ---------------------------------------------------------------- numpy reference implementations
def np_qr_leverage(A):
    Q, _ = np.linalg.qr(A)
    return np.einsum("ij,ij->i", Q, Q)


def np_gram_leverage(A, c=None):
    """a_iᵀ(Aᵀ diag(c) A)⁻¹a_i by Gram → Cholesky → L⁻¹ (BLAS gemm), as in the prototype."""
    G = A.T @ A if c is None else (A * c[:, None]).T @ A
    L = np.linalg.cholesky(G)
    Y = A @ np.linalg.inv(L).T
    return np.einsum("ij,ij->i", Y, Y)


def np_lewis(A, p, tol, max_iter=100):
    w = np.ones(A.shape[0])
    for it in range(1, max_iter + 1):
        new = np_gram_leverage(A, w ** (1 - 2 / p)) ** (p / 2)
        change = np.max(np.abs(np.log(new / w)))
        w = new
        if change < tol:
            return w, it
    return w, max_iter


def np_sketch_leverage(A, m, seed):
    n, d = A.shape
    rng = np.random.default_rng(seed)
    h = rng.integers(0, m, n)
    s = rng.choice([-1.0, 1.0], n)
    SA = np.stack([np.bincount(h, weights=s * A[:, j], minlength=m) for j in range(d)], axis=1)
    R = np.linalg.qr(SA, mode="r")
    Y = A @ np.linalg.inv(R)
    return np.einsum("ij,ij->i", Y, Y)


def timed(fn, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# ---------------------------------------------------------------- quality
def lp_cost(A, b, x, p):
    return float(np.sum(np.abs(A @ x - b) ** p))


def scheme_scores(M, p, scheme, tau, w):
    lewis = M.shape[1] ** max(0.0, p / 2 - 1) * w
    return {
        "uniform": np.ones(M.shape[0]),
        "leverage": tau,
        "lewis": lewis,
        "root_leverage": tau ** (p / 2),
        "mixed": 0.5 * tau / tau.sum() + 0.5 * lewis / lewis.sum(),
    }[scheme]


def quality(A, b, k, seeds, ps):
    rows = []
    rng = np.random.default_rng(123)
    X = _directions(A, 64, 32, rng)
    Ab = np.column_stack([A, b])
    for p in ps:
        full_norm = np.sum(np.abs(A @ X) ** p, axis=0)
        ok = full_norm > 0
        x_full = lp_regression(A, b, p, tol=1e-9)
        c_full = lp_cost(A, b, x_full, p)
        configs = [
            ("uniform", "bernoulli"),
            ("leverage", "bernoulli"),
            ("lewis", "bernoulli"),
            ("lewis", "iid"),
            ("root_leverage", "bernoulli"),
            ("mixed", "bernoulli"),
        ]
        # Leverage and Lewis weights once per matrix; the schemes are the formulas that
        # sensitivity_scores applies (tests/test_sensitivity.py::test_scores_schemes checks that).
        base = {id(M): (leverage_scores(M), lewis_weights(M, p, tol=1e-6)) for M in (A, Ab)}
        for scheme, method in configs:
            s_a = scheme_scores(A, p, scheme, *base[id(A)])
            s_ab = scheme_scores(Ab, p, scheme, *base[id(Ab)])
            dist, reg = [], []
            for seed in seeds:
                idx, w, _ = _sample_raw(s_a, k, method, seed, None)
                sub = w @ (np.abs(A[idx] @ X) ** p)
                dist.append(float(np.max(np.abs((sub[ok] / full_norm[ok]) ** (1 / p) - 1))))
                idx, w, _ = _sample_raw(s_ab, k, method, seed, None)
                x_s = lp_regression(A[idx], b[idx], p, weights=w, tol=1e-9)
                reg.append(lp_cost(A, b, x_s, p) / c_full)
            row = {
                "p": p,
                "scheme": scheme,
                "sampler": method,
                "distortion_median": float(np.median(dist)),
                "distortion_worst": float(np.max(dist)),
                "regression_median": float(np.median(reg)),
                "regression_worst": float(np.max(reg)),
            }
            rows.append(row)
            print(
                f"p={p:<3g} {scheme:>13} {method:>9}  distortion {row['distortion_median']:.3f} / "
                f"{row['distortion_worst']:.3f}   regression {row['regression_median']:.4f} / "
                f"{row['regression_worst']:.4f}",
                flush=True,
            )
    return rows


def timing(A, tol):
    d = A.shape[1]
    m = 4 * d * d
    res = {}

    def pair(name, rust, ref, ref_name, repeat=2):
        tr, r_out = timed(rust, repeat)
        # numpy is timed with OpenBLAS on 1 thread and on its default thread count, and the faster
        # counts: on a loaded machine OpenBLAS's spinning threads can be 20x slower than 1 thread.
        with threadpool_limits(limits=1, user_api="blas"):
            tn1, n_out = timed(ref, 1)
        tnd, _ = timed(ref, 1)
        tn = min(tn1, tnd)
        res[name] = {
            "tamis_s": tr,
            "numpy_s": tn,
            "numpy_1thread_s": tn1,
            "numpy_default_threads_s": tnd,
            "speedup": tn / tr,
            "numpy_impl": ref_name,
        }
        print(
            f"{name:<26} tamis {tr:7.3f} s   numpy {tn:7.3f} s (best of 1 thread {tn1:.2f} s / "
            f"default {tnd:.2f} s; {ref_name})   {tn / tr:5.1f}x",
            flush=True,
        )
        return r_out, n_out

    tau, tau_qr = pair(
        "exact leverage", lambda: leverage_scores(A), lambda: np_qr_leverage(A), "QR"
    )
    res["exact leverage"]["max_abs_diff"] = float(np.max(np.abs(tau - tau_qr)))
    pair(
        "exact leverage (gram)",
        lambda: leverage_scores(A),
        lambda: np_gram_leverage(A),
        "Gram/Cholesky",
    )
    sk, _ = pair(
        "sketched leverage vs QR",
        lambda: leverage_scores(A, method="sketch", seed=0),
        lambda: np_qr_leverage(A),
        "QR exact",
    )
    r = sk / tau
    res["sketched leverage vs QR"]["ratio_range"] = [float(r.min()), float(r.max())]
    pair(
        "sketched leverage",
        lambda: leverage_scores(A, method="sketch", seed=0),
        lambda: np_sketch_leverage(A, m, 0),
        "CountSketch",
    )
    res.update(lewis_timing(A, tol))
    return res


def lewis_timing(A, tol, numpy_default=True):
    """Lewis weights, p = 1 and 3: tamis at 1 thread and at its default against numpy's fixed
    point at 1 BLAS thread (and at its default thread count unless ``numpy_default`` is false).
    The goal of issue 18 is >= 5x at equal threads (1 vs 1)."""
    res = {}
    for p in (1.0, 3.0):
        t1, (w, info) = timed(
            lambda p=p: lewis_weights(A, p, tol=tol, n_threads=1, return_info=True)
        )
        td, _ = timed(lambda p=p: lewis_weights(A, p, tol=tol, return_info=True))
        with threadpool_limits(limits=1, user_api="blas"):
            tn1, (wn, it_np) = timed(lambda p=p: np_lewis(A, p, tol))
        tnd = timed(lambda p=p: np_lewis(A, p, tol))[0] if numpy_default else None
        tn = min(tn1, tnd) if tnd is not None else tn1
        row = {
            "tamis_s": td,
            "tamis_1thread_s": t1,
            "numpy_s": tn,
            "numpy_1thread_s": tn1,
            "numpy_default_threads_s": tnd,
            "speedup": tn / td,
            "speedup_equal_threads": tn1 / t1,
            "numpy_impl": "Gram/Cholesky fixed point",
            "n_iter_tamis": info["n_iter"],
            "n_iter_numpy": it_np,
            "max_rel_diff": float(np.max(np.abs(w - wn) / wn)),
        }
        res[f"Lewis weights p={p:g}"] = row
        print(
            f"Lewis weights p={p:g}: tamis 1 thread {t1:.3f} s ({info['n_iter']} iterations), "
            f"default threads {td:.3f} s; numpy 1 thread {tn1:.3f} s ({it_np} iterations), "
            f"default {tnd or float('nan'):.2f} s; {tn1 / t1:.1f}x at 1 thread vs 1 thread, "
            f"max rel diff {row['max_rel_diff']:.1e}",
            flush=True,
        )
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--rare", type=int, default=8, help="rare-feature columns")
    ap.add_argument("--k", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-6, help="Lewis tolerance (max |log change|)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument(
        "--lewis-only",
        action="store_true",
        help="time only Lewis weights (numpy at 1 thread) and update those rows of the JSON",
    )
    ap.add_argument("--out", default=None, help="default bench-results/coreset.json")
    add_quick_arg(ap)
    args = ap.parse_args()
    if args.quick:
        args.n, args.d, args.k, args.seeds = min(args.n, 20_000), min(args.d, 16), 500, 1
    args.out = str(out_path(args.out, "coreset.json", args.quick))
    if _core.build_profile != "release":
        raise SystemExit("refusing to benchmark a debug build")
    A, b = make_data(args.n, args.d, args.rare, 0)
    print(
        f"n={args.n} d={args.d} rare={args.rare} k={args.k} seeds={args.seeds} "
        f"threads={_core.default_threads} cpus={os.cpu_count()}",
        flush=True,
    )
    if args.lewis_only:
        out = Path(args.out)
        data = json.loads(out.read_text()) if out.exists() else {"timing": {}}
        data["timing"].update(lewis_timing(A, args.tol, numpy_default=False))
        data["lewis_run"] = {"load_average": os.getloadavg(), "n": args.n, "d": args.d}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2))
        print(f"-> {out}")
        return
    t = {} if args.skip_timing else timing(A, args.tol)
    # numpy on one BLAS thread in the evaluation (IRLS, distortion): far faster on a shared box.
    with threadpool_limits(limits=1, user_api="blas"):
        q = [] if args.skip_quality else quality(A, b, args.k, list(range(args.seeds)), [1.0, 3.0])
    if q:
        print(
            "\n| p | scheme | sampler | distortion median / worst | regression ratio median / worst |"
        )
        print("| --- | --- | --- | --- | --- |")
        for r in q:
            print(
                f"| {r['p']:g} | {r['scheme']} | {r['sampler']} | "
                f"{r['distortion_median']:.3f} / {r['distortion_worst']:.3f} | "
                f"{r['regression_median']:.4f} / {r['regression_worst']:.4f} |"
            )
        print(f"(prototype, issue 5: {PROTOTYPE})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "tamis": tamis.__version__,
                "numpy": np.__version__,
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "params": vars(args),
                "timing": t,
                "quality": q,
                "prototype": PROTOTYPE,
            },
            indent=2,
        )
    )
    print(f"-> {out}")


if __name__ == "__main__":
    main()
