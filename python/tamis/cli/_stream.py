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
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tamis._prefetch import prefetch, release_memory

__all__ = ["RowGroups", "batch_rows", "choose_arrow_pool", "prefetch", "release_memory"]

#: Text bytes per batch that the streaming passes aim at (about 2 MB).
BATCH_BYTES = 2 << 20
#: Bytes of output collected before a row group is written (about 8 MB).
ROW_GROUP_BYTES = 8 << 20
#: Parquet footers read to estimate the bytes per row (the first files).
_FOOTERS = 8


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
