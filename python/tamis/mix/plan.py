"""Mixture plans: how much of each source a run sees, and schedules of plans over training.

A plan turns per-source sizes (documents, bytes or tokens: the *unit*) into sampling weights and
per-source budgets. Every scheme reports, per source: ``available`` (its size), ``weight`` (its
share of the mixture), ``budget`` (``weight × total budget``) and ``epochs`` (``budget /
available``, how many times it is repeated). Formulas and papers: ``docs/mix.md``.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

UNITS = ("tokens", "bytes", "documents")
SCHEMES = ("proportional", "temperature", "unimax", "manual")
TRANSITIONS = ("step", "linear")
#: Repeating data more than this many times is warned about: Muennighoff et al. (2023, "Scaling
#: data-constrained language models") found up to about 4 epochs nearly as good as fresh data.
WARN_EPOCHS = 4.0


@dataclass(frozen=True)
class SourceSize:
    """What one source holds: documents, bytes (UTF-8 of the text column) and tokens."""

    documents: int
    bytes: int = 0
    tokens: int = 0

    def get(self, unit: str) -> float:
        """The size in ``unit`` (tokens, bytes or documents)."""
        return float(getattr(self, _check_unit(unit)))


@dataclass(frozen=True)
class SourcePlan:
    """One source of a plan (sizes and budgets in the plan's unit)."""

    name: str
    available: float
    weight: float
    budget: float
    epochs: float
    documents: int | None = None

    @property
    def document_weight_basis(self) -> float:
        """Budget in documents (``budget`` scaled by documents per unit), for the sampler."""
        if self.documents is None or self.available <= 0:
            return self.budget
        return self.budget * self.documents / self.available


@dataclass
class Plan:
    """Per-source weights and budgets.

    Attributes
    ----------
    sources
        One :class:`SourcePlan` per source, in the order given.
    scheme, unit, budget, params
        How the plan was made; ``budget`` is the total in ``unit``.
    paths
        Optional ``name -> path`` of the data (used by ``tamis mix sample`` and the exports).
    """

    sources: list[SourcePlan]
    scheme: str
    unit: str
    budget: float
    params: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Source names, in order."""
        return [s.name for s in self.sources]

    @property
    def weights(self) -> dict[str, float]:
        """``name -> weight`` (sums to 1), shares of the plan's unit."""
        return {s.name: s.weight for s in self.sources}

    def document_weights(self) -> dict[str, float]:
        """``name -> share of documents`` that gives the plan's shares of its unit.

        A source whose documents are twice as long needs half as many documents for the same
        tokens: ``q_i ∝ weight_i × documents_i / available_i``. Equals :attr:`weights` for plans
        in documents or without document counts.
        """
        raw = np.array([s.document_weight_basis for s in self.sources], dtype=np.float64)
        if raw.sum() <= 0:
            raw = np.array([s.weight for s in self.sources])
        raw = raw / raw.sum()
        return dict(zip(self.names, raw.tolist()))

    def scaled(self, factor: float) -> Plan:
        """The same weights with every budget (and so every epoch count) times ``factor``.

        For one phase of a schedule: the phase's share of the whole run's budget.
        """
        f = float(factor)
        sources = [
            SourcePlan(s.name, s.available, s.weight, s.budget * f, s.epochs * f, s.documents)
            for s in self.sources
        ]
        return Plan(
            sources, self.scheme, self.unit, self.budget * f, dict(self.params), dict(self.paths)
        )

    def table(self) -> str:
        """The per-source table as text."""
        width = max([len(n) for n in self.names] + [6])
        head = (
            f"{'source':<{width}}  {'available':>14}  {'weight':>8}  {'budget':>14}  {'epochs':>7}"
        )
        lines = [head]
        for s in self.sources:
            lines.append(
                f"{s.name:<{width}}  {s.available:>14,.0f}  {s.weight:>8.4f}  "
                f"{s.budget:>14,.0f}  {s.epochs:>7.3f}"
            )
        total_av = sum(s.available for s in self.sources)
        total_b = sum(s.budget for s in self.sources)
        lines.append(
            f"{'TOTAL':<{width}}  {total_av:>14,.0f}  {1.0:>8.4f}  {total_b:>14,.0f}  "
            f"{(total_b / total_av if total_av else 0.0):>7.3f}"
        )
        lines.append(f"({self.scheme}, unit: {self.unit})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the format of :meth:`to_json`)."""
        return {
            "format": "tamis-mix-plan",
            "version": 1,
            "scheme": self.scheme,
            "unit": self.unit,
            "budget": self.budget,
            "params": self.params,
            "sources": [
                {
                    "name": s.name,
                    "available": s.available,
                    "weight": s.weight,
                    "budget": s.budget,
                    "epochs": s.epochs,
                    "documents": s.documents,
                    **({"path": _jsonable(self.paths[s.name])} if s.name in self.paths else {}),
                }
                for s in self.sources
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        """Read what :meth:`to_dict` wrote."""
        if d.get("format") != "tamis-mix-plan":
            raise ValueError(f"not a tamis mix plan (format {d.get('format')!r})")
        if d.get("version") != 1:
            raise ValueError(f"mix plan version {d.get('version')!r}; this release reads 1")
        sources = [
            SourcePlan(
                s["name"], s["available"], s["weight"], s["budget"], s["epochs"], s.get("documents")
            )
            for s in d["sources"]
        ]
        paths = {s["name"]: s["path"] for s in d["sources"] if "path" in s}
        return cls(sources, d["scheme"], d["unit"], d["budget"], dict(d.get("params", {})), paths)

    def megatron_blend(self, prefixes: Mapping[str, str] | None = None) -> str:
        """Megatron-LM's ``--data-path`` blend: ``"w1 prefix1 w2 prefix2 ..."``.

        ``prefixes`` maps each source to its indexed-dataset prefix (default: the plan's paths,
        else the names). Weights are the plan's shares of its unit; Megatron normalises them.
        """
        prefixes = dict(prefixes or {})
        parts = []
        for s in self.sources:
            prefix = prefixes.get(s.name, self.paths.get(s.name, s.name))
            parts.append(f"{s.weight:.6g} {_jsonable(prefix)}")
        return " ".join(parts)


def _jsonable(path: Any) -> Any:
    if isinstance(path, (list, tuple)):
        return [str(p) for p in path]
    return str(path)


def _check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return unit


def _sizes(sizes: Mapping[str, Any], unit: str) -> tuple[list[str], np.ndarray, list[int | None]]:
    if not isinstance(sizes, Mapping) or not sizes:
        raise ValueError("sizes must be a non-empty mapping name -> size")
    names: list[str] = []
    values: list[float] = []
    docs: list[int | None] = []
    for name, v in sizes.items():
        n_docs: int | None
        if isinstance(v, SourceSize):
            size, n_docs = v.get(unit), v.documents
        else:
            try:
                size = float(v)
            except (TypeError, ValueError):
                raise TypeError(
                    f"sizes[{name!r}] must be a number or SourceSize, got {v!r}"
                ) from None
            n_docs = int(size) if unit == "documents" else None
        if not math.isfinite(size) or size < 0:
            raise ValueError(f"sizes[{name!r}] must be finite and >= 0, got {size}")
        names.append(str(name))
        values.append(size)
        docs.append(n_docs)
    arr = np.array(values, dtype=np.float64)
    if arr.sum() <= 0:
        raise ValueError("sizes must not all be 0")
    return names, arr, docs


def _check_budget(budget: float | None, available: np.ndarray) -> float:
    if budget is None:
        return float(available.sum())
    b = float(budget)
    if not math.isfinite(b) or b <= 0:
        raise ValueError(f"budget must be a positive number, got {budget!r}")
    return b


def _build(
    names: list[str],
    available: np.ndarray,
    docs: list[int | None],
    budgets: np.ndarray,
    scheme: str,
    unit: str,
    params: dict[str, Any],
    warn_epochs: float | None,
) -> Plan:
    total = float(budgets.sum())
    weights = budgets / total if total > 0 else np.full(len(names), 1.0 / len(names))
    with np.errstate(divide="ignore", invalid="ignore"):
        epochs = np.where(available > 0, budgets / np.where(available > 0, available, 1), 0.0)
    sources = [
        SourcePlan(n, float(a), float(w), float(b), float(e), d)
        for n, a, w, b, e, d in zip(names, available, weights, budgets, epochs, docs)
    ]
    plan = Plan(sources, scheme, unit, total, params)
    if warn_epochs is not None:
        over = [s for s in sources if s.epochs > warn_epochs]
        for s in over:
            warnings.warn(
                f"source {s.name!r} would be repeated {s.epochs:.2f} times "
                f"(more than {warn_epochs:g} epochs)",
                UserWarning,
                stacklevel=3,
            )
    return plan


def proportional(
    sizes: Mapping[str, Any],
    *,
    budget: float | None = None,
    unit: str = "tokens",
    warn_epochs: float | None = WARN_EPOCHS,
) -> Plan:
    """Weights proportional to size: ``p_i = n_i / Σ_j n_j`` (the natural distribution).

    Parameters
    ----------
    sizes
        ``name -> size`` in ``unit`` (numbers or :class:`SourceSize`).
    budget
        Total to train on, in ``unit`` (default: everything once).
    unit
        ``"tokens"``, ``"bytes"`` or ``"documents"``.
    warn_epochs
        Warn when a source would be repeated more often (``None``: never).

    Examples
    --------
    >>> proportional({"web": 300, "code": 100}).weights
    {'web': 0.75, 'code': 0.25}
    """
    return temperature(
        sizes, 1.0, budget=budget, unit=unit, warn_epochs=warn_epochs, _scheme="proportional"
    )


def temperature(
    sizes: Mapping[str, Any],
    tau: float,
    *,
    budget: float | None = None,
    unit: str = "tokens",
    warn_epochs: float | None = WARN_EPOCHS,
    _scheme: str = "temperature",
) -> Plan:
    """Temperature sampling: ``p_i ∝ n_i^(1/tau)`` (Arivazhagan et al. 2019; XLM, mT5).

    ``tau = 1`` is proportional, ``tau → ∞`` uniform; ``tau > 1`` upsamples small sources.
    Budgets are ``p_i × budget``.

    Examples
    --------
    >>> p = temperature({"en": 900, "sw": 100}, tau=2.0)
    >>> [round(w, 4) for w in p.weights.values()]
    [0.75, 0.25]
    """
    unit = _check_unit(unit)
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a positive number, got {tau}")
    names, available, docs = _sizes(sizes, unit)
    total = _check_budget(budget, available)
    # In log space so that large sizes and small tau do not overflow.
    with np.errstate(divide="ignore"):
        logits = np.where(
            available > 0, np.log(np.where(available > 0, available, 1)) / tau, -np.inf
        )
    p = available / available.sum() if tau == 1.0 else np.exp(logits - logits.max())
    p = p / p.sum()
    params = {"tau": tau} if _scheme == "temperature" else {}
    return _build(names, available, docs, p * total, _scheme, unit, params, warn_epochs)


def unimax(
    sizes: Mapping[str, Any],
    budget: float,
    max_epochs: float = 1.0,
    *,
    unit: str = "tokens",
    warn_epochs: float | None = WARN_EPOCHS,
) -> Plan:
    """UniMax (Chung et al. 2023, Algorithm 1): as uniform as possible, at most ``max_epochs`` each.

    Sources are visited from smallest to largest; each gets ``min(remaining budget / remaining
    sources, max_epochs × size)``, so small sources are capped at ``max_epochs`` repeats and the
    rest of the budget is spread uniformly over the larger ones. When the budget exceeds
    ``max_epochs × Σ sizes`` every source is capped and the plan's total is below ``budget``
    (a warning says so). Ties in size keep the given order.

    Examples
    --------
    >>> p = unimax({"a": 10, "b": 100, "c": 1000}, budget=300, max_epochs=2)
    >>> [s.budget for s in p.sources]
    [20.0, 140.0, 140.0]
    """
    unit = _check_unit(unit)
    names, available, docs = _sizes(sizes, unit)
    total = _check_budget(budget, available)
    max_epochs = float(max_epochs)
    if not math.isfinite(max_epochs) or max_epochs <= 0:
        raise ValueError(f"max_epochs must be a positive number, got {max_epochs}")
    order = np.argsort(available, kind="stable")
    budgets = np.zeros(len(names))
    remaining = total
    for done, i in enumerate(order):
        share = remaining / (len(names) - done)
        budgets[i] = min(share, max_epochs * available[i])
        remaining -= budgets[i]
    if budgets.sum() < total * (1 - 1e-12):
        warnings.warn(
            f"budget {total:g} exceeds max_epochs × all data ({max_epochs:g} × "
            f"{available.sum():g}): the plan uses {budgets.sum():g}",
            UserWarning,
            stacklevel=2,
        )
    params = {"max_epochs": max_epochs, "requested_budget": total}
    return _build(names, available, docs, budgets, "unimax", unit, params, warn_epochs)


def manual(
    sizes: Mapping[str, Any],
    weights: Mapping[str, float],
    *,
    budget: float | None = None,
    unit: str = "tokens",
    warn_epochs: float | None = WARN_EPOCHS,
) -> Plan:
    """Given weights (normalised to sum to 1), e.g. to upsample a small high-quality domain.

    Examples
    --------
    >>> p = manual({"web": 800, "med": 200}, {"web": 1, "med": 1})
    >>> [s.epochs for s in p.sources]
    [0.625, 2.5]
    """
    unit = _check_unit(unit)
    names, available, docs = _sizes(sizes, unit)
    total = _check_budget(budget, available)
    w = normalize_weights(weights, names)
    return _build(
        names,
        available,
        docs,
        w * total,
        "manual",
        unit,
        {"weights": dict(zip(names, w.tolist()))},
        warn_epochs,
    )


def normalize_weights(weights: Any, names: Sequence[str]) -> np.ndarray:
    """Weights (a mapping by name, or a sequence in ``names`` order) as probabilities.

    Raises
    ------
    ValueError
        An unknown or missing name, a negative or non-finite weight, or all zeros.
    """
    if isinstance(weights, Mapping):
        unknown = sorted(set(map(str, weights)) - set(names))
        if unknown:
            raise ValueError(f"weights name unknown sources {unknown} (sources: {list(names)})")
        missing = [n for n in names if n not in weights]
        if missing:
            raise ValueError(f"weights miss sources {missing}")
        arr = np.array([float(weights[n]) for n in names], dtype=np.float64)
    else:
        arr = np.asarray(weights, dtype=np.float64).ravel()
        if arr.shape[0] != len(names):
            raise ValueError(f"weights has {arr.shape[0]} values for {len(names)} sources")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"weights must be finite and >= 0, got {arr.tolist()}")
    if arr.sum() <= 0:
        raise ValueError("weights must not all be 0")
    return arr / arr.sum()


@dataclass
class Schedule:
    """Plans (phases) over training progress, with step or linear transitions.

    ``phases`` are ``(start, plan)`` pairs with ``start`` the fraction of training (0 to 1) at
    which the phase begins; the first starts at 0. ``transition="step"`` switches at each start;
    ``"linear"`` moves the weights linearly from a phase's weights to the next one's over the
    ``ramp_fraction`` of training before the next start (the whole phase if ``None``).

    Examples
    --------
    >>> base = manual({"web": 900, "math": 100}, {"web": 0.9, "math": 0.1}, warn_epochs=None)
    >>> hot = manual({"web": 900, "math": 100}, {"web": 0.5, "math": 0.5}, warn_epochs=None)
    >>> s = anneal(base, hot, anneal_fraction=0.2)
    >>> s.weights_at(0.5).round(2).tolist(), s.weights_at(0.9).round(2).tolist()
    ([0.9, 0.1], [0.5, 0.5])
    """

    phases: list[tuple[float, Plan]]
    transition: str = "step"
    ramp_fraction: float | None = None

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a schedule needs at least one phase")
        if self.transition not in TRANSITIONS:
            raise ValueError(f"transition must be one of {TRANSITIONS}, got {self.transition!r}")
        starts = [float(s) for s, _ in self.phases]
        if starts[0] != 0.0:
            raise ValueError(f"the first phase must start at 0, got {starts[0]}")
        if any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= 1.0:
            raise ValueError(f"phase starts must increase within [0, 1), got {starts}")
        names = self.phases[0][1].names
        for _, p in self.phases:
            if p.names != names:
                raise ValueError(f"every phase must have the sources {names}, got {p.names}")
        if self.ramp_fraction is not None and not 0 < self.ramp_fraction <= 1:
            raise ValueError(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction}")

    @property
    def names(self) -> list[str]:
        """Source names."""
        return self.phases[0][1].names

    def weights_at(self, progress: float, *, documents: bool = False) -> np.ndarray:
        """The mixture weights at ``progress`` (fraction of training, clipped to [0, 1])."""
        t = min(max(float(progress), 0.0), 1.0)
        ws = [
            np.array(list((p.document_weights() if documents else p.weights).values()))
            for _, p in self.phases
        ]
        starts = [s for s, _ in self.phases]
        i = max(j for j, s in enumerate(starts) if s <= t)
        if self.transition == "step" or i == len(starts) - 1:
            return ws[i]
        end = starts[i + 1]
        ramp = (
            end - starts[i]
            if self.ramp_fraction is None
            else min(self.ramp_fraction, end - starts[i])
        )
        if t < end - ramp:
            return ws[i]
        a = (t - (end - ramp)) / ramp
        w = (1 - a) * ws[i] + a * ws[i + 1]
        return w / w.sum()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"transition", "ramp_fraction", "phases": [{"start", "plan"}]}``."""
        return {
            "format": "tamis-mix-schedule",
            "version": 1,
            "transition": self.transition,
            "ramp_fraction": self.ramp_fraction,
            "phases": [{"start": s, "plan": p.to_dict()} for s, p in self.phases],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Schedule:
        """Read what :meth:`to_dict` wrote."""
        if d.get("format") != "tamis-mix-schedule":
            raise ValueError(f"not a tamis mix schedule (format {d.get('format')!r})")
        phases = [(float(ph["start"]), Plan.from_dict(ph["plan"])) for ph in d["phases"]]
        return cls(phases, d.get("transition", "step"), d.get("ramp_fraction"))


def anneal(
    base: Plan,
    anneal_plan: Plan,
    anneal_fraction: float = 0.2,
    *,
    transition: str = "step",
    ramp_fraction: float | None = None,
) -> Schedule:
    """``base`` for the first ``1 − anneal_fraction`` of training, then ``anneal_plan``.

    The domain upsampling of Blakeney et al. (2024, "Does your data spark joy?"): the last
    10-20% of tokens switch to a mix that upsamples small high-quality domains.
    """
    f = float(anneal_fraction)
    if not 0 < f < 1:
        raise ValueError(f"anneal_fraction must be in (0, 1), got {anneal_fraction}")
    return Schedule([(0.0, base), (1.0 - f, anneal_plan)], transition, ramp_fraction)


def load(path: Any) -> Plan | Schedule:
    """Read a plan or schedule JSON (as written by :func:`tamis.mix.save` or ``tamis mix plan``)."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a tamis mix plan")
    try:
        if d.get("format") == "tamis-mix-schedule":
            return Schedule.from_dict(d)
        return Plan.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


def save(plan: Plan | Schedule, path: Any, params: Mapping[str, Any] | None = None) -> None:
    """Write a plan or schedule as JSON with run metadata (``"-"``: stdout), atomically.

    The file is :meth:`Plan.to_dict` / :meth:`Schedule.to_dict` plus ``"run"``: the tamis
    version, the command and ``params``.
    """
    from tamis import __version__
    from tamis.output import write_json

    d = plan.to_dict()
    d["run"] = {"tamis_version": __version__, "command": "mix plan", "params": dict(params or {})}
    write_json(path, d)
