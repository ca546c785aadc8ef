"""``tamis report``: one self-contained HTML page about a run folder (plots inline, no network)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tamis.cli import _common as c


def run(args: argparse.Namespace) -> int:
    """Read the run folder's stats and write the HTML report."""
    from tamis.report import write_report

    out = Path(args.output) if args.output else Path(args.run_dir) / "report.html"
    path = write_report(args.run_dir, out)
    print(f"tamis report: {path}", file=sys.stderr)
    return 0


def add(sub: Any) -> None:
    """Register ``tamis report``."""
    p = c.add_parser(
        sub,
        "report",
        "an HTML report of a run folder (per step: documents, tokens, drops, plots)",
        "Write one self-contained HTML file (plots inline as SVG, no scripts or network) about "
        "a `tamis run` folder.",
    )
    p.add_argument("run_dir", help="the run folder of `tamis run`")
    p.add_argument(
        "-o", "--output", default=None, help="the .html file (default RUN_DIR/report.html)"
    )
    p.set_defaults(func=run)
