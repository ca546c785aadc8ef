"""One source of a mixture, read block by block in a seeded order (bounded memory).

A *block* is a Parquet row group, a whole JSON Lines file, or one batch of an in-memory input (as
:func:`tamis.io.read_batches` yields it). Each epoch of a source is a permutation of its rows
without replacement: the blocks in a seeded order, cut into *windows* of ``buffer_blocks``
consecutive blocks, each window's rows shuffled by a second seeded permutation. Only the windows
the current batch draws from are in memory, as one text and one id column per block (no
concatenation): the rows of a batch are copied once, straight from the blocks (:func:`gather`).
Everything is a function of ``(seed, source name, epoch, window)``, so any position of the stream
can be rebuilt without reading what came before.

The texts of a Parquet row group are decoded by the Rust core (``_core.MixParquetText``: the
``parquet`` crate over a memory map) when the text column is a flat string column, uncompressed,
snappy or lz4, without nulls: the texts stay slices of the file or of the decompressed pages until
they are copied into a batch or a Python ``str``, where pyarrow would first copy every text into
a fresh Arrow buffer. The id column is read the same way when it is a string column; other
columns and row groups are read with pyarrow.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tamis import _core
from tamis.exceptions import InputError
from tamis.io import buffers, file_names, is_path_source, list_files, read_batches, scan_schema

TEXT = "text"
ID = "id"
# Whether Parquet texts are decoded by the Rust core (tests compare both paths).
RUST_PARQUET = True

Texts = Union[pa.Array, _core.MixTextBlock]


class Block(NamedTuple):
    """One block of a window: its texts and ids (one chunk each), and where it comes from."""

    text: Texts  # a large_string array, or texts decoded by the Rust core
    id: pa.Array  # large_string
    label: str  # the file and row group, for error messages


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
        self._parts: list[Block] = []  # the window's blocks
        self._rows = np.zeros(0, dtype=np.int64)
        self._part = np.zeros(0, dtype=np.uint32)  # per shuffled window position: its block
        self._row_in = np.zeros(0, dtype=np.uint32)  # ... and its row in that block
        self._pf: dict[int, pq.ParquetFile] = {}
        # Per (Parquet file, column): its MixParquetText, or None (read with pyarrow).
        self._fast: dict[tuple[int, str], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (DataLoader workers started with spawn).

        Open files and the window are dropped and rebuilt on demand.
        """
        state = dict(self.__dict__)
        state.update(_pf={}, _fast={}, _meta={}, _parts=[], _window=None, _epoch=None)
        return state

    # --- reading --------------------------------------------------------------------------------

    def _read_json(self, f: Path) -> list[pa.RecordBatch]:
        return list(
            read_batches(f, text_column=self.text_column, id_column=self.id_column, columns=[])
        )

    def _read_block(self, b: int) -> Block:
        fi, rg, first, n = self.blocks[b]
        label = self._label(b)
        if fi < 0:
            batch = self._memory[rg]
            table = pa.Table.from_batches([batch])
            return _block(_standard(table, self.text_column, self.id_column or ID), label)
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
            return _block(_standard(table, self.text_column, id_name), label)
        texts = self._rust_strings(fi, rg, self.text_column)
        ids = self._rust_strings(fi, rg, id_name) if self._id_in_file[f] else None
        cols = ([self.text_column] if texts is None else []) + (
            [id_name] if self._id_in_file[f] and ids is None else []
        )
        table = self._read_parquet(fi, rg, cols) if cols else None
        if ids is None:
            if self._id_in_file[f]:
                assert table is not None
                ids = _large_strings(table.column(id_name))
            else:
                ids = _gen_ids(self._names[f], first, n)
        if texts is None:
            assert table is not None
            texts = _large_strings(table.column(self.text_column))
        # UTF-8 is checked per row when a row is taken (gather(), strings()), not here.
        return Block(texts, ids, label)

    def _rust_strings(self, fi: int, rg: int, column: str) -> Any:
        """Column ``column`` of row group ``rg`` of Parquet file ``fi`` decoded by the Rust core.

        None where it cannot be (see the module's docstring).
        """
        if not RUST_PARQUET:
            return None
        f = self.files[fi]
        key = (fi, column)
        if key not in self._fast:
            try:
                self._fast[key] = _core.MixParquetText.open(str(f), column)
            except (OSError, ValueError):
                self._fast[key] = None  # pyarrow's reader names what is wrong with the file
        reader = self._fast[key]
        if reader is None:
            return None
        try:
            return reader.read(rg)
        except ValueError as e:
            raise InputError(f"{f}: row group {rg} cannot be read ({e})") from None

    def _read_parquet(self, fi: int, rg: int, cols: list[str]) -> pa.Table:
        f = self.files[fi]
        pf = self._pf.get(fi)
        if pf is None:
            # Memory-mapped (pages are decoded from the mapping, not copied in first) and open for
            # one window only, so the mapped pages of a source do not pile up in the RSS.
            try:
                meta = self._meta.get(fi)
                pf = self._pf[fi] = pq.ParquetFile(str(f), metadata=meta, memory_map=True)
            except (pa.ArrowException, OSError) as e:
                raise InputError(f"{f}: not a readable Parquet file ({e})") from None
        try:
            return pf.read_row_group(rg, columns=cols, use_threads=False)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{f}: row group {rg} cannot be read ({e})") from None

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
        self._fast = {}
        ids = self._order[window * self.buffer_blocks : (window + 1) * self.buffer_blocks]
        # Kept per block, not concatenated: the rows of a batch are copied once, by gather().
        parts = [self._read_block(int(b)) for b in ids]
        rows = np.concatenate(
            [np.arange(self.starts[b], self.starts[b] + self.lengths[b]) for b in ids]
        )
        if self.shuffle:
            key = _key(self.seed, self.name, epoch, window)
            perm = _core.permutation(len(rows), key).astype(np.int64)
        else:
            perm = np.arange(len(rows), dtype=np.int64)
        first = np.cumsum([0] + [len(p.id) for p in parts])
        part = np.searchsorted(first, perm, side="right") - 1
        self._part = part.astype(np.uint32)
        self._row_in = (perm - first[part]).astype(np.uint32)
        self._rows = rows[perm]
        self._parts = parts
        self._window = (epoch, window)

    def take(
        self, ranks: np.ndarray
    ) -> tuple[list[tuple[list[Block], np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
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
    ) -> Iterator[tuple[list[Block], np.ndarray, np.ndarray, np.ndarray]]:
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
    blocks: list[Block], column: str, chunk: np.ndarray, row: np.ndarray, *, as_str: bool
) -> Any:
    """Rows ``(chunk[j], row[j])`` of column ``column`` (``"text"`` or ``"id"``) of ``blocks``.

    A ``large_string`` array (:func:`gather`) or, with ``as_str``, a list of Python strings
    (:func:`strings`).

    Only the rows taken are checked to be UTF-8 (the gathered copy by Arrow, the strings by
    CPython); a block with a bad row raises :class:`InputError` naming its file and row group.
    """
    arrays = [getattr(b, column) for b in blocks]
    try:
        return strings(arrays, chunk, row) if as_str else gather(arrays, chunk, row)
    except (ValueError, pa.ArrowInvalid):  # UnicodeDecodeError is a ValueError
        for b, a in zip(blocks, arrays):
            if isinstance(a, _core.MixTextBlock):
                bad = a.first_invalid_utf8()
                if bad is not None:
                    raise InputError(
                        f"{b.label}: {column} is not valid UTF-8 (its row {bad[0]}, byte {bad[1]})"
                    ) from None
                continue
            try:
                a.validate(full=True)
            except pa.ArrowInvalid:
                raise InputError(f"{b.label}: {column} is not valid UTF-8") from None
        raise


def _arrow(arrays: list[Texts]) -> list[Texts]:
    """``arrays`` all Arrow, or all Rust blocks.

    A window that mixes both (a row group with nulls among others) has its Rust blocks copied
    into Arrow arrays.
    """
    rust = [isinstance(a, _core.MixTextBlock) for a in arrays]
    if all(rust) or not any(rust):
        return arrays
    return [
        _gather_blocks([a], np.zeros(len(a), np.uint32), np.arange(len(a), dtype=np.uint32))
        if r
        else a
        for a, r in zip(arrays, rust)
    ]


def gather(arrays: list[Texts], chunk: np.ndarray, row: np.ndarray) -> pa.Array:
    """Rows ``(chunk[j], row[j])`` of string ``arrays`` as one ``large_string`` array.

    One copy of the selected rows (Rust), then Arrow checks the copy is UTF-8; Arrow's ``take``
    over a chunked column would first concatenate every chunk. Columns with nulls take
    Arrow's path.
    """
    arrays = _arrow(arrays)
    if arrays and isinstance(arrays[0], _core.MixTextBlock):
        return _gather_blocks(arrays, chunk, row)
    return _gather_arrow(arrays, chunk, row)


def _gather_arrow(arrays: list[pa.Array], chunk: np.ndarray, row: np.ndarray) -> pa.Array:
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


def _gather_blocks(blocks: list[Any], chunk: np.ndarray, row: np.ndarray) -> pa.Array:
    """:func:`gather` from texts decoded by the Rust core."""
    offs = _core.mix_block_gather(blocks, chunk, row)
    out = pa.allocate_buffer(int(offs[-1]))
    _core.mix_block_gather(blocks, chunk, row, np.frombuffer(out, dtype=np.uint8))
    got = pa.LargeStringArray.from_buffers(len(offs) - 1, pa.py_buffer(offs), out)
    got.validate(full=True)
    return got


def strings(arrays: list[Texts], chunk: np.ndarray, row: np.ndarray) -> list[str]:
    """Rows ``(chunk[j], row[j])`` of string ``arrays`` as Python strings.

    Made straight from the arrays' buffers (Rust; CPython checks the UTF-8; no gathered copy in
    between). Columns with nulls take Arrow's path.
    """
    arrays = _arrow(arrays)
    if arrays and isinstance(arrays[0], _core.MixTextBlock):
        return _core.mix_block_strings(arrays, chunk, row)
    return _strings_arrow(arrays, chunk, row)


def _strings_arrow(arrays: list[pa.Array], chunk: np.ndarray, row: np.ndarray) -> list[str]:
    if not arrays or any(a.null_count for a in arrays):
        return _gather_arrow(arrays, chunk, row).to_pylist()
    bufs = [buffers(a)[:2] for a in arrays]
    return _core.mix_strings([b[0] for b in bufs], [b[1] for b in bufs], chunk, row)


def _block(table: pa.Table, label: str) -> Block:
    """A block of a standard ``text`` / ``id`` table (one chunk per column)."""
    return Block(_large_strings(table.column(TEXT)), _large_strings(table.column(ID)), label)


def _large_strings(col: pa.ChunkedArray) -> pa.Array:
    """A column as one ``large_string`` array.

    A JSON Lines block is read in several chunks; ids of any type become their string form.
    """
    if col.type != pa.large_string():
        col = col.cast(pa.large_string())
    return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)


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
