"""A UCB bandit over clusters, as in Quad.

Zhang et al. 2025, "Harnessing Diversity for Important Data Selection in Pretraining Large Language
Models". Quad treats each cluster of the corpus as an arm: at every round it picks the clusters
with the highest upper confidence bound, samples data from them, measures a reward (an influence
score in the paper) and updates. The reward is the caller's; this class only keeps the statistics
and chooses arms. UCB1 (Auer, Cesa-Bianchi & Fischer 2002) scores arm ``a`` after ``T`` pulls in
all as ``mean_a + c * sqrt(2 ln T / n_a)``; unpulled arms come first. Ties are broken by a random
order drawn from ``(seed, round)``, so a run is reproducible and independent of anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tamis._base import Estimator
from tamis._validation import check_int, check_seed


class UCBBandit(Estimator):
    """UCB1 over ``n_arms`` arms whose rewards come from the caller.

    Parameters
    ----------
    n_arms
        Number of arms (clusters).
    c
        Exploration weight (``>= 0``; 0 is greedy on the mean reward).
    seed
        Seed of the tie-breaking order.

    Attributes
    ----------
    pulls_, reward_sums_
        Per arm: times pulled and sum of rewards.
    n_rounds_
        Calls to :meth:`select` so far.

    Examples
    --------
    >>> b = UCBBandit(3, seed=0)
    >>> for _ in range(30):
    ...     arms = b.select(1)
    ...     _ = b.update(arms, [1.0 if a == 2 else 0.0 for a in arms])
    >>> int(np.argmax(b.pulls_))
    2
    """

    def __init__(self, n_arms: int, *, c: float = 1.0, seed: int = 0) -> None:
        self.n_arms = check_int("n_arms", n_arms, 1)
        if not (np.isfinite(c) and c >= 0):
            raise ValueError(f"c must be a finite number >= 0, got {c}")
        self.c = float(c)
        self.seed = check_seed(seed)
        self.pulls_ = np.zeros(self.n_arms, dtype=np.int64)
        self.reward_sums_ = np.zeros(self.n_arms)
        self.n_rounds_ = 0

    def scores(self) -> np.ndarray:
        """The UCB of every arm (``inf`` for an arm never pulled)."""
        total = int(self.pulls_.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.reward_sums_ / self.pulls_
            bonus = self.c * np.sqrt(2.0 * np.log(max(total, 1)) / self.pulls_)
        return np.where(self.pulls_ > 0, mean + bonus, np.inf)

    def select(self, k: int = 1) -> np.ndarray:
        """The ``k`` arms with the highest UCB, best first (ties in a seeded random order)."""
        k = check_int("k", k, 1, self.n_arms)
        rng = np.random.default_rng([self.seed, self.n_rounds_])
        tiebreak = rng.permutation(self.n_arms)
        order = np.lexsort((tiebreak, -self.scores()))
        self.n_rounds_ += 1
        return order[:k].astype(np.int64)

    def update(self, arms: Any, rewards: Any) -> UCBBandit:
        """Record one reward per pulled arm (an arm may appear several times)."""
        a = np.asarray(arms, dtype=np.int64).reshape(-1)
        r = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if a.shape != r.shape:
            raise ValueError(f"{len(a)} arms but {len(r)} rewards")
        if len(a) and (a.min() < 0 or a.max() >= self.n_arms):
            raise ValueError(f"arms must be in [0, {self.n_arms}), got {a.min()}..{a.max()}")
        if not np.isfinite(r).all():
            raise ValueError("rewards must be finite")
        np.add.at(self.pulls_, a, 1)
        np.add.at(self.reward_sums_, a, r)
        return self
