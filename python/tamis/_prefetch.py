"""Read ahead in a thread: :func:`prefetch` (the streaming passes of ``tamis dedup`` and DSIR).

Arrow's readers (Parquet decode, JSON parsing) and every ``tamis._core`` kernel release the GIL,
so a batch can be decoded in one thread while the previous one is hashed in others: on two cores
the decode no longer adds to the kernel's time (docs/dedup.md, docs/dsir.md, "Thread scaling").
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()

#: Seconds a stopped :func:`prefetch` waits for its producer: one item to finish, then the
#: reader's cleanup (the JSON reader waits up to 10 s for pyarrow's read-ahead).
_JOIN_TIMEOUT = 30.0


def release_memory() -> None:
    """Return the pages Arrow's memory pool holds but no longer uses to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def prefetch(items: Iterable[T], depth: int = 1, *, release: int = 4) -> Generator[T, None, None]:
    """Yield ``items`` while a thread produces the next ones (at most ``depth`` waiting).

    An exception of the producer is raised here, after the items produced before it; closing the
    generator (or an exception in the consumer, Ctrl-C included) stops the producer at its next
    item, closes ``items`` in the producer's thread and waits for it: no thread of ours is left
    running into the interpreter's shutdown, where a thread that takes the GIL is ended by
    ``pthread_exit`` and a C++ or Rust frame on its stack aborts the process.
    :func:`release_memory` runs after every ``release`` items (0: never) in both threads
    (mimalloc gives a page back only from the thread that owns it; one call costs ~0.4 ms).
    """
    q: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any, err: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                q.put((item, err), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for i, item in enumerate(it, 1):
                if not put(item):
                    return
                del item
                if release and i % release == 0:
                    release_memory()
            put(_DONE)
        except BaseException as e:  # re-raised in the consumer, with its traceback
            put(_DONE, e)
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # a generator's cleanup runs here, not at shutdown
                close()

    thread = threading.Thread(target=produce, name="tamis-prefetch", daemon=True)
    got = 0
    try:
        thread.start()  # inside the try: Ctrl-C can land while it waits for the thread to run
        while True:
            item, err = q.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
            del item
            got += 1
            if release and got % release == 0:
                release_memory()
    finally:
        stop.set()
        if thread.ident is not None:
            thread.join(timeout=_JOIN_TIMEOUT)


@contextlib.contextmanager
def write_behind(write: Callable[[T], Any], depth: int = 1) -> Iterator[Callable[[T], None]]:
    """Hand items to ``write`` in a thread of its own, in order, at most ``depth`` waiting.

    Yields the function that queues an item. For writers that release the GIL (Parquet
    encoding and compression, a file's ``write``): the next batch is read and filtered while the
    previous one is compressed. Leaving the block waits until every queued item is written; an
    error of ``write`` is raised at the next queued item or on leaving, and the items after it
    are dropped. If the block itself raises, the items still waiting are dropped (the one being
    written finishes) and the block's exception propagates.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    errors: list[BaseException] = []
    abort = threading.Event()

    def consume() -> None:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if errors or abort.is_set():
                continue  # drain: nothing more is written
            try:
                write(item)
            except BaseException as e:  # re-raised in the producer
                errors.append(e)
            del item

    def put(item: T) -> None:
        if errors:
            raise errors[0]
        q.put(item)

    thread = threading.Thread(target=consume, name="tamis-write", daemon=True)
    try:
        thread.start()  # inside the try: Ctrl-C can land while it waits for the thread to run
        yield put
    except BaseException:
        abort.set()
        raise
    finally:
        if thread.ident is not None:  # the writer finishes its item: no C++ frame at shutdown
            q.put(_DONE)
            thread.join()
    if errors:
        raise errors[0]
