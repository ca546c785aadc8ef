"""The exceptions raised by tamis; the one import path for users.

Argument problems raise the built-in ``ValueError`` / ``TypeError`` with the parameter, file or
row named in the message. Everything else derives from :class:`TamisError`.
"""

from tamis._core import TamisError


class InputError(TamisError, ValueError):
    """An input file or column cannot be read as a corpus (names the file and, if known, the row)."""


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit``."""


__all__ = ["InputError", "NotFittedError", "TamisError"]
