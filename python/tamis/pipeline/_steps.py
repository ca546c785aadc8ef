"""The built-in step types (the registry).

Their runners live by job in ``_shards`` (read, write), ``_commands`` (the adapter over any command) and ``_global`` (dedup, dsir).

Each runner takes a :class:`~tamis.pipeline._run.StepContext` and returns ``(output shards,
stats)``. Work is cut into units (a shard, or a small global computation) through
``ctx.unit(key, work)``, which skips units whose completion marker exists.
"""

from __future__ import annotations

from typing import Any

from tamis.pipeline._commands import run_command
from tamis.pipeline._global import run_dedup, run_dsir
from tamis.pipeline._registry import (
    CliStep,
    StepType,
    register,
)
from tamis.pipeline._shards import run_read, run_write

# -- the registry -----------------------------------------------------------------------------------

#: The first and last step of every run (not named in recipes).
READ = StepType("read", "native", "inputs into shards", runner=run_read)
WRITE = StepType("write", "native", "the last shards into the output", runner=run_write)

register(CliStep("stats", "inspect", "documents, nulls, bytes and tokens per group"))
register(
    CliStep(
        "filter",
        "map",
        "keep the documents that pass every rule (Gopher, C4, FineWeb)",
        exclude=("rejected",),
    )
)
register(
    CliStep(
        "decontaminate",
        "map",
        "flag, drop or cut documents containing eval-set n-grams (index built per shard "
        "unless index: names a saved one)",
        exclude=("save_index", "report"),
        path_params=("index",),
    )
)
register(
    StepType(
        "dedup",
        "native",
        "remove near-duplicates (MinHash LSH, verified) and exact duplicates",
        command="dedup",
        runner=run_dedup,
    )
)
register(
    StepType(
        "dsir",
        "native",
        "select k documents that match a target (DSIR importance resampling)",
        command="dsir",
        exclude=("separate_targets", "target_proportions", "by", "reference"),
        runner=run_dsir,
        path_params=("target",),
    )
)
register(CliStep("score", "side", "model scores per document (kept in the step folder)"))
register(
    CliStep(
        "cluster",
        "side-whole",
        "k-means of an embedding column (assignments kept in the step folder)",
        exclude=("centroids",),
        single_input=True,
        path_params=("init_centroids",),
    )
)
register(
    CliStep(
        "semdedup",
        "whole",
        "semantic dedup of an embedding column inside k-means clusters (SemDeDup)",
        exclude=("all_rows",),
        single_input=True,
        path_params=("init_centroids",),
    )
)
register(
    CliStep(
        "select",
        "whole",
        "target selection on embeddings (OT gradients, nearest neighbours) or by classifier",
        path_params=("target",),
    )
)
register(
    CliStep(
        "quality",
        "map",
        "score with a `tamis quality train` model; min_score drops documents below it",
        command="quality score",
        path_params=("model",),
    )
)
register(
    CliStep(
        "balance",
        "whole",
        "MetaCLIP entry balancing (entries, t) or at most cap rows per group (by, cap)",
        exclude=("counts",),
        path_params=("entries",),
    )
)
register(CliStep("features", "side", "hashed n-gram features per document"))
register(
    CliStep(
        "coreset",
        "whole",
        "l_p sensitivity-sampling coreset of an embedding column",
        exclude=("npy",),
        single_input=True,
    )
)


def runner(step: StepType) -> Any:
    """The function that runs a step type."""
    return step.runner or run_command
