"""Progress bars: tqdm, quiet when stderr is not a terminal (tqdm's ``disable=None``)."""

from __future__ import annotations

from typing import Any


def progress(
    total: int | None = None, desc: str = "", unit: str = "docs", *, enabled: bool = True
) -> Any:
    """Return a tqdm bar that is silent when not a TTY or when ``enabled`` is false."""
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
