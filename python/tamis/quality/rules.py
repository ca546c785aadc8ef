"""Heuristic quality rules: Gopher quality and repetition, C4 and FineWeb, in Rust.

The rules, their defaults and their names are datatrove 0.10.1's (``GopherQualityFilter``,
``GopherRepetitionFilter``, ``C4QualityFilter``, ``FineWebQualityFilter``); sources: Gopher (Rae
et al. 2021), C4 (Raffel et al. 2020), FineWeb (Penedo et al. 2024). Every document gets
``keep``, the first failing rule (``reason``: the family order, then datatrove's order inside a
family) and, on request, every statistic the rules compare (one column each). Words are split by
a spaCy-compatible English tokenizer written in Rust; docs/quality.md measures the agreement with
datatrove running spaCy.

Engine: :func:`apply_rules` decides one batch (no I/O; the CLI and the Ray backend call it).
Estimator: :class:`QualityRules` (``decide`` a batch, ``select`` a corpus into a
:class:`~tamis.Selection`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tamis import _core
from tamis._base import Estimator, Selection
from tamis._progress import progress
from tamis._validation import check_threads
from tamis.io import as_text_array, buffers, read_batches

#: The rule families, in the default check order (FineWeb's pipeline order is repetition,
#: quality, C4, FineWeb; the order only changes which reason a document that fails several
#: families gets).
FAMILIES = ("gopher", "gopher-repetition", "c4", "fineweb")

#: datatrove's defaults, by family (``None`` disables a rule).
DEFAULTS: dict[str, dict[str, Any]] = {
    "gopher": {
        "min_doc_words": 50,
        "max_doc_words": 100_000,
        "min_avg_word_length": 3,
        "max_avg_word_length": 10,
        "max_symbol_word_ratio": 0.1,
        "max_bullet_lines_ratio": 0.9,
        "max_ellipsis_lines_ratio": 0.3,
        "max_non_alpha_words_ratio": 0.8,
        "min_stop_words": 2,
        "stop_words": ["the", "be", "to", "of", "and", "that", "have", "with"],
    },
    "gopher-repetition": {
        "dup_para_frac": 0.3,
        "dup_para_char_frac": 0.2,
        "dup_line_frac": 0.3,
        "dup_line_char_frac": 0.2,
        "top_n_grams": [(2, 0.2), (3, 0.18), (4, 0.16)],
        "dup_n_grams": [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)],
    },
    "c4": {
        "remove_citations": True,
        "filter_no_terminal_punct": True,
        "min_num_sentences": 5,
        "min_words_per_line": 3,
        "max_word_length": 1000,
        "filter_lorem_ipsum": True,
        "filter_javascript": True,
        "filter_curly_bracket": True,
        "filter_policy": True,
    },
    "fineweb": {
        "line_punct_thr": 0.12,
        "line_punct_exclude_zero": False,
        "stop_chars": None,
        "short_line_thr": 0.67,
        "short_line_length": 30,
        "char_duplicates_ratio": 0.01,
        "new_line_ratio": 0.3,
    },
}


def parse_rules(rules: str | Iterable[str]) -> tuple[str, ...]:
    """Rule families from ``"gopher,c4"`` or a list; refuses unknown and repeated names."""
    names = [r.strip() for r in rules.split(",")] if isinstance(rules, str) else list(rules)
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"rules must name at least one of {', '.join(FAMILIES)}")
    for n in names:
        if n not in FAMILIES:
            raise ValueError(f"rules must be among {', '.join(FAMILIES)}, got {n!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"rules names a family twice: {','.join(names)}")
    return tuple(names)


@dataclass
class RuleDecisions:
    """The decisions for one batch.

    Attributes
    ----------
    keep
        Bool per row.
    codes
        0 for a kept row, else ``1 + i`` for the failing rule ``labels[i]`` (uint16).
    labels
        ``(family, rule)`` of every code, in check order.
    columns
        Statistics columns (float64 per row), empty unless asked for.
    """

    keep: np.ndarray
    codes: np.ndarray
    labels: list[tuple[str, str]]
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def reason(self) -> pa.Array:
        """The ``reason`` column: the rule name, null for a kept row (dictionary-encoded)."""
        names = pa.array([r for _, r in self.labels] or [""], pa.string())
        idx = pa.array(self.codes.astype(np.int32) - 1, mask=self.keep)
        return pa.DictionaryArray.from_arrays(idx, names)


class QualityRules(Estimator):
    """Gopher, Gopher repetition, C4 and FineWeb heuristic rules (datatrove 0.10.1's).

    Parameters
    ----------
    rules
        Families to apply, in check order: names from :data:`FAMILIES` (a list or a
        comma-separated string).
    gopher, gopher_repetition, c4, fineweb
        Thresholds that replace datatrove's defaults (:data:`DEFAULTS`), by parameter name;
        ``None`` as a value disables that rule.
    n_threads
        Worker threads (``None``: all cores, or ``TAMIS_NUM_THREADS``).

    Examples
    --------
    >>> from tamis.quality import QualityRules
    >>> rules = QualityRules("gopher,fineweb", gopher={"min_doc_words": 3})
    >>> d = rules.decide(["The quick brown fox jumps over the lazy dog and the cat.", "###"])
    >>> d.keep.tolist(), d.reason().to_pylist()
    ([True, False], [None, 'gopher_short_doc'])
    """

    def __init__(
        self,
        rules: str | Sequence[str] = FAMILIES,
        *,
        gopher: Mapping[str, Any] | None = None,
        gopher_repetition: Mapping[str, Any] | None = None,
        c4: Mapping[str, Any] | None = None,
        fineweb: Mapping[str, Any] | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.rules = rules
        self.gopher = gopher
        self.gopher_repetition = gopher_repetition
        self.c4 = c4
        self.fineweb = fineweb
        self.n_threads = n_threads
        overrides = {
            "gopher": gopher,
            "gopher-repetition": gopher_repetition,
            "c4": c4,
            "fineweb": fineweb,
        }
        families = parse_rules(rules)
        for name, given in overrides.items():
            for key in given or {}:
                if key not in DEFAULTS[name]:
                    param = name.replace("-", "_")
                    raise ValueError(
                        f"{param} has no threshold {key!r} (known: {', '.join(DEFAULTS[name])})"
                    )
        self._core = _core.QualityRules(
            [(f, {**DEFAULTS[f], **dict(overrides[f] or {})}) for f in families]
        )
        self.labels: list[tuple[str, str]] = list(self._core.reasons())
        self.stat_names: list[str] = list(self._core.stat_names())

    def decide(self, texts: Any, *, with_stats: bool = False) -> RuleDecisions:
        """Decide every document of one batch.

        Parameters
        ----------
        texts
            A pyarrow string array (or chunked array), or a list of ``str``; nulls are empty
            texts.
        with_stats
            Also return every statistic (``RuleDecisions.columns``).

        Returns
        -------
        RuleDecisions
        """
        n_threads = check_threads(self.n_threads)
        parts = [
            self._core.apply(*buffers(chunk), with_stats=with_stats, n_threads=n_threads)
            for chunk in as_text_array(texts)
        ]
        if not parts:
            parts = [(np.zeros(0, bool), np.zeros(0, np.uint16), np.zeros((0, 0)))]
        keep = np.concatenate([p[0] for p in parts])
        codes = np.concatenate([p[1] for p in parts])
        cols: dict[str, np.ndarray] = {}
        if with_stats:
            stats = np.concatenate([p[2] for p in parts]) if parts[0][2].size else None
            cols = {
                n: stats[:, i] if stats is not None else np.zeros(len(keep))
                for i, n in enumerate(self.stat_names)
            }
        return RuleDecisions(keep, codes, self.labels, cols)

    def select(
        self,
        source: Any,
        *,
        text_column: str = "text",
        id_column: str | None = None,
        with_stats: bool = False,
        show_progress: bool = False,
    ) -> Selection:
        """Stream a corpus and select the documents every rule keeps.

        Parameters
        ----------
        source
            Anything :func:`tamis.read_batches` reads.
        text_column, id_column
            Columns (the id defaults to ``id``, else row numbers).
        with_stats
            Add every statistic to ``Selection.rows``.
        show_progress
            Show a progress bar.

        Returns
        -------
        Selection
            ``indices`` of the kept rows; ``rows`` holds ``keep`` and ``reason`` (``None`` for
            a kept row) for every input row, plus the statistics with ``with_stats``;
            ``info["dropped"]`` counts the drops per ``"family/rule"``.
        """
        keeps, reasons, ids = [], [], []
        stats: dict[str, list[np.ndarray]] = {n: [] for n in self.stat_names}
        bar = progress(desc="rules", enabled=show_progress)
        for batch in read_batches(source, text_column=text_column, id_column=id_column, columns=[]):
            d = self.decide(batch.column(text_column), with_stats=with_stats)
            keeps.append(d.keep)
            reasons.append(d.codes)
            ids.append(batch.column(id_column or "id"))
            for n, v in d.columns.items():
                stats[n].append(v)
            bar.update(batch.num_rows)
        bar.close()
        keep = np.concatenate(keeps) if keeps else np.zeros(0, bool)
        codes = np.concatenate(reasons) if reasons else np.zeros(0, np.uint16)
        names = np.array([None] + [r for _, r in self.labels], dtype=object)
        rows: dict[str, np.ndarray] = {"keep": keep, "reason": names[codes.astype(np.int64)]}
        if with_stats:
            rows.update({n: np.concatenate(v) if v else np.zeros(0) for n, v in stats.items()})
        counts = np.bincount(codes.astype(np.int64), minlength=len(self.labels) + 1)
        dropped = {
            f"{f}/{r}": int(c) for (f, r), c in zip(self.labels, counts[1:], strict=True) if c
        }
        all_ids = pa.chunked_array(ids) if ids else pa.chunked_array([], pa.string())
        idx = np.flatnonzero(keep)
        return Selection(
            indices=idx,
            ids=all_ids.take(pa.array(idx)).to_numpy(zero_copy_only=False),
            rows=rows,
            n_rows=len(keep),
            method="rules/" + ",".join(parse_rules(self.rules)),
            info={"dropped": dropped, "n_kept": len(idx)},
        )


def apply_rules(
    rules: QualityRules, batch: pa.RecordBatch, text_column: str = "text", with_stats: bool = False
) -> RuleDecisions:
    """Engine function: the decisions for one record batch (what the CLI and Ray call)."""
    return rules.decide(batch.column(text_column), with_stats=with_stats)


def rule_words(text: str) -> list[str]:
    """The words the rules count in ``text`` (spaCy-compatible English tokens).

    Examples
    --------
    >>> rule_words("I don't know, e.g. Mr. Smith's e-mail.")
    ['I', 'do', "n't", 'know', ',', 'e.g.', 'Mr.', 'Smith', "'s", 'e', '-', 'mail', '.']
    """
    return list(_core.rule_words(text))


def rule_sentences(text: str) -> int:
    """Sentences in ``text`` as C4's rule counts them (spaCy's sentencizer).

    Examples
    --------
    >>> rule_sentences("Mr. Smith left. He came back! Did he?")
    3
    """
    return int(_core.rule_sentences(text))
