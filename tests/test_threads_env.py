"""``TAMIS_NUM_THREADS`` sets the thread count of every kernel called with ``n_threads=None``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import tamis, tamis._core as c
f = tamis.HashingFeaturizer(16, (1, 2))
try:
    f.count(["a b c"])
    print(c.default_threads, "ok")
except ValueError as e:
    print(c.default_threads, "ValueError:", e)
f2 = tamis.HashingFeaturizer(16, (1, 2), n_threads=1)  # an explicit count wins
print(f2.count(["a b c"]).sum())
"""


def probe(value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "TAMIS_NUM_THREADS"}
    if value is not None:
        env["TAMIS_NUM_THREADS"] = value
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()


def machine() -> int:
    return int(probe(None)[0].split()[0])


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), (" 2 ", 2)])
def test_the_variable_sets_the_default(value, expected):
    lines = probe(value)
    assert lines[0] == f"{expected} ok"
    assert lines[1] == "5"  # 3 unigrams + 2 bigrams


def test_unset_blank_or_absurd_means_the_machine():
    n = machine()
    assert n >= 1
    assert probe("")[0] == f"{n} ok"
    assert probe("100000")[0] == f"{n} ok"  # capped, as an explicit n_threads is


@pytest.mark.parametrize("value", ["0", "-2", "abc", "1.5"])
def test_a_bad_value_is_a_clear_error_unless_a_count_is_given(value):
    lines = probe(value)
    assert "ValueError: TAMIS_NUM_THREADS must be a positive integer" in lines[0]
    assert repr(value).strip("'") in lines[0]
    assert lines[1] == "5"
