"""DSIR: data selection by importance resampling on hashed n-grams.

Implements "Data Selection for Language Models via Importance Resampling" (Xie, Santurkar, Ma,
Liang; NeurIPS 2023, arXiv:2302.03169). Target and raw corpora are summarised by hashed n-gram
bucket counts; a raw document's log importance weight is the sum over its n-grams of
``ln p_target(bucket) - ln p_raw(bucket)``; k documents are then resampled by weight (Gumbel
top-k, without replacement). Everything heavy runs in Rust; corpora are streamed in Arrow batches,
so memory is O(k + n_buckets) plus one batch.

``ImportanceResampler.reference()`` reproduces the reference package ``data-selection`` 1.0.3
(its log weights to 1e-9 relative). The default settings differ where measurement showed a gain
(see ``docs/dsir.md``).

Layout: :mod:`.estimator` (the public estimator: parameters, fit/select/save/load) over the
engine that the local and the Ray backends both call: :mod:`.model` (counting, fitting, scoring,
KL reduction) and :mod:`.stream` (sort keys, the streaming per-target top-k, resolve, collect);
:mod:`.persist` (the model file); :mod:`.tape` (the raw corpus's bucket ids kept between the
two passes of :meth:`~ImportanceResampler.fit_resample`).
"""

from tamis.importance import model, persist, stream
from tamis.importance.estimator import DSIR, ImportanceResampler
from tamis.importance.stream import METHODS

#: Former private name of :func:`stream.id_hashes` (``benches/dsir.py`` and the tests use it).
_id_hashes = stream.id_hashes

__all__ = ["DSIR", "METHODS", "ImportanceResampler", "model", "persist", "stream"]
