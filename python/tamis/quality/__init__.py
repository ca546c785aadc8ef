"""Quality filtering: heuristic rules (Gopher, C4, FineWeb), fastText models and a hashed classifier.

Re-exports only; each capability lives in its own module of this package.
"""

__all__: list[str] = []
