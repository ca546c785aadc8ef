"""Mixtures of sources: plans, schedules, a resumable streaming sampler, reweighting and search.

- Plans (:mod:`tamis.mix.plan`): :func:`proportional`, :func:`temperature`, :func:`unimax`,
  :func:`manual` over per-source sizes (:func:`count`: documents, bytes, WordPunct or Hugging
  Face tokens); schedules of plans over training (:func:`anneal`, :class:`Schedule`).
- :class:`MixtureSampler`: a deterministic stream mixed by smooth weighted round-robin, every
  source in seeded epochs without replacement (:func:`rs2` alone), bounded memory, exact
  ``state_dict`` resume, sharded over DataLoader workers × ranks (:func:`torch_dataset`).
- Reweighting: :func:`exp_weights_update` (DoReMi / DGA), :func:`skill_it_update`.
- Search: :func:`propose`, :class:`Surrogate`, :func:`search` (CLIMB / RegMix).

Formulas, papers and guarantees: ``docs/mix.md``.
"""

from tamis.mix.count import count, hf_token_counter
from tamis.mix.data import torch_dataset
from tamis.mix.plan import (
    SCHEMES,
    UNITS,
    Plan,
    Schedule,
    SourcePlan,
    SourceSize,
    anneal,
    load,
    manual,
    normalize_weights,
    proportional,
    save,
    temperature,
    unimax,
)
from tamis.mix.reweight import exp_weights_update, skill_it_update
from tamis.mix.sampler import MixtureSampler, rs2
from tamis.mix.search import SearchResult, Surrogate, propose, search

__all__ = [
    "SCHEMES",
    "UNITS",
    "MixtureSampler",
    "Plan",
    "Schedule",
    "SearchResult",
    "SourcePlan",
    "SourceSize",
    "Surrogate",
    "anneal",
    "count",
    "exp_weights_update",
    "hf_token_counter",
    "load",
    "manual",
    "normalize_weights",
    "proportional",
    "propose",
    "rs2",
    "save",
    "search",
    "skill_it_update",
    "temperature",
    "torch_dataset",
    "unimax",
]
