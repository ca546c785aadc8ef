"""Ray Data backend: the local pipelines (DSIR, MinHash dedup, model scoring) on a Ray cluster.

Needs the ``ray`` extra (``pip install 'tamis[ray]'``); the rest of tamis never imports Ray. The
backend calls only the public engine functions the local estimators run (tested: it uses no
private name of another tamis module), so the results are the same for any number of blocks:

* Reading (:mod:`._read`): the driver lists the files (``tamis.io.list_files``, made absolute)
  and one Ray task per file reads it with ``tamis.io.read_batches``, the local reader (same ids,
  checks, formats). Rows are numbered once (``__pos``, a global row number in input order); from
  then on no step depends on block order or size.
* DSIR (:mod:`.dsir`): per-block bucket counts (``importance.model.count_ngrams``) summed on the
  driver, the fitted model rebuilt per worker from the broadcast counts, per-block candidates
  (``importance.stream.scan_batch``), then the global top-k on the driver
  (``TopKState.push``, ``resolve``, ``collect``): exact, every global winner is a winner of its
  block.
* MinHash dedup (:mod:`.dedup`): per-block ``dedup.sign_batch``; a Ray groupby on the band key
  keeps the buckets with two or more rows; ``dedup.band_edges`` / ``exact_edges`` verify them on
  the driver (candidate rows only) or on the workers; ``dedup.components`` (or
  :func:`connected_components`, :mod:`.components`) and ``dedup.choose_kept`` finish.
* Entry matching (:mod:`.balance`): per-block ``EntryMatcher.transform``, rows ordered and
  counted on the driver; ``balance_matches`` then draws as locally.
* Quality scores (:mod:`.quality`): per-block ``tamis.quality.score_table``.
* Filtering (:mod:`.filter`): per-block ``tamis.cli.filter.decide_batch`` (the stages rebuilt
  once per actor from the command's arguments), blocks written in input order on the driver.
* Scoring (:mod:`.score`): an actor pool (``ActorPoolStrategy``) of :class:`tamis.LMScorer`
  replicas, each with ``num_gpus``.
"""

from __future__ import annotations

from tamis.ray._context import POS, collect, init
from tamis.ray._read import read_dataset, row_numbered
from tamis.ray.balance import match_entries
from tamis.ray.components import connected_components
from tamis.ray.decontam import decontaminate
from tamis.ray.dedup import DedupResult, dedup
from tamis.ray.dsir import dsir_fit, dsir_resample
from tamis.ray.filter import filter_documents
from tamis.ray.quality import quality_score
from tamis.ray.score import score

__all__ = [
    "POS",
    "DedupResult",
    "collect",
    "connected_components",
    "decontaminate",
    "dedup",
    "dsir_fit",
    "dsir_resample",
    "filter_documents",
    "init",
    "match_entries",
    "quality_score",
    "read_dataset",
    "row_numbered",
    "score",
]
