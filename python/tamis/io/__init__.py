"""Corpus input and output with pyarrow.

Inputs are read as a stream of Arrow record batches, so memory stays bounded however large the
corpus is. A *source* is any of:

- a path to a Parquet (``.parquet``), JSON Lines (``.jsonl``, ``.ndjson``, ``.json``) or compressed
  JSON Lines (``.jsonl.gz``, ``.jsonl.zst``, ...) file, a directory (searched recursively for such
  files), a glob pattern (``data/*.parquet``), or a list of these;
- in memory: a list of ``str``, a pyarrow ``Table`` / ``RecordBatch`` / ``Array`` /
  ``ChunkedArray``, a pandas or polars ``DataFrame``, a Hugging Face ``datasets.Dataset``, or any
  object implementing the Arrow PyCapsule stream interface (``__arrow_c_stream__``).

Every batch carries the text column (validated to be a string column) and an id column. When the
input has no id column, a stable one is created: ``"<file>:<row>"`` (file path relative to the
common folder of the inputs, row number inside the file) for files, the row number for in-memory
inputs. Ids depend only on the file and the row, never on the order the files are given in.

Null texts are passed through; every algorithm treats them as empty documents and counts them.
"""

from __future__ import annotations

# The reader is split by job: _sources (paths, globs, tamis.files), _columns (text/id checks),
# _json (JSON Lines), _schema (per-file schemas and their union), _memory (in-memory inputs,
# buffers) and _read (read_batches, as_text_array).
from tamis.io._columns import Columns as Columns
from tamis.io._columns import _check_text as _check_text
from tamis.io._memory import buffers
from tamis.io._read import as_text_array, read_batches, read_file
from tamis.io._schema import DEFAULT_BATCH_SIZE, scan_schema
from tamis.io._sources import (
    SUFFIXES,
    Files,
    file_names,
    files,
    is_path_source,
    list_files,
)
from tamis.io._sources import PathLike as PathLike

# Output lives in tamis.output; re-exported here for the existing import paths.
from tamis.output import (
    ParquetSink,
    read_run_metadata,
    run_metadata,
    write_parquet,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "SUFFIXES",
    "Files",
    "ParquetSink",
    "as_text_array",
    "buffers",
    "file_names",
    "files",
    "is_path_source",
    "list_files",
    "read_batches",
    "read_file",
    "read_run_metadata",
    "run_metadata",
    "scan_schema",
    "write_parquet",
]
