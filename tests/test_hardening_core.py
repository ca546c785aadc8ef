"""Hardening of the Rust core and the numeric estimators: no aborts, no hangs, no silent garbage.

Each test pins the exact behaviour: the exception type and that its message names the parameter
(and the size, for allocations). Cases that used to abort the interpreter run in a subprocess.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import tamis
from tamis import _core
from tamis._validation import available_cpus, check_counts, check_threads, max_threads
from tamis.dedup import MAX_NUM_PERM, lsh_params
from tamis.importance import ImportanceResampler
from tamis.sensitivity import leverage_scores, lewis_weights, sensitivity_scores


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- allocations sized by user input -----------------------------------------------------------


def test_transform_dense_too_large_is_a_memory_error_not_an_abort():
    # 100_000 rows × (2^32 - 1) buckets × 4 bytes = 1.7 PB: more than any address space, so the
    # allocation fails whatever the overcommit policy. It used to abort the process (SIGABRT, 134).
    proc = run_python(
        """
        from tamis import HashingFeaturizer
        try:
            HashingFeaturizer(n_buckets=2**32 - 1).transform_dense(["a"] * 100_000)
        except MemoryError as e:
            print("MemoryError:", e)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.returncode != 134
    out = proc.stdout
    assert "MemoryError:" in out
    assert "n_buckets" in out
    assert str(100_000 * (2**32 - 1) * 4) in out


def overcommit_always() -> bool:
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            return f.read().strip() == "1"
    except OSError:
        return True


@pytest.mark.skipif(
    overcommit_always(),
    reason="with unconditional overcommit a 420 GB request succeeds and the OOM killer decides",
)
def test_issue_case_2_pow_20_buckets_raises_memory_error():
    # The case from the issue: 100_000 × 2^20 × 4 = 419_430_400_000 bytes.
    proc = run_python(
        """
        from tamis import HashingFeaturizer
        try:
            HashingFeaturizer(n_buckets=2**20).transform_dense(["a"] * 100_000)
        except MemoryError as e:
            print("MemoryError:", e)
        """
    )
    assert proc.returncode != 134, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert "MemoryError:" in proc.stdout
    assert "419430400000 bytes" in proc.stdout
    assert "n_buckets" in proc.stdout


def test_sample_with_replacement_huge_k_is_a_memory_error():
    lw = np.zeros(10)
    with pytest.raises(MemoryError, match=r"\(set by k\)") as e:
        _core.sample_with_replacement(lw, 2**61, seed=0)
    assert "draws with replacement" in str(e.value)
    assert str(2**61 * 8) in str(e.value)


def test_select_sequential_huge_k_is_an_error_not_an_abort():
    top = _core.TopK(3)
    top.push(
        np.array([1.0, 2.0, 3.0]),
        np.array([1, 2, 3], dtype=np.uint64),
        np.array([0, 1, 2], dtype=np.uint64),
    )
    with pytest.raises(ValueError, match="k asks for"):
        _core.select_sequential([top], [2**62])


def test_union_roots_n_beyond_u32_is_named():
    edges = np.zeros((0, 2), dtype=np.uint32)
    with pytest.raises(ValueError, match="n_docs must be <= 2\\^32 - 1"):
        _core.union_roots(2**40, edges)


# -- num_perm / lsh_params ---------------------------------------------------------------------


def test_num_perm_is_bounded_everywhere():
    assert MAX_NUM_PERM == 8192
    big = MAX_NUM_PERM + 1
    for call in (
        lambda: lsh_params(0.5, big),
        lambda: tamis.minhash_signatures(["a b"], num_perm=big),
        lambda: tamis.MinHashDeduplicator(num_perm=10**6),
        lambda: _core.lsh_params(0.5, 10**6),
        lambda: _core.MinHasher(num_perm=10**12),
    ):
        with pytest.raises(ValueError, match="num_perm must be"):
            call()


def test_lsh_params_is_fast_at_the_largest_num_perm():
    t0 = time.perf_counter()
    b, r = lsh_params(0.5, MAX_NUM_PERM)
    assert time.perf_counter() - t0 < 10
    assert b * r <= MAX_NUM_PERM
    # The known datasketch values still come out (exact search, pruned).
    assert lsh_params(0.8, 128) == (9, 13)
    assert lsh_params(0.9, 128) == (5, 25)


# -- Ctrl-C -------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_lewis_iterations():
    # tol=1e-300 never converges: 10_000 iterations would take many minutes.
    code = """
        import sys, time, numpy as np
        from tamis.sensitivity import lewis_weights
        A = np.random.default_rng(0).standard_normal((100_000, 24))
        print("ready", flush=True)
        t0 = time.perf_counter()
        try:
            lewis_weights(A, 1.0, tol=1e-300, max_iter=10_000, n_threads=1)
        except KeyboardInterrupt:
            print(f"interrupted after {time.perf_counter() - t0:.2f}s", flush=True)
            sys.exit(3)
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    assert "interrupted after" in out


# -- threads ------------------------------------------------------------------------------------


def test_thread_policy():
    cpus = available_cpus()
    assert check_threads(None) is None
    assert check_threads(1) == 1
    with pytest.raises(ValueError, match="n_threads must be >= 1, got 0"):
        check_threads(0)
    with pytest.raises(ValueError, match="n_jobs must be >= 1, got -2"):
        check_threads(-2, "n_jobs")
    with pytest.warns(RuntimeWarning, match=f"n_threads=4000 exceeds the {cpus} CPUs"):
        assert check_threads(4000) == cpus
    with pytest.warns(RuntimeWarning, match="n_threads=4000 exceeds"):
        f = tamis.HashingFeaturizer(16, (1, 1), n_threads=4000)
    assert f.n_threads == cpus
    with pytest.warns(RuntimeWarning, match="n_threads=4000 exceeds"):
        d = tamis.MinHashDeduplicator(n_threads=4000)
    assert d.n_threads == cpus
    # The warning names the keyword the caller used.
    with (
        pytest.warns(RuntimeWarning, match="n_jobs=4000 exceeds"),
        pytest.warns(DeprecationWarning, match="n_jobs"),
    ):
        r = ImportanceResampler(n_jobs=4000)
    assert r.n_jobs == cpus
    with pytest.warns(RuntimeWarning, match="n_threads=4000 exceeds"):
        leverage_scores(np.eye(3), n_threads=4000)
    # Mild oversubscription is used as asked, silently (determinism tests rely on it).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_threads(cpus) == cpus
        assert check_threads(max_threads()) == max_threads() >= max(4, 2 * cpus)
    with pytest.warns(RuntimeWarning, match="exceeds"):
        assert check_threads(max_threads() + 1) == cpus


# -- DSIR counts --------------------------------------------------------------------------------


def test_check_counts():
    np.testing.assert_array_equal(check_counts("c", [1, 2.0, 0], 1, 3), [1, 2, 0])
    assert check_counts("c", np.arange(3, dtype=np.int8), 1).dtype == np.uint64
    cases = [
        ([1, -1, 2], "c must be >= 0, got -1 at flat index 1"),
        ([1.0, np.nan, 2.0], "c must be finite, got nan at flat index 1"),
        ([1.0, np.inf, 2.0], "c must be finite, got inf"),
        ([1.5, 0.0, 2.0], "c must be whole numbers, got 1.5 at flat index 0"),
        ([1e20, 0.0, 2.0], "c must be < 2\\*\\*64"),
        ([1, 2], "c must have shape \\(3,\\), got \\(2,\\)"),
        ([[1, 2, 3]], "c must have shape \\(3,\\), got \\(1, 3\\)"),
    ]
    for value, msg in cases:
        with pytest.raises(ValueError, match=msg):
            check_counts("c", value, 1, 3)
    for value in (["a", "b", "c"], [True, False, True]):
        with pytest.raises(TypeError, match="c must be an array of integer counts"):
            check_counts("c", value, 1, 3)


TARGET = ["the cat sat on the mat", "a cat and a dog", "the dog sat"] * 5


@pytest.mark.parametrize(
    ("raw_counts", "message"),
    [
        (lambda nb: np.full(nb, -1, dtype=np.int64), "raw_counts must be >= 0"),
        (lambda nb: np.full(nb, np.nan), "raw_counts must be finite"),
        (lambda nb: np.full(nb, 0.5), "raw_counts must be whole numbers"),
        (lambda nb: np.ones(nb + 1, dtype=np.uint64), f"raw_counts must have shape \\({64},\\)"),
    ],
)
def test_fit_rejects_bad_raw_counts(raw_counts, message):
    r = ImportanceResampler(n_buckets=64, ngram_range=(1, 1))
    with pytest.raises(ValueError, match=message):
        r.fit(TARGET, raw_counts=raw_counts(64))
    assert not hasattr(r, "model_")


def test_fit_accepts_integral_float_raw_counts():
    r = ImportanceResampler(n_buckets=64, ngram_range=(1, 1))
    rc = r.count(TARGET).astype(np.float64)
    r.fit(TARGET, raw_counts=rc)
    np.testing.assert_array_equal(r.raw_counts_, rc.astype(np.uint64))


def test_saved_target_counts_are_validated(tmp_path):
    r = ImportanceResampler(n_buckets=64, ngram_range=(1, 1)).fit(TARGET, TARGET)
    path = r.save(tmp_path / "m.npz")
    with np.load(path) as z:
        arrays = dict(z)
    arrays["target_counts"] = arrays["target_counts"].astype(np.int64) * -1
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="target_counts must be >= 0"):
        ImportanceResampler.load(path)


# -- scale invariance of the sensitivity scores ------------------------------------------------

SCALES = [1e-300, 1e-200, 1e-100, 1.0, 1e100, 1e200, 1e300]


def numpy_leverage(A: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(A)
    return (q**2).sum(axis=1)


@pytest.fixture(scope="module")
def A() -> np.ndarray:
    rng = np.random.default_rng(42)
    return rng.standard_normal((300, 6)) * rng.uniform(0.1, 10, size=(300, 1))


@pytest.mark.parametrize("scale", SCALES)
def test_leverage_is_scale_invariant(A, scale):
    ref = numpy_leverage(A)
    tau, info = leverage_scores(A * scale, return_info=True)
    assert info["rank"] == A.shape[1]
    np.testing.assert_allclose(tau, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_lewis_and_sensitivity_are_scale_invariant(A, scale):
    ref = lewis_weights(A, 1.0)
    np.testing.assert_allclose(lewis_weights(A * scale, 1.0), ref, rtol=1e-7)
    for scheme in ("lewis", "leverage", "root_leverage", "mixed"):
        np.testing.assert_allclose(
            sensitivity_scores(A * scale, 1.5, scheme=scheme),
            sensitivity_scores(A, 1.5, scheme=scheme),
            rtol=1e-7,
        )
    sk = leverage_scores(A * scale, method="sketch", seed=3)
    np.testing.assert_allclose(sk, leverage_scores(A, method="sketch", seed=3), rtol=1e-9)


def test_columns_of_wildly_different_scales(A):
    cols = np.array([1e300, 1e-300, 1.0, 1e-200, 1e150, 3.0])
    np.testing.assert_allclose(leverage_scores(A * cols), numpy_leverage(A), rtol=1e-9)
    # A column of subnormal numbers (exact multiples of the smallest one) is still a column.
    B = A.copy()
    B[:, 0] = np.round(4 * A[:, 0])
    sub = B.copy()
    sub[:, 0] *= 5e-324
    assert np.count_nonzero(sub[:, 0]) > 250
    tau, info = leverage_scores(sub, return_info=True)
    assert info["rank"] == A.shape[1]
    np.testing.assert_allclose(tau, numpy_leverage(B), rtol=1e-9)


def test_float32_extremes(A):
    a32 = (A * 1e-30).astype(np.float32)
    np.testing.assert_allclose(
        leverage_scores(a32), numpy_leverage(a32.astype(np.float64)), rtol=1e-6
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fn", [leverage_scores, lambda a: lewis_weights(a, 1.0)])
def test_non_finite_input_is_rejected(A, bad, fn):
    B = A.copy()
    B[7, 2] = bad
    with pytest.raises(ValueError, match="A must be finite, row 7 contains NaN or inf"):
        fn(B)


def test_sketch_sizes_are_bounded(A):
    n = A.shape[0]
    with pytest.raises(ValueError, match=f"sketch_rows must be in d..=n = 6..={n}"):
        leverage_scores(A, method="sketch", sketch_rows=10**12)
    with pytest.raises(ValueError, match=f"jl_dim must be in 1..=n = {n}"):
        leverage_scores(A, method="sketch", jl_dim=10**12)
