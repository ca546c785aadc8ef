"""``tamis report``: one self-contained HTML page about a ``tamis run`` folder.

Everything is inline: plots are matplotlib SVG (text kept as text, so the file stays small),
the style sheet is in the page, and there is no script and no link to anything outside the file;
it opens offline, prints, and reads on a laptop screen. Sections: the run (recipe, versions,
inputs, output), an overview of every step (documents and tokens in and out, seconds, peak
memory), the flow of documents, the mixture per group (with ``by:`` in the recipe: the share of
each group after every step), then one section per step with its parameters, drop reasons and
its own plots (dedup: duplicate cluster sizes; DSIR: the log-weight histogram of all documents
and of the selected ones, the KL reduction; score/side steps: histograms of their numeric
outputs; coreset: its summary).
"""

from __future__ import annotations

import html
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SECTIONS", "render", "write_report"]

#: Ids of the sections every report has (a step section is ``step-<name>``).
SECTIONS = ("run", "overview", "flow", "mixture", "time")

_CSS = """
:root { --fg: #1d232a; --muted: #5b6570; --line: #d8dde3; --accent: #2f6db5; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 34px 0 10px;
  border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; color: var(--muted); }
.sub { color: var(--muted); margin: 0 0 18px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { font-weight: 600; background: #f4f6f8; }
.kv td { text-align: left; } .kv td:first-child { color: var(--muted); padding-right: 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.card b { display: block; font-size: 20px; } .card span { color: var(--muted); font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; }
code { background: #f4f6f8; padding: 1px 4px; border-radius: 3px; font-size: 13px; }
section.step { page-break-inside: avoid; }
@media print { body { max-width: none; padding: 0; } h2 { page-break-after: avoid; } }
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:  # NaN
            return "–"
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return html.escape(str(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _figure(fig: Any, caption: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inline SVG
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: small, selectable
            "svg.hashsalt": "tamis",  # stable ids: the same run gives the same file
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
        }
    )
    return plt


def _bar(labels: Sequence[str], series: dict[str, Any], title: str, ylabel: str) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 2.8))
    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, labels, rotation=20 if len(labels) > 4 else 0, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=8)
    return fig


def _hist(groups: dict[str, np.ndarray], title: str, xlabel: str, log: bool = False) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 2.8))
    values = [v[np.isfinite(v)] for v in groups.values()]
    allv = np.concatenate(values) if values else np.zeros(0)
    bins = np.histogram_bin_edges(allv, bins=40) if len(allv) else 10
    for (name, _), v in zip(groups.items(), values):
        ax.hist(v, bins=bins, alpha=0.6, label=f"{name} ({len(v):,})", density=len(groups) > 1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density" if len(groups) > 1 else "documents")
    if log:
        ax.set_yscale("log")
    ax.legend(frameon=False, fontsize=8)
    return fig


def _load(run_dir: Path) -> tuple[dict[str, Any], list[tuple[Path, dict[str, Any]]]]:
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    steps = []
    for s in run["steps"]:
        d = run_dir / s["dir"]
        f = d / "stats.json"
        if f.exists():
            steps.append((d, json.loads(f.read_text(encoding="utf-8"))))
    return run, steps


def _step_plots(run_dir: Path, d: Path, st: dict[str, Any]) -> list[str]:
    """The plots of one step (by its type)."""
    import pyarrow.parquet as pq

    out = []
    kind = st.get("step")
    reasons = st.get("drop_reasons") or {}
    if reasons:
        fig = _bar(list(reasons), {"documents": list(reasons.values())}, "drop reasons", "docs")
        out.append(_figure(fig, "Documents dropped (or not selected), by reason."))
    if kind == "dedup" and st.get("cluster_sizes"):
        sizes = st["cluster_sizes"]
        fig = _bar(list(sizes), {"clusters": list(sizes.values())}, "duplicate clusters", "")
        fig.axes[0].set_xlabel("cluster size (documents)")
        out.append(_figure(fig, "Clusters of near-duplicates by size; one document of each kept."))
    if kind == "dsir":
        w = [np.load(p)[:, 0] for p in sorted((d / "weights").glob("*.npy"))]
        groups = {"all documents": np.concatenate(w)} if w else {}
        sel = [run_dir / p for p in st.get("outputs", [])]
        if sel and "log_weight" in pq.read_schema(sel[0]).names:
            groups["selected"] = pq.read_table(sel[0], columns=["log_weight"]).column(0).to_numpy()
        if groups:
            fig = _hist(groups, "DSIR log importance weights", "log weight")
            out.append(
                _figure(fig, "Log importance weights of every document and of the selection.")
            )
    if st.get("mode") == "side":
        for p in sorted((d / "side").glob("*.parquet"))[:1]:
            t = pq.read_table(p)
            for name in t.column_names:
                if t.schema.field(name).type in ("double", "float", "int64", "int32"):
                    vals = t.column(name).to_numpy(zero_copy_only=False).astype(float)
                    fig = _hist({name: vals}, f"{name} (first shard)", name)
                    out.append(_figure(fig, f"Histogram of {name}."))
    return out


def render(run_dir: str | os.PathLike[str]) -> str:
    """The report of a run folder as one HTML string."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise FileNotFoundError(f"{run_dir}: not a tamis run folder (no run.json)")
    run, steps = _load(run_dir)
    by = run.get("by")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>tamis run: {html.escape(str(run.get('recipe')))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>tamis run report</h1>",
        f'<p class="sub">{html.escape(str(run.get("recipe")))} · {html.escape(str(run_dir))} · '
        f"{len(steps)} of {len(run['steps'])} steps finished</p>",
    ]
    # -- run --
    v = run.get("versions", {})
    first = steps[0][1] if steps else {}
    last = steps[-1][1] if steps else {}
    cards = [
        ("documents in", first.get("docs_out")),
        ("documents out", last.get("docs_out")),
        ("tokens in", first.get("tokens_out")),
        ("tokens out", last.get("tokens_out")),
        ("seconds (all units)", sum(s.get("seconds") or 0 for _, s in steps)),
        ("peak memory MiB", max((s.get("peak_rss_mib") or 0 for _, s in steps), default=None)),
    ]
    parts.append('<section id="run"><h2>Run</h2><div class="cards">')
    parts += [f"<div class=card><b>{_fmt(val)}</b><span>{k}</span></div>" for k, val in cards]
    parts.append("</div>")
    parts.append(
        _kv(
            [
                ("inputs", ", ".join(run.get("inputs", []))),
                ("output", run.get("output")),
                ("shard rows", run.get("shard_rows")),
                ("text / id column", f"{run.get('text_column')} / {run.get('id_column') or 'id'}"),
                ("group by", by),
                ("versions", ", ".join(f"{k} {val}" for k, val in v.items())),
            ]
        )
    )
    parts.append("</section>")
    # -- overview --
    rows = [
        [
            s["name"],
            s.get("mode"),
            s.get("docs_in"),
            s.get("docs_out"),
            s.get("tokens_in"),
            s.get("tokens_out"),
            s.get("seconds"),
            s.get("peak_rss_mib"),
        ]
        for _, s in steps
    ]
    parts.append('<section id="overview"><h2>Steps</h2>')
    parts.append(
        _table(
            ["step", "mode", "docs in", "docs out", "tokens in", "tokens out", "s", "peak MiB"],
            rows,
        )
    )
    parts.append("</section>")
    # -- flow --
    names = [s["name"] for _, s in steps]
    parts.append('<section id="flow"><h2>Documents and tokens through the steps</h2>')
    parts.append('<div class="plots">')
    fig = _bar(names, {"documents": [s.get("docs_out") or 0 for _, s in steps]}, "documents", "")
    parts.append(_figure(fig, "Documents after each step."))
    fig = _bar(names, {"tokens": [s.get("tokens_out") or 0 for _, s in steps]}, "tokens", "")
    parts.append(_figure(fig, "Tokens (word tokens) after each step."))
    parts.append("</div></section>")
    # -- mixture --
    parts.append('<section id="mixture"><h2>Mixture</h2>')
    groups = sorted({g for _, s in steps for g in (s.get("profile_out") or {}).get("groups", {})})
    if groups:
        share = {}
        for _, s in steps:
            g = (s.get("profile_out") or {}).get("groups", {})
            total = max(sum(x["tokens"] for x in g.values()), 1)
            share[s["name"]] = [g.get(k, {}).get("tokens", 0) / total for k in groups]
        parts.append(
            _table(
                [f"{by} (token share)", *names],
                [[k, *(f"{share[n][i]:.1%}" for n in names)] for i, k in enumerate(groups)],
            )
        )
        series = {str(k): [share[n][i] for n in names] for i, k in enumerate(groups)}
        fig = _bar(names, series, f"token share per {by}", "share")
        parts.append(_figure(fig, "The input mixture (read) and the mixture after each step."))
    else:
        parts.append("<p>No <code>by:</code> column in the recipe: no per-group mixture.</p>")
    parts.append("</section>")
    # -- steps --
    for d, s in steps:
        sid = f"step-{s['name']}"
        parts.append(f'<section class="step" id="{html.escape(sid)}">')
        parts.append(
            f"<h2>{html.escape(s['name'])} <small>({html.escape(str(s.get('step')))},"
            f" {html.escape(str(s.get('mode')))})</small></h2>"
        )
        facts = [(k, s.get(k)) for k in ("docs_in", "docs_out", "tokens_in", "tokens_out")]
        facts += [
            (k, s[k])
            for k in (
                "documents",
                "kept",
                "removed",
                "duplicate_clusters",
                "largest_cluster",
                "selected",
                "eligible",
                "k",
                "kl_reduction",
                "distortion",
                "files",
                "shards",
                "output",
            )
            if k in s
        ]
        facts += [("seconds", s.get("seconds")), ("peak memory MiB", s.get("peak_rss_mib"))]
        parts.append(_kv(facts))
        params = {k: val for k, val in (s.get("params") or {}).items() if val not in (None, False)}
        if params:
            parts.append("<h3>parameters</h3>")
            parts.append(_kv(sorted(params.items())))
        summary = s.get("summary")
        if isinstance(summary, dict):
            flat = [(k, val) for k, val in summary.items() if not isinstance(val, (dict, list))]
            for k, val in summary.items():  # one level of nesting (stats' total)
                if isinstance(val, dict):
                    flat += [
                        (f"{k}.{kk}", vv)
                        for kk, vv in val.items()
                        if not isinstance(vv, (dict, list))
                    ]
            if flat:
                parts.append("<h3>command summary</h3>")
                parts.append(_kv(flat))
        plots = _step_plots(run_dir, d, s)
        if plots:
            parts.append('<div class="plots">' + "".join(plots) + "</div>")
        parts.append("</section>")
    # -- time --
    parts.append('<section id="time"><h2>Time and memory</h2><div class="plots">')
    fig = _bar(names, {"seconds": [s.get("seconds") or 0 for _, s in steps]}, "seconds", "s")
    parts.append(_figure(fig, "Seconds of work per step (sum over its units, all calls)."))
    mem = [s.get("peak_rss_mib") or 0 for _, s in steps]
    fig = _bar(names, {"peak RSS": mem}, "peak memory", "MiB")
    parts.append(_figure(fig, "Peak resident memory of the process when each step ended."))
    parts.append("</div></section></body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Write :func:`render`'s page to ``output`` (atomically); returns the path."""
    from tamis.output import write_text

    page = render(run_dir)
    write_text(output, page)
    return Path(output)
