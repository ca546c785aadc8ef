"""One source of a mixture, read block by block in a seeded order (bounded memory).

A *block* is a Parquet row group, a whole JSON Lines file, or one batch of an in-memory input (as
:func:`tamis.io.read_batches` yields it). Each epoch of a source is a permutation of its rows
without replacement: the blocks in a seeded order, cut into *windows* of ``buffer_blocks``
consecutive blocks, each window's rows shuffled by a second seeded permutation. Only the current
window of each source is in memory, as one Arrow column pair per block (no concatenation): the
rows of a batch are copied once, straight from the blocks (:func:`gather`). Everything is a
function of ``(seed, source name, epoch, window)``, so any position of the stream can be rebuilt
without reading what came before.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tamis import _core
from tamis.exceptions import InputError
from tamis.io import buffers, file_names, is_path_source, list_files, read_batches, scan_schema

TEXT = "text"
ID = "id"
LABEL = "tamis.block"  # schema metadata of a window block: where it comes from


def _key(seed: int, name: str, epoch: int, window: int) -> int:
    """The permutation seed of ``(seed, source name, epoch, window)`` (XXH3-64)."""
    return _core.xxh3_64(struct.pack("<QQq", seed, epoch, window) + name.encode("utf-8"), 0)


class Source:
    """Blocks of one source and the reader of one window at a time."""

    def __init__(
        self,
        name: str,
        source: Any,
        *,
        text_column: str,
        id_column: str | None,
        buffer_blocks: int,
        shuffle: bool,
        seed: int,
    ) -> None:
        self.name = name
        self.text_column = text_column
        self.id_column = id_column
        self.buffer_blocks = buffer_blocks
        self.shuffle = shuffle
        self.seed = seed
        self._memory: list[pa.RecordBatch] = []
        self._meta: dict[int, pq.FileMetaData] = {}  # per Parquet file, parsed once
        # Per block: (file index or -1, row group or -1, first row in its file, rows).
        blocks: list[tuple[int, int, int, int]] = []
        if is_path_source(source):
            self.files = list_files(source)
            scan_schema(source, text_column, id_column, columns=[])
            self._id_in_file = {f: _has_id(f, text_column, id_column) for f in self.files}
            self._names = file_names(self.files)
            for fi, f in enumerate(self.files):
                if f.suffix == ".parquet":
                    meta = self._meta[fi] = pq.ParquetFile(str(f)).metadata
                    first = 0
                    for rg in range(meta.num_row_groups):
                        n = meta.row_group(rg).num_rows
                        if n:
                            blocks.append((fi, rg, first, n))
                        first += n
                else:
                    n = sum(b.num_rows for b in self._read_json(f))
                    if n:
                        blocks.append((fi, -1, 0, n))
        else:
            self.files = []
            for b in read_batches(source, text_column=text_column, id_column=id_column, columns=[]):
                if b.num_rows:
                    blocks.append((-1, len(self._memory), 0, b.num_rows))
                    self._memory.append(b)
        self.blocks = blocks
        self.lengths = np.array([b[3] for b in blocks], dtype=np.int64)
        # Natural row number of each block's first row (rows numbered over the whole source).
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.n_rows = int(self.lengths.sum())
        self._epoch: int | None = None
        self._order = np.zeros(0, dtype=np.int64)
        self._window_starts = np.zeros(1, dtype=np.int64)
        self._window: tuple[int, int] | None = None
        self._parts: list[pa.Table] = []  # the window's blocks, one chunk per column
        self._rows = np.zeros(0, dtype=np.int64)
        self._part = np.zeros(0, dtype=np.uint32)  # per shuffled window position: its block
        self._row_in = np.zeros(0, dtype=np.uint32)  # ... and its row in that block
        self._pf: dict[int, pq.ParquetFile] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (DataLoader workers started with spawn).

        Open files and the window are dropped and rebuilt on demand.
        """
        state = dict(self.__dict__)
        state.update(_pf={}, _meta={}, _parts=[], _window=None, _epoch=None)
        return state

    # --- reading --------------------------------------------------------------------------------

    def _read_json(self, f: Path) -> list[pa.RecordBatch]:
        return list(
            read_batches(f, text_column=self.text_column, id_column=self.id_column, columns=[])
        )

    def _read_block(self, b: int) -> pa.Table:
        fi, rg, first, n = self.blocks[b]
        if fi < 0:
            batch = self._memory[rg]
            return _standard(pa.Table.from_batches([batch]), self.text_column, self.id_column or ID)
        f = self.files[fi]
        id_name = self.id_column or ID
        if rg < 0:
            table = pa.Table.from_batches(self._read_json(f))
            # read_batches names generated ids after this one file; rename after the source.
            if not self._id_in_file[f]:
                table = table.set_column(
                    table.schema.get_field_index(id_name),
                    id_name,
                    _gen_ids(self._names[f], first, n),
                )
            return _standard(table, self.text_column, id_name)
        pf = self._pf.get(fi)
        if pf is None:
            # Memory-mapped (pages are decoded from the mapping, not copied in first) and open for
            # one window only, so the mapped pages of a source do not pile up in the RSS.
            try:
                meta = self._meta.get(fi)
                pf = self._pf[fi] = pq.ParquetFile(str(f), metadata=meta, memory_map=True)
            except (pa.ArrowException, OSError) as e:
                raise InputError(f"{f}: not a readable Parquet file ({e})") from None
        cols = [self.text_column] + ([id_name] if self._id_in_file[f] else [])
        try:
            table = pf.read_row_group(rg, columns=cols, use_threads=False)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{f}: row group {rg} cannot be read ({e})") from None
        if not self._id_in_file[f]:
            table = table.append_column(id_name, _gen_ids(self._names[f], first, n))
        # UTF-8 is checked per row when a row is taken (gather(), strings()), not here.
        return _standard(table, self.text_column, id_name)

    def _label(self, b: int) -> str:
        """Where block ``b`` comes from, for error messages."""
        fi, rg = self.blocks[b][:2]
        if fi < 0:
            return f"source {self.name!r}: in-memory batch {rg}"
        return f"{self.files[fi]}" + (f": row group {rg}" if rg >= 0 else "")

    # --- the epoch order -----------------------------------------------------------------------

    def _set_epoch(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        nb = len(self.blocks)
        if self.shuffle:
            self._order = _core.permutation(nb, _key(self.seed, self.name, epoch, -1)).astype(
                np.int64
            )
        else:
            self._order = np.arange(nb, dtype=np.int64)
        lens = self.lengths[self._order]
        ends = np.cumsum(lens)
        cut = np.arange(self.buffer_blocks, nb, self.buffer_blocks) - 1
        self._window_starts = np.concatenate([[0], ends[cut], [self.n_rows]]).astype(np.int64)
        self._epoch = epoch

    def _load(self, epoch: int, window: int) -> None:
        if self._window == (epoch, window):
            return
        self._set_epoch(epoch)
        self._parts = []  # release the previous window (and its mappings) before the next
        self._pf = {}
        ids = self._order[window * self.buffer_blocks : (window + 1) * self.buffer_blocks]
        # Kept per block, not concatenated: the rows of a batch are copied once, by gather().
        parts = [
            _one_chunk(self._read_block(int(b))).replace_schema_metadata(
                {LABEL: self._label(int(b))}
            )
            for b in ids
        ]
        rows = np.concatenate(
            [np.arange(self.starts[b], self.starts[b] + self.lengths[b]) for b in ids]
        )
        if self.shuffle:
            key = _key(self.seed, self.name, epoch, window)
            perm = _core.permutation(len(rows), key).astype(np.int64)
        else:
            perm = np.arange(len(rows), dtype=np.int64)
        first = np.cumsum([0] + [p.num_rows for p in parts])
        part = np.searchsorted(first, perm, side="right") - 1
        self._part = part.astype(np.uint32)
        self._row_in = (perm - first[part]).astype(np.uint32)
        self._rows = rows[perm]
        self._parts = parts
        self._window = (epoch, window)

    def take(
        self, ranks: np.ndarray
    ) -> tuple[list[tuple[list[pa.Table], np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
        """Rows at consumption indices ``ranks`` (ascending).

        Returns ``(segments, epoch, row)``: ``segments`` are ``(window blocks, block index, row
        in that block)`` in order (not gathered yet), ``epoch`` and ``row`` (natural row
        number) per rank.
        """
        segments, rows = [], []
        for parts, part, row_in, rw in self.segments(ranks):
            segments.append((parts, part, row_in))
            rows.append(rw)
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return segments, ranks // self.n_rows, row

    def segments(
        self, ranks: np.ndarray
    ) -> Iterator[tuple[list[pa.Table], np.ndarray, np.ndarray, np.ndarray]]:
        """The rows at consumption indices ``ranks`` (ascending), one window at a time.

        Yields ``(window blocks, block index, row in that block, natural row number)``.

        The next window is read when the next segment is asked for, so a caller that is done
        with a segment before asking for the next holds one window of the source at a time.
        """
        n = self.n_rows
        epochs = ranks // n
        offsets = ranks % n
        i = 0
        while i < len(ranks):
            e = int(epochs[i])
            self._set_epoch(e)
            w = int(np.searchsorted(self._window_starts, offsets[i], side="right") - 1)
            w_end = self._window_starts[w + 1]
            # Within one epoch the offsets increase; the next epoch starts again at 0.
            e_end = i + int(np.searchsorted(epochs[i:], e, side="right"))
            j = i + int(np.searchsorted(offsets[i:e_end], w_end, side="left"))
            self._load(e, w)
            pos = offsets[i:j] - self._window_starts[w]
            yield self._parts, self._part[pos], self._row_in[pos], self._rows[pos]
            i = j


def take_rows(
    blocks: list[pa.Table], column: int, chunk: np.ndarray, row: np.ndarray, *, as_str: bool
) -> Any:
    """Rows ``(chunk[j], row[j])`` of column ``column`` of ``blocks``.

    A ``large_string`` array (:func:`gather`) or, with ``as_str``, a list of Python strings
    (:func:`strings`).

    Only the rows taken are checked to be UTF-8 (the gathered copy by Arrow, the strings by
    CPython); a block with a bad row raises :class:`InputError` naming its file and row group.
    """
    arrays = [b.column(column).chunk(0) for b in blocks]
    try:
        return strings(arrays, chunk, row) if as_str else gather(arrays, chunk, row)
    except (ValueError, pa.ArrowInvalid):  # UnicodeDecodeError is a ValueError
        for b, a in zip(blocks, arrays):
            try:
                a.validate(full=True)
            except pa.ArrowInvalid:
                label = (b.schema.metadata or {}).get(LABEL.encode(), b"?").decode()
                name = b.schema.names[column]
                raise InputError(f"{label}: {name} is not valid UTF-8") from None
        raise


def gather(arrays: list[pa.Array], chunk: np.ndarray, row: np.ndarray) -> pa.Array:
    """Rows ``(chunk[j], row[j])`` of string ``arrays`` as one ``large_string`` array.

    One copy of the selected rows (Rust), then Arrow checks the copy is UTF-8; Arrow's ``take``
    over a chunked column would first concatenate every chunk. Columns with nulls take
    Arrow's path.
    """
    if not arrays or any(a.null_count for a in arrays):
        if not arrays:
            return pa.array([], pa.large_string())
        first = np.cumsum([0] + [len(a) for a in arrays[:-1]])
        whole = pa.concat_arrays([a.cast(pa.large_string()) for a in arrays])
        out = whole.take(first[chunk] + row)
        out.validate(full=True)
        return out
    bufs = [buffers(a)[:2] for a in arrays]
    offsets, data = [b[0] for b in bufs], [b[1] for b in bufs]
    offs = _core.mix_gather(offsets, data, chunk, row)
    # From Arrow's pool, which reuses pages: a fresh buffer per batch pays a page fault per 4 KiB.
    out = pa.allocate_buffer(int(offs[-1]))
    _core.mix_gather(offsets, data, chunk, row, np.frombuffer(out, dtype=np.uint8))
    got = pa.LargeStringArray.from_buffers(len(offs) - 1, pa.py_buffer(offs), out)
    got.validate(full=True)  # UTF-8 of the rows taken (raises pa.ArrowInvalid)
    return got


def strings(arrays: list[pa.Array], chunk: np.ndarray, row: np.ndarray) -> list[str]:
    """Rows ``(chunk[j], row[j])`` of string ``arrays`` as Python strings.

    Made straight from the arrays' buffers (Rust; CPython checks the UTF-8; no gathered copy in
    between). Columns with nulls take Arrow's path.
    """
    if not arrays or any(a.null_count for a in arrays):
        return gather(arrays, chunk, row).to_pylist()
    bufs = [buffers(a)[:2] for a in arrays]
    return _core.mix_strings([b[0] for b in bufs], [b[1] for b in bufs], chunk, row)


def _one_chunk(table: pa.Table) -> pa.Table:
    """``table`` with one chunk per column (a JSON Lines block is read in several)."""
    if all(c.num_chunks == 1 for c in table.columns):
        return table
    return table.combine_chunks()


def _has_id(f: Path, text_column: str, id_column: str | None) -> bool:
    """Whether file ``f`` has its own id column (else ids are generated, as read_batches does)."""
    if id_column is not None:
        return True  # scan_schema checked that every file has it
    try:
        scan_schema(f, text_column, ID, columns=[])
    except InputError:
        return False
    return True


def _gen_ids(name: str, first: int, n: int) -> pa.Array:
    """``"<name>:<row>"`` for rows ``first .. first + n`` (the ids :func:`read_batches` makes)."""
    rows = pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.large_string())
    return pc.binary_join_element_wise(
        pa.scalar(name + ":", pa.large_string()), rows, pa.scalar("", pa.large_string())
    )


def _standard(table: pa.Table, text_column: str, id_name: str) -> pa.Table:
    """``text`` and ``id`` as large strings (ids of any type become their string form)."""
    text = table.column(text_column)
    ids = table.column(id_name)
    if text.type != pa.large_string():
        text = text.cast(pa.large_string())
    if ids.type != pa.large_string():
        ids = ids.cast(pa.large_string())
    return pa.table({TEXT: text, ID: ids})
