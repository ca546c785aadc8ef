#!/usr/bin/env python3
"""The report of benches/proxy_training.py: the plot and the Markdown tables, from its JSON only.

Plot: one panel per target domain; each line is the mean over seeds of a method's target-domain
eval loss at the evaluation points of training, the band ± one std over seeds (dotted: random;
dashed: methods that do not see the target). Tables (printed, for README.md and
docs/proxy_training.md): per target and method, selection seconds, target-domain share, KL
reduction, target loss, z vs random, general loss; then the KL/loss correlation.

Usage: ``python benches/proxy_training_report.py [--json bench-results/proxy_training.json]
[--out docs/proxy_training.png]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _common import REPO, RESULTS


def table(doc: dict) -> str:
    """Markdown: one row per (target, method); every figure from ``doc``."""
    lines = [
        "| target | method | selection s | target share | KL reduction | target loss | z vs random "
        "| general loss |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t, res in doc["targets"].items():
        for m, v in res["methods"].items():
            tl, gl, z = v["target_loss"], v["general_loss"], v["vs_random"]["z"]
            zs = "—" if m == "random" or z is None else f"{z:+.1f}" + (" ✓" if z > 3 else "")
            lines.append(
                f"| {t} | {m} | {v['selection_s']:.1f} | {v['target_domain_share']:.2f} "
                f"| {v['kl_reduction']:.3f} | {tl['mean']:.3f} ± {tl['std']:.3f} | {zs} "
                f"| {gl['mean']:.3f} ± {gl['std']:.3f} |"
            )
    out = "\n".join(lines)
    for key, what in (("kl_vs_target_loss", "all methods"),
                      ("kl_vs_target_loss_target_aware", "target-aware methods only")):  # fmt: skip
        c = doc.get(key)
        if c:
            out += (f"\n\nPearson r(KL reduction, target loss − per-target mean), {what}: "
                    f"{c['pearson_r']:.2f} (p = {c['p_value']:.1g}, n = {c['n']})")  # fmt: skip
    return out


def compact(doc: dict) -> str:
    """Markdown for the README headline: one row per method, the target loss (z vs random) per
    target, the mean general loss and the mean selection seconds over targets."""
    targets = list(doc["targets"])
    methods = list(next(iter(doc["targets"].values()))["methods"])
    head = " | ".join(f"{t}: target loss (z)" for t in targets)
    lines = [f"| method | {head} | general loss (mean) | selection s (mean) |",
             "| --- |" + " ---: |" * (len(targets) + 2)]  # fmt: skip
    for m in methods:
        vs = [doc["targets"][t]["methods"][m] for t in targets]
        cells = []
        for v in vs:
            tl, z = v["target_loss"], v["vs_random"]["z"]
            zs = "" if m == "random" or z is None else f" ({z:+.1f}{'' if z > 3 else ', n.s.'})"
            cells.append(f"{tl['mean']:.3f} ± {tl['std']:.3f}{zs}")
        gl = np.mean([v["general_loss"]["mean"] for v in vs])
        sel = np.mean([v["selection_s"] for v in vs])
        lines.append(f"| {m} | {' | '.join(cells)} | {gl:.3f} | {sel:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=str(RESULTS / "proxy_training.json"))
    ap.add_argument("--out", default=str(REPO / "docs" / "proxy_training.png"))
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = json.loads(Path(args.json).read_text())
    targets = doc["targets"]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 4.0), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (t, res) in zip(axes[0], targets.items()):
        for i, (m, v) in enumerate(res["methods"].items()):
            tokens = np.array([p["tokens"] for p in v["runs"][0]["curve"]]) / 1e3
            loss = np.array([[p["target"] for p in r["curve"]] for r in v["runs"]])
            mean, sd = loss.mean(0), loss.std(0, ddof=1) if len(loss) > 1 else 0 * loss[0]
            style = "--" if not v.get("sees_target", True) else "-"
            if m == "random":
                style = ":"
            ax.plot(tokens, mean, style, color=cmap(i % 10), label=m, lw=1.5)
            ax.fill_between(tokens, mean - sd, mean + sd, color=cmap(i % 10), alpha=0.15)
        ax.set_title(f"target: {t}")
        ax.set_xlabel("training tokens (thousands)")
        ax.set_ylabel("held-out target loss (nats/token)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    cfg = doc["config"]
    fig.suptitle(f"proxy training: {doc['n_params'] / 1e6:.2f}M-parameter Llama, "
                 f"{cfg['seeds']} seeds, same tokens per method", fontsize=10)  # fmt: skip
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=72)
    print(f"wrote {args.out}\n")
    print(table(doc))
    print("\n" + compact(doc))


if __name__ == "__main__":
    main()
