"""fastText supervised models (``.bin`` and quantized ``.ftz``) run by the Rust core.

:class:`FastTextModel` loads a model trained with fastText (a quality classifier such as DCLM's
``oh-eli5`` bigram model, a language-ID model such as ``lid.176.bin`` / ``lid.176.ftz``) and
predicts labels for many documents at once, on all cores with the GIL released. Predictions equal
those of the ``fasttext`` Python bindings (0.9.x) for ``predict(text.replace("\\n", " "), k,
threshold)``, to float32 rounding (tests compare every prediction within 1e-5):

- **newlines**: the bindings refuse a text with ``\\n`` (fastText reads one line per call); tamis
  treats every newline as white space, like a space or a tab, which is what pipelines that call
  the bindings do (``text.replace("\\n", " ")``: datatrove, DCLM). fastText then appends its
  end-of-line token ``</s>``, so does tamis;
- fastText's tokens are the runs of bytes between ASCII white space (space, ``\\t``, ``\\n``,
  ``\\r``, ``\\v``, ``\\f``, NUL); a token that *is* ``</s>`` ends the line for fastText, and the
  rest of the text is ignored by both;
- a reported probability is ``p + 1e-5`` (fastText ranks labels by ``log(p + 1e-5)``), ties are
  ordered by label index.

Examples
--------
>>> import fasttext, tempfile, pathlib  # doctest: +SKIP
>>> model = FastTextModel("lid.176.ftz")  # doctest: +SKIP
>>> ids, probs = model.predict(["Bonjour tout le monde"], k=1)  # doctest: +SKIP
>>> model.labels[ids[0, 0]], probs[0, 0]  # doctest: +SKIP
('__label__fr', 0.97...)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tamis import _core
from tamis._validation import check_int, check_threads
from tamis.io import as_text_array, buffers

__all__ = ["LABEL_PREFIX", "FastTextModel"]

#: fastText's label prefix (its default ``-label``; model files do not store it).
LABEL_PREFIX = "__label__"


class FastTextModel:
    """A supervised fastText model (``.bin`` or quantized ``.ftz``).

    Parameters
    ----------
    path
        The model file.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a supervised fastText model, is truncated or inconsistent (the message
        names the file, the part and the byte offset).

    Attributes
    ----------
    labels : list of str
        Label names with their ``__label__`` prefix, in the model's order (label indices of
        :meth:`predict` index this list).
    loss : str
        ``"softmax"``, ``"hs"``, ``"ova"`` or ``"ns"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._init(_core.FastTextModel.load(self.path))

    def _init(self, model: Any) -> None:
        self._model = model
        self.labels: list[str] = list(model.labels)
        self._index = {name: i for i, name in enumerate(self.labels)}

    @classmethod
    def from_bytes(cls, data: bytes) -> FastTextModel:
        """A model from the bytes of its file (same checks as loading the file)."""
        self = cls.__new__(cls)
        self.path = "<bytes>"
        self._init(_core.FastTextModel.from_bytes(bytes(data)))
        return self

    def __repr__(self) -> str:
        kind = "quantized" if self.quantized else "dense"
        return (
            f"FastTextModel({self.path!r}: {len(self.labels)} labels, loss={self.loss}, "
            f"dim={self.dim}, wordNgrams={self.word_ngrams}, minn={self.minn}, "
            f"maxn={self.maxn}, {kind})"
        )

    @property
    def loss(self) -> str:
        """The output loss (``softmax``, ``hs``, ``ova`` or ``ns``)."""
        return str(self._model.loss)

    @property
    def dim(self) -> int:
        """Dimension of the hidden vector."""
        return int(self._model.dim)

    @property
    def word_ngrams(self) -> int:
        """Longest word n-gram (fastText's ``wordNgrams``)."""
        return int(self._model.word_ngrams)

    @property
    def minn(self) -> int:
        """Shortest character n-gram."""
        return int(self._model.minn)

    @property
    def maxn(self) -> int:
        """Longest character n-gram (0: no subwords)."""
        return int(self._model.maxn)

    @property
    def quantized(self) -> bool:
        """Whether the model is product-quantized (an ``.ftz`` file)."""
        return bool(self._model.quantized)

    def label_index(self, label: str) -> int:
        """Index of ``label`` in :attr:`labels`; ``"en"`` and ``"__label__en"`` both work.

        Raises
        ------
        ValueError
            The model has no such label (the message lists a few it has).
        """
        for name in (label, LABEL_PREFIX + label):
            if name in self._index:
                return self._index[name]
        some = ", ".join(self.labels[:8]) + (", ..." if len(self.labels) > 8 else "")
        raise ValueError(f"label {label!r} is not a label of {self.path} ({some})")

    def predict(
        self, texts: Any, *, k: int = 1, threshold: float = 0.0, n_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` labels of every text, best first.

        Parameters
        ----------
        texts
            A list of ``str``, a pyarrow string array, a table with a ``text`` column, or
            ``tamis.files(...)`` (streamed batch by batch).
        k
            Labels per text (at most the number of labels).
        threshold
            Labels with a probability below it are left out.
        n_threads
            Worker threads (``None``: all cores).

        Returns
        -------
        tuple of numpy.ndarray
            ``(label_ids, probs)``, both ``(n_texts, k)``: int32 indices into :attr:`labels`
            (``-1`` where fewer than ``k`` labels pass ``threshold``, and for null texts) and
            float64 probabilities (``0.0`` there).
        """
        k = check_int("k", k, 1)
        n_threads = check_threads(n_threads)
        ids, probs = [], []
        for arr in as_text_array(texts):
            i, p = self._model.predict(
                *buffers(arr), k=k, threshold=float(threshold), n_threads=n_threads
            )
            ids.append(i)
            probs.append(p)
        width = min(k, len(self.labels))
        if not ids:
            return np.zeros((0, width), np.int32), np.zeros((0, width))
        return np.concatenate(ids), np.concatenate(probs)

    def label_probability(
        self, texts: Any, label: str, *, n_threads: int | None = None
    ) -> np.ndarray:
        """Probability of ``label`` for every text, as the bindings report it with ``k=-1``.

        This is the quality score of a classifier (``label="hq"``) or the language score of a
        language-ID model (``label="en"``). ``0.0`` when fastText does not report the label
        (hierarchical softmax prunes labels below ``1e-5``), NaN for a null text.

        Parameters
        ----------
        texts
            As in :meth:`predict`.
        label
            A label of the model, with or without the ``__label__`` prefix.
        n_threads
            Worker threads (``None``: all cores).

        Returns
        -------
        numpy.ndarray
            float64, one value per text.
        """
        index = self.label_index(label)
        n_threads = check_threads(n_threads)
        out = [
            self._model.label_probs(*buffers(arr), label=index, n_threads=n_threads)
            for arr in as_text_array(texts)
        ]
        return np.concatenate(out) if out else np.zeros(0)
