"""Object storage: ``s3://``, ``gs://``, ``hf://`` and ``file://`` URLs through ``pyarrow.fs``.

Local paths never come here (:func:`is_url` is false for them), so local reading and writing is
unchanged. A URL is resolved to a ``pyarrow.fs`` filesystem:

========  ==========================================================  ==============================
scheme    filesystem, credentials                                       a write becomes visible
========  ==========================================================  ==============================
s3        ``pyarrow.fs.S3FileSystem``: the AWS SDK chain (``AWS_*``      at once, when the upload
          environment, ``~/.aws/credentials``, instance roles);          completes (a PUT / multipart
          ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for S3-        upload is atomic); an
          compatible servers                                              interrupted upload leaves
                                                                          nothing
gs        ``pyarrow.fs.GcsFileSystem``: application default              at once, when the object is
          credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud)       finalised
hf        ``huggingface_hub.HfFileSystem`` (fsspec) wrapped in           one commit per file: atomic
          ``pyarrow.fs.PyFileSystem``: ``HF_TOKEN`` or the cached login
file      ``pyarrow.fs.LocalFileSystem``                                 written to a temporary name
                                                                          next to the target, then
                                                                          renamed (atomic)
========  ==========================================================  ==============================

Every remote call goes through :func:`with_retries`: throttling and transient server errors (HTTP
429, 500, 502, 503, 504, ``SlowDown``, reset connections) are retried with exponential backoff and
jitter, up to :data:`RETRIES` attempts; anything else (403, 404, a bad bucket) fails at once. The
S3 client also retries on its own (the SDK's standard strategy), underneath.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: URL schemes tamis reads and writes.
SCHEMES = ("s3", "gs", "gcs", "hf", "file")
#: Attempts per remote call (the first try included).
RETRIES = 8
#: First backoff in seconds (doubled per retry, with jitter, capped at 20 s).
BACKOFF = 0.2
_TRANSIENT = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "slowdown",
    "slow down",
    "throttl",
    "too many requests",
    "service unavailable",
    "internal error",
    "connection reset",
    "connection refused",
    "timed out",
    "timeout",
)


def is_url(source: Any) -> bool:
    """True for a ``str`` of the form ``<scheme>://...`` with a scheme in :data:`SCHEMES`."""
    if not isinstance(source, str) or "://" not in source:
        return False
    return source.split("://", 1)[0].lower() in SCHEMES


def _scheme_error(url: str) -> ValueError:
    return ValueError(f"{url}: unsupported URL scheme (tamis reads {', '.join(SCHEMES)})")


def _s3() -> Any:
    from pyarrow import fs

    kwargs: dict[str, Any] = {
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=RETRIES),
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urllib.parse.urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    return fs.S3FileSystem(**kwargs)


def filesystem(url: str) -> tuple[Any, str]:
    """``(pyarrow.fs.FileSystem, path inside it)`` for a URL.

    Raises
    ------
    ValueError
        An unsupported scheme.
    ImportError
        ``hf://`` without ``huggingface_hub`` installed.
    """
    if not is_url(url):
        raise _scheme_error(url)
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    from pyarrow import fs

    if scheme == "file":
        return fs.LocalFileSystem(), urllib.parse.unquote(urllib.parse.urlparse(url).path)
    if scheme == "s3":
        return _s3(), rest
    if scheme in ("gs", "gcs"):
        return fs.GcsFileSystem(retry_limit_seconds=60), rest
    try:
        from huggingface_hub import HfFileSystem
    except ImportError:
        raise ImportError("hf:// URLs need huggingface_hub (pip install huggingface_hub)") from None
    return fs.PyFileSystem(fs.FSSpecHandler(HfFileSystem())), rest


def transient(error: BaseException) -> bool:
    """Whether a failed remote call is worth retrying (throttling, 5xx, a dropped connection)."""
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    msg = str(error).lower()
    return isinstance(error, OSError) and any(m in msg for m in _TRANSIENT)


#: Retries made by :func:`with_retries` in this process (read by tests and run reports).
retry_count = 0


def with_retries(call: Callable[[], T], what: str, *, attempts: int = RETRIES) -> T:
    """``call()``, retried with exponential backoff while it fails with a transient error.

    ``what`` names the operation in the final error.
    """
    global retry_count
    delay = BACKOFF
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as e:
            if attempt == attempts or not transient(e):
                if attempt > 1:
                    raise OSError(f"{what}: failed after {attempt} attempts: {e}") from e
                raise
            retry_count += 1
            time.sleep(delay * (0.5 + random.random()))  # full jitter spreads retrying clients
            delay = min(delay * 2, 20.0)
    raise AssertionError("unreachable")  # pragma: no cover


def exists(url: str) -> bool:
    """Whether the URL names an existing file (or prefix)."""
    from pyarrow import fs

    fsys, path = filesystem(url)
    info = with_retries(lambda: fsys.get_file_info(path), f"stat {url}")
    return bool(info.type != fs.FileType.NotFound)


def size(url: str) -> int | None:
    """Bytes of the file at ``url`` (``None`` if unknown)."""
    fsys, path = filesystem(url)
    info = with_retries(lambda: fsys.get_file_info(path), f"stat {url}")
    return None if info.size is None else int(info.size)


def fetch(url: str, dest: str | os.PathLike[str]) -> Path:
    """Copy the file at ``url`` to the local path ``dest``, atomically (temporary name + rename).

    The bytes are copied as stored (no decompression), so ``corpus.jsonl.gz`` stays gzip.
    """
    from tamis.output import atomic_path

    fsys, path = filesystem(url)

    def copy() -> None:
        with (
            atomic_path(dest) as tmp,
            open(tmp, "wb") as out,
            fsys.open_input_stream(path, compression=None) as src,
        ):
            while chunk := src.read(1 << 22):
                out.write(chunk)

    with_retries(copy, f"download {url}")
    return Path(dest)


def upload(local: str | os.PathLike[str], url: str) -> str:
    """Copy the local file to ``url``; visible only once complete (see the module table)."""
    fsys, path = filesystem(url)
    from pyarrow import fs

    if isinstance(fsys, fs.LocalFileSystem):  # file://: a temporary name, then a rename
        from tamis.output import atomic_path

        with atomic_path(path) as tmp:
            shutil.copyfile(local, tmp)
        return url

    def put() -> None:
        parent = path.rsplit("/", 1)[0]
        if "/" in path:
            with contextlib.suppress(OSError):  # buckets and object stores need no folders
                fsys.create_dir(parent, recursive=True)
        with open(local, "rb") as src, fsys.open_output_stream(path, compression=None) as out:
            while chunk := src.read(1 << 22):
                out.write(chunk)

    with_retries(put, f"upload {url}")
    return url


def delete(url: str) -> None:
    """Delete the file at ``url`` (missing: no error)."""
    fsys, path = filesystem(url)
    with contextlib.suppress(FileNotFoundError):
        with_retries(lambda: fsys.delete_file(path), f"delete {url}")
