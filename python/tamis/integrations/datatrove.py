"""datatrove pipeline steps backed by tamis (``pip install datatrove``).

Drop these into an existing ``LocalPipelineExecutor`` (or Slurm) pipeline; they follow
datatrove's conventions (``stat_update`` counters written to the executor's stats files,
``exclusion_writer`` for dropped documents with ``metadata["filter_reason"]``, per-rank files in
``DataFolder``s so any fsspec store works) and call the same engine functions as the CLI.

* :class:`TamisFilter`: a ``BaseFilter`` over any batch function ``texts -> (keep, reasons)``
  (tamis's rule, classifier and decontamination filters have such functions); documents are
  filtered a batch at a time (``batch_size``), in Rust where the function is.
* MinHash dedup in four stages, split as datatrove splits its own
  (``MinhashDedupSignature`` / ``Buckets`` / ``Cluster`` / ``Filter``):
  :class:`TamisMinhashSignature` (per rank: signatures, LSH band keys, exact-duplicate hashes
  of its documents, one Parquet file), :class:`TamisMinhashBuckets` (per worker: the verified
  edges of its share of the bands, ``(band + rank) % workers``), :class:`TamisMinhashCluster`
  (one task: union-find over all edges and the keep policy, a ``.remove`` list per rank) and
  :class:`TamisMinhashFilter` (per rank: drops the listed documents). The kept documents equal
  ``tamis dedup --verify estimate`` on the same documents in the same order (tested), because
  the stages run the functions the Ray backend runs (``sign_batch``, ``band_edges``,
  ``exact_edges``, ``components``, ``choose_kept``). ``verify="exact"`` needs the texts of the
  candidate pairs, which the split stages do not keep: use ``"estimate"`` (the signature's
  Jaccard estimate) or ``"none"`` here, or ``tamis dedup`` for exact verification.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamis.dedup import (
    MinHashDeduplicator,
    band_edges,
    choose_kept,
    components,
    exact_edges,
)

try:  # datatrove is optional: the module imports without it, the steps need it
    from datatrove.io import get_datafolder
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.filters.base_filter import BaseFilter
except ImportError as e:  # pragma: no cover - exercised only without datatrove
    raise ImportError("tamis.integrations.datatrove needs datatrove: pip install datatrove") from e

BatchFilter = Callable[[list[str]], tuple[Any, Sequence[Optional[str]]]]
_SIG = "{rank:05d}.tamis.sig.parquet"
_EDGES = "{rank:05d}.tamis.edges.npy"
_REMOVE = "{rank:05d}.tamis.remove.npy"


class TamisFilter(BaseFilter):
    """A datatrove filter running a tamis batch function over ``batch_size`` documents at once.

    ``fn(texts)`` returns ``(keep, reasons)``: a boolean per text and, per text, the reason of a
    drop (``None`` when kept). Dropped documents are counted as ``dropped_<reason>`` in the
    stats and written to ``exclusion_writer`` with ``metadata["filter_reason"]``, as datatrove's
    own filters do.
    """

    name = "🔻 tamis filter"

    def __init__(
        self,
        fn: BatchFilter,
        *,
        exclusion_writer: Any = None,
        batch_size: int = 1000,
        name: Optional[str] = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(exclusion_writer=exclusion_writer, batch_size=batch_size)
        self.fn = fn
        if name is not None:
            self.name = name

    def filter(self, doc: Any) -> bool | tuple[bool, str]:
        """One document (datatrove calls :meth:`filter_batch` when ``batch_size > 1``)."""
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Any]) -> list[bool | tuple[bool, str]]:
        """``fn`` over the batch's texts: ``True`` or ``(False, reason)`` per document."""
        keep, reasons = self.fn([doc.text for doc in batch])
        keep = np.asarray(keep, dtype=bool)
        if len(keep) != len(batch) or len(reasons) != len(batch):
            raise ValueError(
                f"{self.name}: the filter function returned {len(keep)} decisions and "
                f"{len(reasons)} reasons for {len(batch)} documents"
            )
        return [True if k else (False, r or "tamis") for k, r in zip(keep.tolist(), reasons)]


class TamisRulesFilter(TamisFilter):
    """Gopher / Gopher-repetition / C4 / FineWeb rules (:class:`tamis.quality.QualityRules`).

    Drops a document at its first failing rule; the reason is the rule's name (datatrove's
    names, e.g. ``gopher_short_doc``), counted as ``dropped_<rule>``. ``thresholds`` go to
    ``QualityRules`` (``gopher={...}``, ``c4={...}``, ...). The Rust rules are built in each
    worker process (they do not pickle).
    """

    name = "🔻 tamis rules"

    def __init__(
        self,
        rules: Any = ("gopher", "gopher-repetition", "c4", "fineweb"),
        *,
        exclusion_writer: Any = None,
        batch_size: int = 1000,
        **thresholds: Any,
    ) -> None:
        self.rule_params = {"rules": rules, **thresholds}
        self._rules: Any = _quality_rules(self.rule_params)  # checks the parameters now
        super().__init__(self._decide, exclusion_writer=exclusion_writer, batch_size=batch_size)

    def _decide(self, texts: list[str]) -> tuple[Any, list[Optional[str]]]:
        if self._rules is None:
            self._rules = _quality_rules(self.rule_params)
        d = self._rules.decide(texts)
        labels = self._rules.labels
        reasons = [
            None if k else labels[c - 1][1] for k, c in zip(d.keep.tolist(), d.codes.tolist())
        ]
        return d.keep, reasons

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rules": None}


def _quality_rules(params: dict[str, Any]) -> Any:
    from tamis.quality import QualityRules

    return QualityRules(**params)


class TamisDecontaminationFilter(TamisFilter):
    """Drops documents that contain evaluation items (:class:`tamis.decontam.Decontaminator`).

    ``index``: a saved :class:`tamis.decontam.DecontaminationIndex` (``tamis decontaminate
    --save-index``, or ``DecontaminationIndex.save``), loaded in each worker. ``params``: the
    decontaminator's decision parameters (``min_matches``, ``matched_fraction``, ``n_threads``).
    Reason: ``contaminated``.
    """

    name = "🔻 tamis decontamination"

    def __init__(
        self,
        index: Any,
        *,
        exclusion_writer: Any = None,
        batch_size: int = 1000,
        **params: Any,
    ) -> None:
        self.index_path = str(index)
        self.params = params
        self._d: Any = _decontaminator(self.index_path, params)
        super().__init__(self._decide, exclusion_writer=exclusion_writer, batch_size=batch_size)

    def _decide(self, texts: list[str]) -> tuple[Any, list[Optional[str]]]:
        if self._d is None:
            self._d = _decontaminator(self.index_path, self.params)
        _, flag = self._d.scan(texts)
        flag = np.asarray(flag, dtype=bool)
        return ~flag, ["contaminated" if f else None for f in flag.tolist()]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_d": None}


def _decontaminator(path: str, params: dict[str, Any]) -> Any:
    from tamis.decontam import DecontaminationIndex, Decontaminator

    return Decontaminator(action="drop", **params).set_index(DecontaminationIndex.load(path))


class _DedupStage(PipelineStep):
    """The deduplicator every stage rebuilds from the same parameters."""

    type = "🫂 - DEDUP"

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__()
        verify = params.get("verify", "estimate")
        if verify == "exact":
            raise ValueError(
                "verify='exact' needs the texts of candidate pairs, which the split datatrove "
                "stages do not keep: use verify='estimate' or 'none' (or tamis dedup)"
            )
        if params.get("low_memory"):
            raise ValueError("low_memory does not apply to the datatrove stages")
        if params.get("keep", "first") not in ("first", "longest"):
            raise ValueError("the datatrove stages keep the 'first' or the 'longest' document")
        self.params = {**params, "verify": verify}
        self._dedup: Optional[MinHashDeduplicator] = MinHashDeduplicator(**self.params)

    @property
    def dedup(self) -> MinHashDeduplicator:
        """The deduplicator of ``params`` (rebuilt in each worker process)."""
        if self._dedup is None:
            self._dedup = MinHashDeduplicator(**self.params)
        return self._dedup

    def __getstate__(self) -> dict[str, Any]:
        # Executors pickle the steps into their worker processes; the Rust hasher does not
        # pickle, and rebuilding it from the parameters is cheap.
        return {**self.__dict__, "_dedup": None}


def _write_npy(folder: Any, name: str, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    with folder.open(name, "wb") as f:
        f.write(buf.getvalue())


def _read_npy(folder: Any, name: str) -> np.ndarray:
    with folder.open(name, "rb") as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)


def _signature_files(folder: Any) -> list[tuple[int, pa.Table]]:
    """Every rank's signature table, in rank order (the global row order)."""
    names = sorted(folder.list_files(glob_pattern="*.tamis.sig.parquet"))
    out = []
    for name in names:
        with folder.open(name, "rb") as f:
            out.append((int(name.split("/")[-1].split(".")[0]), pq.read_table(f)))
    return out


class TamisMinhashSignature(_DedupStage):
    """Stage 1 (per rank): MinHash signatures, band keys and exact hashes, one Parquet file.

    ``params``: :class:`~tamis.MinHashDeduplicator`'s (``threshold``, ``num_perm``, ``ngram``,
    ``seed``, ``scheme``, ``num_bands`` / ``rows``, normalisation, ``keep`` first/longest,
    ``verify`` estimate/none, ``n_threads``). Consumes the documents (like datatrove's stage).
    """

    name = "🎯 tamis MinHash 1: signatures"

    def __init__(self, output_folder: Any, *, batch_size: int = 10_000, **params: Any) -> None:
        super().__init__(params)
        self.output_folder = get_datafolder(output_folder)
        self.batch_size = batch_size

    def run(self, data: Any, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """The stage for one rank (datatrove calls it per task)."""
        d = self.dedup
        parts = []
        batch: list[str] = []

        def sign() -> None:
            with self.track_time():
                texts = pa.array(batch, type=pa.large_string())
                signed = d.sign(texts, band_keys=True)
                parts.append(signed.to_arrow())
            batch.clear()

        for doc in data or ():
            self.stat_update("total")
            batch.append(doc.text)
            if len(batch) >= self.batch_size:
                sign()
        if batch:
            sign()
        if parts:
            table = pa.concat_tables(parts)
            with self.output_folder.open(_SIG.format(rank=rank), "wb") as f:
                pq.write_table(table, f)
        return
        yield  # a generator, like every datatrove step


class TamisMinhashBuckets(_DedupStage):
    """Stage 2 (``workers`` tasks): the verified edges of this worker's bands.

    Band ``b`` goes to worker ``b % workers``; worker 0 also joins exact-hash duplicates.
    Reads every rank's signature file (the band keys of all documents, the signatures of the
    candidate rows); writes ``<rank>.tamis.edges.npy`` (global row pairs).
    """

    name = "🎯 tamis MinHash 2: buckets"

    def __init__(self, input_folder: Any, output_folder: Any, **params: Any) -> None:
        super().__init__(params)
        self.input_folder = get_datafolder(input_folder)
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """The stage for one rank (datatrove calls it per task)."""
        tables = [t for _, t in _signature_files(self.input_folder)]
        edges: list[np.ndarray] = []
        if tables:
            with self.track_time():
                edges = self._edges(pa.concat_tables(tables), rank, world_size)
        out = np.concatenate(edges) if edges else np.empty((0, 2), np.uint32)
        self.stat_update("edges", value=len(out))
        _write_npy(self.output_folder, _EDGES.format(rank=rank), out.astype(np.uint32))
        return
        yield

    def _edges(self, table: pa.Table, rank: int, world_size: int) -> list[np.ndarray]:
        d = self.dedup
        n = table.num_rows
        valid = table.column("n_shingles").to_numpy() > 0
        raw_keys = table.column("keys").combine_chunks()
        keys = np.frombuffer(raw_keys.buffers()[1], np.uint64)[raw_keys.offset * d.num_bands_ :]
        keys = keys[: n * d.num_bands_].reshape(n, d.num_bands_)
        mine = np.arange(d.num_bands_) % world_size == rank
        rows = np.flatnonzero(valid).astype(np.uint32)
        band_keys = keys[valid][:, mine].ravel()
        band_rows = np.repeat(rows, int(mine.sum()))
        edges = []
        if len(band_keys):
            sig = None
            if d.verify == "estimate":
                raw = table.column("sig").combine_chunks()
                flat = np.frombuffer(raw.buffers()[1], np.uint32)[raw.offset * d.num_perm :]
                sig = np.ascontiguousarray(flat[: n * d.num_perm].reshape(n, d.num_perm))
            e = band_edges(
                band_keys,
                band_rows,
                signatures=sig,
                threshold=d.threshold,
                verify=d.verify,
                n_threads=d.n_threads,
            )
            edges.append(e.astype(np.uint32))
        if rank == 0 and d.exact:
            ok = table.column("hash_ok").to_numpy(zero_copy_only=False)
            hashes = np.stack(
                [table.column("h0").to_numpy()[ok], table.column("h1").to_numpy()[ok]], axis=1
            )
            edges.append(exact_edges(np.flatnonzero(ok).astype(np.uint32), hashes))
        return edges


class TamisMinhashCluster(_DedupStage):
    """Stage 3 (one task): clusters of all edges, the keep policy, a removal list per rank."""

    name = "🎯 tamis MinHash 3: clusters"

    def __init__(
        self, signatures_folder: Any, edges_folder: Any, output_folder: Any, **params: Any
    ) -> None:
        super().__init__(params)
        self.signatures_folder = get_datafolder(signatures_folder)
        self.edges_folder = get_datafolder(edges_folder)
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """The stage for one rank (datatrove calls it per task)."""
        if world_size != 1:
            raise ValueError(f"{self.name} runs as one task (tasks=1), got {world_size}")
        files = _signature_files(self.signatures_folder)
        sizes = [t.num_rows for _, t in files]
        n = int(sum(sizes))
        names = self.edges_folder.list_files(glob_pattern="*.tamis.edges.npy")
        edges = [_read_npy(self.edges_folder, name) for name in names]
        with self.track_time():
            roots = components(n, edges)
            lengths = None
            if self.dedup.keep == "longest" and files:
                lengths = np.concatenate([t.column("length").to_numpy() for _, t in files])
            kept = choose_kept(roots, self.dedup.keep, lengths=lengths)
        start = 0
        for (file_rank, _), size in zip(files, sizes):
            local = ~kept.keep_mask[start : start + size]
            _write_npy(
                self.output_folder,
                _REMOVE.format(rank=file_rank),
                np.flatnonzero(local).astype(np.uint32),
            )
            start += size
        self.stat_update("documents", value=n)
        self.stat_update("removed", value=int(n - kept.keep_mask.sum()))
        self.stat_update("clusters", value=int((kept.cluster_id == np.arange(n)).sum()))
        return
        yield


class TamisMinhashFilter(PipelineStep):
    """Stage 4 (per rank, same reader and tasks as stage 1): drops the listed documents."""

    type = "🫂 - DEDUP"
    name = "🎯 tamis MinHash 4: filter"

    def __init__(self, input_folder: Any, *, exclusion_writer: Any = None) -> None:
        super().__init__()
        self.input_folder = get_datafolder(input_folder)
        self.exclusion_writer = exclusion_writer

    def run(self, data: Any, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """The stage for one rank (datatrove calls it per task)."""
        name = _REMOVE.format(rank=rank)
        remove = (
            set(_read_npy(self.input_folder, name).tolist())
            if self.input_folder.isfile(name)
            else set()
        )
        writer = self.exclusion_writer
        if writer is not None:
            writer.__enter__()
        try:
            for idx, doc in enumerate(data or ()):
                self.stat_update("total")
                if idx in remove:
                    self.stat_update("dropped")
                    if writer is not None:
                        writer.write(doc, rank)
                    continue
                self.stat_update("forwarded")
                yield doc
        finally:
            if writer is not None:
                writer.__exit__(None, None, None)


__all__ = [
    "TamisDecontaminationFilter",
    "TamisFilter",
    "TamisMinhashBuckets",
    "TamisMinhashCluster",
    "TamisMinhashFilter",
    "TamisMinhashSignature",
    "TamisRulesFilter",
]
