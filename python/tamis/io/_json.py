"""The JSON Lines reader: blocks that grow to fit long lines, the null-line guard, bad lines located."""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from tamis.exceptions import InputError
from tamis.io._columns import _columns_of

#: JSON blocks grow (doubling) up to this size to fit the longest line; pyarrow's limit is 2 GiB.
_MAX_JSON_BLOCK = 1 << 30


class _StreamError(Exception):
    """Reading (decompressing) a file failed inside line ``lineno``, at byte ``offset``."""

    def __init__(self, lineno: int, offset: int, cause: BaseException) -> None:
        super().__init__(lineno, offset, cause)
        self.lineno, self.offset, self.cause = lineno, offset, cause


def _iter_lines(f: Any, block: int = 1 << 20) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset of its start, line)`` of a pyarrow stream, read in blocks."""
    pieces: list[bytes] = []
    lineno, offset, pending = 1, 0, 0
    while True:
        try:
            chunk = f.read(block)
        except (pa.ArrowException, OSError) as e:
            raise _StreamError(lineno, offset, e) from None
        if not chunk:
            break
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                pieces.append(chunk[start:])
                pending += len(chunk) - start
                break
            pieces.append(chunk[start:nl])
            line = b"".join(pieces)
            pieces, pending = [], 0
            yield lineno, offset, line
            offset += len(line) + 1
            lineno += 1
            start = nl + 1
    if pending:
        yield lineno, offset, b"".join(pieces)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _locate_bad_json(path: Path, compression: str | None) -> str | None:
    """Describe the first line that is not a valid UTF-8 JSON object (or where the stream breaks).

    ``None`` if every line is fine (the problem is then one Arrow sees, such as a type change).
    """
    where = " of the decompressed data" if compression else ""
    try:
        with pa.input_stream(str(path), compression=compression) as f:
            for lineno, offset, raw in _iter_lines(f, 1 << 16):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    return f"line {lineno}: invalid UTF-8 at byte {e.start}"
                try:
                    value = json.loads(text)
                except ValueError as e:
                    return f"line {lineno} (byte {offset}{where}): invalid JSON ({e})"
                if not isinstance(value, dict):
                    return (
                        f"line {lineno} (byte {offset}{where}): expected a JSON object "
                        f"(one per line), got {_json_kind(value)}"
                    )
    except _StreamError as e:
        kind = f"{compression} stream" if compression else "file"
        return (
            f"line {e.lineno} (byte {e.offset}{where}): the {kind} is truncated or corrupt "
            f"({e.cause})"
        )
    return None


def _json_error(path: Path, compression: str | None, e: BaseException) -> InputError:
    found = _locate_bad_json(path, compression)
    if found is None:
        return InputError(f"{path}: cannot be read as JSON Lines ({e})")
    return InputError(f"{path}: {found} [{e}]")


class _NullLineGuard:
    """A read-only stream that stops before pyarrow sees a line holding only ``null``.

    pyarrow's JSON reader crashes the process (segfault, pyarrow 26) when a block starts with such
    a line; a line that is not a JSON object is an error here anyway. The check is one regex
    search per block (anchored on newlines) over pyarrow's own buffer, without a copy.

    It also keeps the interpreter alive while pyarrow still holds its blocks: the reader parses
    ahead in Arrow's thread pool, and a pool thread that drops the last reference to a block
    after Python began to shut down takes the GIL, is ended by ``pthread_exit`` and aborts the
    process (``terminate called without an active exception``; seen on Ctrl-C). :meth:`release`
    waits until every block handed out is freed.
    """

    _WS = b" \t\r"
    _NULL_LINE = re.compile(rb"\n[ \t\r]*null[ \t\r]*\n")
    _TAIL = 64  # bytes of a block's end searched for its last line

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        # "\n" plus the unfinished last line (stripped) while it may still be "null", else b"x".
        self._carry = b"\n"
        self._out: dict[int, weakref.ref[Any]] = {}  # blocks pyarrow still holds, by id
        self.found = False
        self.closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read_buffer(self, n: int = -1) -> pa.Buffer:
        """The next block as an Arrow buffer (pyarrow's reader calls this, not :meth:`read`)."""
        # Read as bytes, then wrapped: Arrow's own read_buffer allocates each block from its pool
        # and was ~15% slower for the whole JSON read (page faults; measured on 100 MB).
        chunk = pa.py_buffer(self._raw.read() if n is None or n < 0 else self._raw.read(n))
        self._check(chunk)
        ref = weakref.ref(chunk, self._freed)
        self._out[id(ref)] = ref
        return chunk

    def _freed(self, ref: weakref.ref[Any]) -> None:
        self._out.pop(id(ref), None)

    def read(self, n: int = -1) -> bytes:
        return self.read_buffer(n).to_pybytes()

    def close(self) -> None:
        self.closed = True
        self._raw.close()

    def release(self, timeout: float = 10.0) -> None:
        """Close, then wait (without the GIL) until pyarrow freed every block it was given.

        Call it after the last reference to the JSON reader is gone; its read-ahead tasks end
        on the closed stream.
        """
        self.close()
        deadline = time.monotonic() + timeout
        while self._out and time.monotonic() < deadline:
            time.sleep(0.002)

    def __enter__(self) -> _NullLineGuard:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check(self, chunk: Any) -> None:
        if not chunk:  # end of the stream: an unfinished last line
            if self._carry.strip() == b"null":
                self._fail()
            return
        if len(chunk) <= self._TAIL:  # small: the whole line logic on a copy
            self._carry = self._scan(self._carry + chunk.to_pybytes())
            return
        if self._carry != b"x":  # the line that straddles the previous block and this one
            head = self._carry + chunk.slice(0, self._TAIL).to_pybytes()
            if self._NULL_LINE.match(head):
                self._fail()
            if b"\n" not in head[1:] and self._carry_of(head[1:]) != b"x":
                self._scan(self._carry + chunk.to_pybytes())  # long blanks: the exact check
        if self._NULL_LINE.search(chunk):  # regex over the buffer itself: no copy
            self._fail()
        tail = chunk.slice(len(chunk) - self._TAIL).to_pybytes()
        if b"\n" in tail:
            self._carry = self._carry_of(tail[tail.rfind(b"\n") + 1 :])
        elif tail.strip(self._WS) in b"null":  # the end of a long line that may be "null"
            self._carry = self._scan(self._carry + chunk.to_pybytes())
        else:
            self._carry = b"x"

    def _scan(self, data: bytes) -> bytes:
        """Check the complete lines of ``data`` (carry + block); the carry for its last line."""
        if self._NULL_LINE.search(data):
            self._fail()
        return self._carry_of(data[data.rfind(b"\n") + 1 :])

    @classmethod
    def _carry_of(cls, line: bytes) -> bytes:
        """The carry for an unfinished line: ``"\\n"`` + what it holds while it may be "null"."""
        word = line.strip(cls._WS)
        if not word:
            return b"\n"
        if line[-1:] in (b" ", b"\t", b"\r"):  # blanks after the word: the word is complete
            return b"\nnull " if word == b"null" else b"x"
        return b"\n" + word if b"null".startswith(word) else b"x"

    def _fail(self) -> None:
        self.found = True
        raise OSError("a line holds only null, not a JSON object")


def _open_json(
    path: Path,
    compression: str | None,
    block: int,
    schema: pa.Schema | None = None,
    ignore_other: bool = False,
) -> tuple[Any, Any]:
    stream = _NullLineGuard(pa.input_stream(str(path), compression=compression))
    parse = pajson.ParseOptions()
    if schema is not None:
        unexpected = "ignore" if ignore_other else "error"
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    try:
        return stream, pajson.open_json(
            stream, read_options=pajson.ReadOptions(block_size=block), parse_options=parse
        )
    except BaseException:
        stream.release()
        raise


def _bigger_block(path: Path, block: int, e: BaseException) -> int:
    """The next block size after a 'straddling object' error, or an InputError past the limit."""
    if block >= _MAX_JSON_BLOCK:
        raise InputError(
            f"{path}: a line is longer than {_MAX_JSON_BLOCK >> 20} MiB, the longest supported ({e})"
        ) from None
    return min(block * 2, _MAX_JSON_BLOCK)


def _is_straddle(e: BaseException) -> bool:
    return isinstance(e, pa.ArrowInvalid) and "straddl" in str(e)


def _json_schema(path: Path, compression: str | None, block: int) -> tuple[pa.Schema | None, int]:
    """Schema of a JSON Lines file (from its first block) and the block size that fits it.

    ``None`` for a file without any document (empty, blank lines, an empty compressed stream).
    """
    if path.stat().st_size == 0:
        return None, block
    while True:
        try:
            stream, reader = _open_json(path, compression, block)
            try:
                return reader.schema, block
            finally:
                del reader
                stream.release()
        except (pa.ArrowException, OSError) as e:
            if _is_straddle(e):
                block = _bigger_block(path, block, e)
                continue
            if "Empty JSON" in str(e):
                found = _locate_bad_json(path, compression)  # e.g. a truncated gzip header
                if found is None:
                    return None, block
                raise InputError(f"{path}: {found} [{e}]") from None
            raise _json_error(path, compression, e) from None


def _iter_json(
    path: Path, compression: str | None, block: int, schema: pa.Schema, ignore_other: bool
) -> Iterator[pa.RecordBatch]:
    """Batches of a JSON Lines file parsed to ``schema``.

    A line longer than the block restarts the read with a bigger block, skipping the rows already
    yielded. ``ignore_other``: drop the fields ``schema`` lacks (else they are an error, as in
    pyarrow, which takes a file's fields from its first block).
    """
    emitted = 0
    while True:
        skip = emitted
        try:
            stream, reader = _open_json(path, compression, block, schema, ignore_other)
            try:
                for batch in reader:
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    if skip:
                        batch, skip = batch.slice(skip), 0
                    emitted += batch.num_rows
                    yield batch
            finally:  # also when the consumer stops early (an error, Ctrl-C)
                del reader
                stream.release()
            return
        except (pa.ArrowException, OSError) as e:
            if _is_straddle(e):
                block = _bigger_block(path, block, e)
                continue
            if "unexpected field" in str(e):
                raise InputError(
                    f"{path}: a field that none of the first {block >> 10} KiB of the file has "
                    f"appears later (its columns are: {_columns_of(schema.names)}); pyarrow takes "
                    "a JSON Lines file's columns from its first block: select the columns you "
                    f"need, or put a document with every field first [{e}]"
                ) from None
            raise _json_error(path, compression, e) from None
