"""``tamis report``: one self-contained HTML page, opened in a real headless browser (chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.json as pj
import pytest

from tamis.pipeline import Pipeline, Step
from tamis.report import SECTIONS, render

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
pytest.importorskip("matplotlib")  # in the dev extra (CI has it)


def chromium() -> str:
    """The browser; CI installs Debian's chromium (.ci/run), so there it must be found."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
    pytest.skip("no chromium on this machine (apt-get install chromium)")


def browse(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Open ``page`` in headless chromium with console messages logged to stderr."""
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--enable-logging=stderr", "--v=0", "--no-first-run", "--disable-extensions", *args]
    cmd.append(page.resolve().as_uri())
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def console(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """Console messages (errors, warnings, logs, failed loads) of the page."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("report")
    t = pj.read_json(SAMPLE / "corpus.jsonl.gz")
    t = t.take(list(range(0, t.num_rows, 5)))  # 700 documents of every domain
    with open(d / "corpus.jsonl", "w") as f:
        for row in t.to_pylist():
            f.write(json.dumps(row) + "\n")
    Pipeline(
        str(d / "corpus.jsonl"),
        [
            Step("stats"),
            Step("dedup", threshold=0.7),
            Step("dsir", target=str(SAMPLE / "target.jsonl.gz"), k=150),
        ],
        output=str(d / "selected.parquet"),
        run_dir=str(d / "run"),
        shard_rows=200,
        by="domain",
    ).run()
    return d / "run"


def test_report_is_self_contained(run_dir: Path, tmp_path: Path) -> None:
    page = render(run_dir)
    assert page == render(run_dir)  # deterministic
    assert "<script" not in page
    assert "<link" not in page
    assert "<img" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    assert not re.search(r"url\((?!#)", page)  # only the SVGs' own clip paths
    for sid in (*SECTIONS, "step-read", "step-stats", "step-dedup", "step-dsir", "step-write"):
        assert f'id="{sid}"' in page
    assert page.count("<svg") >= 9  # flow, mixture, drops, cluster sizes, weights, time
    for text in ("kl_reduction", "duplicate clusters", "python-docs", "python-tests"):
        assert text in page
    out = tmp_path / "r.html"
    p = subprocess.run(
        [sys.executable, "-m", "tamis", "report", str(run_dir), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert out.read_text() == page
    bad = subprocess.run(
        [sys.executable, "-m", "tamis", "report", str(tmp_path)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "not a tamis run folder" in bad.stderr


def test_report_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(run_dir))
    dom = browse(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not console(dom), console(dom)
    for sid in (*SECTIONS, "step-dedup", "step-dsir"):
        assert f'id="{sid}"' in dom.stdout, sid
    assert dom.stdout.count("<svg") >= 9
    shot = tmp_path / "shot.png"
    p = browse(page, f"--screenshot={shot}", "--window-size=1200,1800")
    assert p.returncode == 0, p.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)[..., :3]
    assert img.shape[0] >= 1000
    assert img.shape[1] >= 1000
    ink = (img < 0.85).any(axis=-1).mean()  # share of pixels that are not (near) white
    assert 0.02 < ink < 0.6, ink
    assert img.std() > 0.05


def test_console_check_catches_errors(tmp_path: Path) -> None:
    """The browser check above would see a broken page (so its silence means something)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><p id=x>x</p><script>console.error('boom'); nope();</script>")
    msgs = console(browse(bad, "--dump-dom"))
    assert any("boom" in m for m in msgs)
    assert any("nope" in m for m in msgs)
