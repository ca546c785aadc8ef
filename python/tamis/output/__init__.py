"""Writing outputs safely: checked before any work starts, written atomically, never over an input.

Every file tamis writes goes through this module:

- :func:`check_output` runs before the first input byte is read. It refuses an output that
  resolves (through symlinks, and by inode for hard links) to an input file or into an input
  directory, an existing directory, a device, FIFO or socket, a read-only file, an unwritable
  folder and an unknown extension; it names both paths. A symlink is written *through* (its target
  is replaced, the link stays), as ``cp`` does.
- The data goes to a hidden temporary file next to the target (``.<name>.tamis-XXXXXX.tmp``),
  which is renamed over the target only when the write completes: an interrupted run (an error,
  Ctrl-C, ``kill -9``, a full disk) never leaves a truncated output, and the temporary file is
  removed on every failure path Python sees. Temporary files of this pattern older than a day
  (left by ``kill -9``) are removed when a new output is checked in the same folder.
- Files get the mode a plain ``open()`` would give them (``0o666`` minus the umask), not the
  ``0o600`` of a temporary file.

The format follows the extension: ``.parquet`` (with the run metadata in the schema),
``.jsonl`` / ``.ndjson`` and their ``.gz`` / ``.zst`` forms, and ``-`` for JSON Lines on stdout.
"""

from tamis.output._checks import (
    OUTPUT_FORMATS,
    STDOUT,
    OutputError,
    check_distinct,
    check_output,
    file_mode,
    output_format,
)
from tamis.output._files import (
    atomic_path,
    read_run_metadata,
    run_metadata,
    save_npz,
    write_json,
    write_text,
)
from tamis.output._sinks import JsonlSink, ParquetSink, conform, open_sink, write_parquet

__all__ = [
    "OUTPUT_FORMATS",
    "STDOUT",
    "JsonlSink",
    "OutputError",
    "ParquetSink",
    "atomic_path",
    "check_distinct",
    "check_output",
    "conform",
    "file_mode",
    "open_sink",
    "output_format",
    "read_run_metadata",
    "run_metadata",
    "save_npz",
    "write_json",
    "write_parquet",
    "write_text",
]
