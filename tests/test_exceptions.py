"""Every exception tamis defines survives pickling, so it crosses process boundaries
(multiprocessing, concurrent.futures, Ray workers) as itself, not as a PicklingError."""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

import tamis
from tamis import _core
from tamis.exceptions import InputError, NotFittedError, TamisError

EXCEPTIONS = [TamisError, InputError, NotFittedError]


def test_the_native_error_is_declared_under_its_import_path():
    # pickle finds a class through __module__ + __qualname__; "_core" alone is not importable.
    assert TamisError is _core.TamisError
    assert TamisError.__module__ == "tamis._core"
    assert TamisError.__qualname__ == "TamisError"
    assert issubclass(InputError, TamisError)
    assert issubclass(InputError, ValueError)


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: e.__name__)
def test_pickle_round_trip(exc):
    err = exc("row 3 of corpus.parquet: something went wrong")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(err, protocol=protocol))
        assert type(back) is exc
        assert back.args == err.args
        assert str(back) == str(err)


def _raise(name: str, message: str) -> None:
    raise getattr(tamis.exceptions, name)(message)


def test_raised_in_a_worker_process_arrives_as_itself():
    # spawn, as Ray and macOS/Windows multiprocessing do: the worker imports tamis afresh, and
    # both the exception and its class travel by pickle.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        futures = {
            exc: pool.submit(_raise, exc.__name__, f"from a worker: {exc.__name__}")
            for exc in EXCEPTIONS
        }
        for exc, fut in futures.items():
            with pytest.raises(exc, match=f"from a worker: {exc.__name__}") as info:
                fut.result(timeout=120)
            assert type(info.value) is exc
