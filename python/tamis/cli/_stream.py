"""Streaming passes of the local commands: small batches, read ahead in a thread, memory handed back.

What the profiles of ``tamis dedup`` showed (20,000 documents, 141 MB of text in 2,000-row
groups, 2 shared cores; the numbers are in docs/dedup.md):

- peak RSS followed the batch size, not the corpus: Arrow's reader allocates several times a
  batch's text while decoding it, and Arrow's allocator (mimalloc) keeps freed pages, so RSS
  climbed ~100 MB above what Arrow ever held at once. Batches of about :data:`BATCH_BYTES` of
  text (:func:`batch_rows`, from the Parquet footers) and :func:`release_memory` after each batch
  bound it;
- a pass of reading took about as long as hashing it, and both release the GIL (Arrow's reader,
  every ``tamis._core`` kernel), so :func:`prefetch` reads the next batch in a thread while the
  current one is hashed or written;
- small batches must not become small row groups in the output: :class:`RowGroups` collects them
  up to :data:`ROW_GROUP_BYTES`;
- a third of the CPU time went to the kernel: page faults (zeroing fresh pages) of the buffers
  every batch allocates anew, as mimalloc hands freed pages back. jemalloc's pool
  (:func:`choose_arrow_pool`) faults less and cheaper (kernel time 0.7-1.0 s -> 0.3-0.5 s on 20k
  documents; one arena that keeps freed pages cuts them to a third), and decoding in the reader
  thread itself (``use_threads=False``) instead of Arrow's pool keeps fewer allocator heaps
  (~20 MB less peak RSS).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()

#: Text bytes per batch that the streaming passes aim at (about 2 MB).
BATCH_BYTES = 2 << 20
#: Bytes of output collected before a row group is written (about 8 MB).
ROW_GROUP_BYTES = 8 << 20
#: Parquet footers read to estimate the bytes per row (the first files).
_FOOTERS = 8
#: Seconds a stopped :func:`prefetch` waits for its producer: one item to finish, then the
#: reader's cleanup (the JSON reader waits up to 10 s for pyarrow's read-ahead).
_JOIN_TIMEOUT = 30.0


def batch_rows(files: Sequence[Path], text_column: str, cap: int) -> int:
    """Rows per batch for about :data:`BATCH_BYTES` of text, at most ``cap``.

    Estimated from the uncompressed size of the text column in the Parquet footers of the first
    files; ``cap`` when there is no Parquet file to look at (JSON Lines are read in blocks).
    """
    import pyarrow.parquet as pq

    rows = size = 0
    for path in [f for f in files if f.suffix == ".parquet"][:_FOOTERS]:
        try:
            meta = pq.ParquetFile(str(path)).metadata
        except (OSError, ValueError):  # unreadable: the reader names the file later
            continue
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        if text_column not in names:
            continue
        col = names.index(text_column)
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            rows += group.num_rows
            size += group.column(col).total_uncompressed_size
    if rows == 0 or size == 0:
        return cap
    return max(16, min(cap, BATCH_BYTES * rows // size))


def release_memory() -> None:
    """Return the pages Arrow's memory pool holds but no longer uses to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


#: Commands whose process takes jemalloc for Arrow's buffers (see the module docstring).
JEMALLOC_COMMANDS = ("dedup",)
#: jemalloc's settings for them: one arena, freed pages kept for the next batch (no purging).
JEMALLOC_CONF = "narenas:1,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def choose_arrow_pool(argv: Sequence[str]) -> None:
    """Make jemalloc Arrow's memory pool for the command ``argv`` runs, before pyarrow loads.

    Only for the local backend: the environment would reach Ray's workers, whose memory
    nobody measured with these settings.

    Arrow reads ``ARROW_DEFAULT_MEMORY_POOL`` once, when it loads; ``pa.set_memory_pool`` later
    would not reach the buffers Arrow's C++ allocates itself (file reads, compute kernels: two
    allocators, ~25 MB more peak RSS, measured). Arrow's jemalloc reads its settings from
    ``JE_ARROW_MALLOC_CONF`` (:data:`JEMALLOC_CONF`: with one arena and no purging, the pages a
    batch frees serve the next one; measured on 20k documents: page faults 100k -> 35k, peak
    RSS 210-220 -> 196-200 MB, as several arenas each kept their own). Linux only (pyarrow's
    wheels there have jemalloc); what the user sets in the environment wins.
    """
    args = list(argv)
    ray = "--backend=ray" in args or any(
        a == "--backend" and b == "ray" for a, b in zip(args, args[1:])
    )
    if (
        args
        and args[0] in JEMALLOC_COMMANDS
        and not ray
        and sys.platform.startswith("linux")
        and "pyarrow" not in sys.modules
    ):
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
        os.environ.setdefault("JE_ARROW_MALLOC_CONF", JEMALLOC_CONF)


def prefetch(items: Iterable[T], depth: int = 1, *, release: int = 4) -> Iterator[T]:
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


class RowGroups:
    """Collect tables and write them to ``sink`` in groups of ``max_rows`` rows or ``max_bytes``.

    Every ``write`` of a Parquet sink is one row group; streaming in small batches would write
    tiny ones. Call :meth:`flush` at the end.
    """

    def __init__(self, sink: Any, max_rows: int, max_bytes: int = ROW_GROUP_BYTES) -> None:
        self.sink, self.max_rows, self.max_bytes = sink, max_rows, max_bytes
        self._parts: list[Any] = []
        self._rows = self._bytes = 0

    def write(self, table: Any) -> None:
        """Add ``table``; writes a group once enough rows or bytes are collected."""
        if self._parts and table.schema != self._parts[0].schema:
            self.flush()
        self._parts.append(table)
        self._rows += table.num_rows
        self._bytes += table.nbytes
        if self._rows >= self.max_rows or self._bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        """Write what is collected."""
        import pyarrow as pa

        if self._parts:
            self.sink.write(pa.concat_tables(self._parts))
        self._parts, self._rows, self._bytes = [], 0, 0
