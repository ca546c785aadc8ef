"""Coverage selection: MetaCLIP entry balancing, per-group caps, MIG diversity, a UCB bandit.

- :mod:`tamis.balance.matching`: :class:`EntryMatcher` (Aho–Corasick in Rust), :func:`balance`,
  :func:`balance_matches`;
- :mod:`tamis.balance.caps`: :func:`cap_per_group`, keyed per-group caps;
- :mod:`tamis.balance.mig`: :func:`mig_select`, greedy information gain over a label graph;
- :mod:`tamis.balance.bandit`: :class:`UCBBandit`, clusters as arms (Quad).
"""

from tamis.balance.bandit import UCBBandit
from tamis.balance.caps import cap_per_group
from tamis.balance.matching import (
    DEFAULT_T,
    EntryMatcher,
    EntryMatches,
    balance,
    balance_matches,
    entry_keys,
    read_entries,
)
from tamis.balance.mig import mig_objective, mig_select, mig_weights

__all__ = [
    "DEFAULT_T",
    "EntryMatcher",
    "EntryMatches",
    "UCBBandit",
    "balance",
    "balance_matches",
    "cap_per_group",
    "entry_keys",
    "mig_objective",
    "mig_select",
    "mig_weights",
    "read_entries",
]
