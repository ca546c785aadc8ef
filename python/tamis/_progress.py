"""Progress bars: tqdm, quiet when stderr is not a terminal (tqdm's ``disable=None``)."""

from __future__ import annotations

import sys
from typing import Any


class _Quiet:
    """A bar that shows nothing: every tqdm method is a no-op."""

    n = 0

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def progress(
    total: int | None = None, desc: str = "", unit: str = "docs", *, enabled: bool = True
) -> Any:
    """Return a tqdm bar that is silent when not a TTY or when ``enabled`` is false.

    A silent bar does not import tqdm (``tqdm.auto`` imports asyncio: 0.3-0.6 s of every
    command's start-up on the 2-core machine).
    """
    stream = sys.stderr
    if not enabled or stream is None or not stream.isatty():
        return _Quiet()
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        disable=None if enabled else True,
        dynamic_ncols=True,
        leave=False,
    )


def total_rows(source: Any) -> int | None:
    """Rows of a source when known for free, for progress bars with a total and an ETA.

    Parquet files (their metadata) and in-memory tables; ``None`` for JSON Lines (whose row count
    needs a full read) or anything unreadable (the reader reports it).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tamis.io import is_path_source, list_files

    if isinstance(source, (pa.Table, pa.RecordBatch)):
        return source.num_rows
    if isinstance(source, (list, tuple)) and not is_path_source(source):
        return len(source) if all(isinstance(s, str) for s in source) else None
    try:
        files = list_files(source)
        if not all(str(f).lower().endswith(".parquet") for f in files):
            return None
        return sum(pq.ParquetFile(str(f)).metadata.num_rows for f in files)
    except Exception:  # the reader reports unreadable inputs with context
        return None
