"""Recipes: a chain of steps run shard by shard in a run folder, resumable after ``kill -9``.

- :class:`Pipeline` / :class:`Step`: the Python API; :func:`load` / :func:`parse`: recipe files
  (YAML or TOML) validated before anything runs (:class:`RecipeError` names the line).
- :func:`register` / :class:`StepType` / :func:`CliStep`: the step registry (a step is a thin
  adapter over a ``tamis`` command or the engine functions); :func:`steps` lists them.
- ``tamis run recipe.yaml [--dry-run]`` is the command line; docs/pipelines.md the guide.
"""

from tamis.pipeline import _steps as _steps  # registers the built-in steps
from tamis.pipeline._pipeline import Pipeline, RunResult, Step, estimate_rows, steps
from tamis.pipeline._recipe import Recipe, RecipeError, StepConfig, load, parse, validate
from tamis.pipeline._registry import STEPS, CliStep, Param, StepType, register
from tamis.pipeline._run import RunFolder, StepContext, versions

__all__ = [
    "STEPS",
    "CliStep",
    "Param",
    "Pipeline",
    "Recipe",
    "RecipeError",
    "RunFolder",
    "RunResult",
    "Step",
    "StepConfig",
    "StepContext",
    "StepType",
    "estimate_rows",
    "load",
    "parse",
    "register",
    "steps",
    "validate",
    "versions",
]
