#!/usr/bin/env python3
"""The plot of benches/proxy_training.py: held-out target loss vs training tokens, per method.

One panel per target domain; each line is the mean over seeds of a method's target-domain eval
loss at the evaluation points of training, the band ± one std over seeds.

Usage: ``python benches/proxy_training_plot.py [--json bench-results/proxy_training.json]
[--out docs/proxy_training.png]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _common import REPO, RESULTS


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
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
