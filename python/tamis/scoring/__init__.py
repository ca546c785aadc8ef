"""Model scoring: perplexity, Min-K% / Min-K%++, CoLoR-Filter, embeddings, classifiers.

torch and transformers are an optional extra (``pip install 'tamis[torch]'``); they are imported
when a scorer is built, never when this package is imported.

Layout:

- :mod:`tamis.scoring._select`: torch-free helpers: :func:`select_top`, :func:`prefetch`,
  :func:`token_budget_batches`, :data:`LM_METRICS` and the metric-name check;
- :mod:`tamis.scoring._models`: optional imports, model and tokenizer loading, device and dtype;
- :mod:`tamis.scoring.lm`: :class:`LMScorer` (NLL, perplexity, Min-K%, Min-K%++; the metric
  definitions are in that module's docstring);
- :mod:`tamis.scoring.color`: :func:`color_filter` (CoLoR-Filter);
- :mod:`tamis.scoring.encoders`: :class:`Embedder`, :class:`ClassifierScorer`,
  :class:`EmbeddingClassifier`.
"""

from __future__ import annotations

from tamis.scoring._models import default_device, minilm_path
from tamis.scoring._select import LM_METRICS, prefetch, select_top, token_budget_batches
from tamis.scoring._select import _check_metrics as _check_metrics  # for tamis.cli.score
from tamis.scoring.color import ColorFilterResult, color_filter
from tamis.scoring.encoders import ClassifierScorer, Embedder, EmbeddingClassifier
from tamis.scoring.lm import LMScorer

__all__ = [
    "LM_METRICS",
    "ClassifierScorer",
    "ColorFilterResult",
    "Embedder",
    "EmbeddingClassifier",
    "LMScorer",
    "color_filter",
    "default_device",
    "minilm_path",
    "prefetch",
    "select_top",
    "token_budget_batches",
]
