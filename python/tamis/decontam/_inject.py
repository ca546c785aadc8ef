"""Injected contamination, to measure recall: eval items copied into documents, disguised."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

#: The disguises of :func:`disguise`, as the issue's acceptance lists them.
MODES = ("verbatim", "rewrap8", "case_punct", "half", "long_doc")


def disguise(item: str, mode: str, rng: random.Random) -> str:
    """The copy of ``item`` that ``mode`` inserts.

    ``verbatim`` and ``long_doc``: unchanged; ``rewrap8``: a line break every 8 words;
    ``case_punct``: words upper- or title-cased at random and punctuation between words changed
    (what precedes or follows a word removed; commas, semicolons, dashes and quotes added; the
    punctuation inside a word, as in "don't", is kept); ``half``: the first half of the words.
    """
    words = item.split()
    if mode in ("verbatim", "long_doc"):
        return item
    if mode == "rewrap8":
        return "\n".join(" ".join(words[i : i + 8]) for i in range(0, len(words), 8))
    if mode == "case_punct":
        out = []
        for w in words:
            w = re.sub(r"^[^\w]+|[^\w]+$", "", w) or w
            r = rng.random()
            w = w.upper() if r < 0.3 else w.title() if r < 0.6 else w
            if rng.random() < 0.2:
                w += rng.choice([",", ";", " -", ":", '"', "!"])
            out.append(w)
        return " ".join(out)
    if mode == "half":
        return " ".join(words[: (len(words) + 1) // 2])
    raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


def inject(
    docs: Sequence[str],
    items: Sequence[str],
    mode: str,
    *,
    seed: int = 0,
    long_chars: int = 100_000,
) -> list[str]:
    """One contaminated document per item, the disguised item inserted into a host.

    The host is ``docs[i % len(docs)]`` (for ``long_doc``, documents concatenated to at least
    ``long_chars`` characters); the item goes in at a random whitespace position.
    """
    rng = random.Random(seed)
    out = []
    for i, item in enumerate(items):
        host = docs[i % len(docs)]
        if mode == "long_doc":
            j = i
            parts = [host]
            while sum(map(len, parts)) < long_chars:
                j += 1
                parts.append(docs[j % len(docs)])
            host = "\n\n".join(parts)
        copy = disguise(item, mode, rng)
        cuts = [m.start() for m in re.finditer(r"\s", host)] or [len(host)]
        at = rng.choice(cuts)
        out.append(f"{host[:at]}\n{copy}\n{host[at:]}")
    return out
