"""``tamis score``: model scores for a corpus, streamed batch by batch into Parquet.

With ``--resume`` every input batch is written to its own part file (atomically) in
``<output>.parts/``; a rerun with the same inputs and parameters skips the parts that exist, and
the parts are merged into the output at the end.

``--shard I --num-shards N`` scores every N-th input batch (from the I-th), so N processes, one
per GPU (``CUDA_VISIBLE_DEVICES=I``), split a corpus with no coordination; each writes its own
output and the union of the outputs holds every document once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tamis.cli import _common as c
from tamis.io import read_batches
from tamis.output import ParquetSink, open_sink, write_text
from tamis.scoring import prefetch

TASKS = ("lm", "embed", "classify")


def _scorer(args: argparse.Namespace) -> Any:
    from tamis import scoring

    common = {"device": args.device, "token_budget": args.token_budget}
    if args.max_length is not None:
        common["max_length"] = args.max_length
    if args.task == "lm":
        return scoring.LMScorer(
            args.model, stride=args.stride, min_k_fraction=args.min_k_fraction, **common
        )
    if args.task == "embed":
        return scoring.Embedder(args.model, **common)
    return scoring.ClassifierScorer(args.model, **common)


def _score_table(
    scorer: Any, args: argparse.Namespace, texts: pa.Array, ids: Any = None
) -> pa.Table:
    if args.task == "lm":
        if ids is None:
            ids = scorer.tokenize(texts)
        return scorer.score_ids(ids, args.metrics)
    if args.task == "embed":
        emb = scorer.embed(texts)
        flat = pa.array(emb.reshape(-1), type=pa.float32())
        return pa.table({"embedding": pa.FixedSizeListArray.from_arrays(flat, emb.shape[1])})
    values = scorer.score(texts)
    if values.ndim == 1:
        return pa.table({"score": values})
    flat = pa.array(values.reshape(-1), type=pa.float64())
    label = np.where(np.isnan(values).any(1), -1, np.nanargmax(np.nan_to_num(values, nan=-1), 1))
    return pa.table(
        {
            "label": pa.array(label.astype(np.int64)),
            "probs": pa.FixedSizeListArray.from_arrays(flat, values.shape[1]),
        }
    )


def run(args: argparse.Namespace) -> int:
    """Score every document of the inputs; write ``id`` plus one column per metric."""
    if args.model is None and args.task != "embed":
        raise ValueError(f"--model is required for --task {args.task}")
    if args.task != "lm" and args.metrics is not None:
        raise ValueError("--metrics applies to --task lm only")
    if args.task == "lm":
        from tamis.scoring import _check_metrics

        args.metrics = _check_metrics(args.metrics or "mean_nll,n_tokens")
    if args.num_shards < 1 or not 0 <= args.shard < args.num_shards:
        raise ValueError(
            f"--shard must be in [0, --num-shards), got {args.shard} of {args.num_shards}"
        )
    out = Path(c.prepare(args, inputs=args.inputs, o=args.output)["o"])
    if args.resume and str(args.output) == "-":
        raise ValueError("--resume needs a file output, not '-'")
    if args.n_threads is not None:
        import torch

        torch.set_num_threads(args.n_threads)
    files = c.expand_inputs(args.inputs)
    params = {
        "inputs": [str(p) for p in args.inputs],
        "model": str(args.model),
        "task": args.task,
        "metrics": args.metrics,
        "max_length": args.max_length,
        "stride": args.stride,
        "min_k_fraction": args.min_k_fraction,
        "batch_size": args.batch_size,
        "text_column": args.text_column,
        "id_column": args.id_column,
        "shard": args.shard,
        "num_shards": args.num_shards,
    }
    scorer = _scorer(args)
    id_col = args.id_column or "id"
    batches = read_batches(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        text_column=args.text_column,
        id_column=args.id_column,
        columns=[],
        batch_size=args.batch_size,
    )
    parts = out.with_name(out.name + ".parts")
    if args.resume:
        parts.mkdir(parents=True, exist_ok=True)
        pfile = parts / "params.json"
        if pfile.exists() and json.loads(pfile.read_text()) != params:
            raise ValueError(
                f"{parts} holds parts of a run with other parameters; remove it or drop --resume"
            )
        write_text(pfile, json.dumps(params, sort_keys=True))
    bar = c.bar(args, "score", c.total_rows(files))
    n_docs = skipped = 0
    sink_out = args.output if str(args.output) == "-" else out
    with open_sink(sink_out, "score", params) if not args.resume else _null() as sink:

        def todo(i: int) -> bool:
            if i % args.num_shards != args.shard:
                return False
            return not (args.resume and (parts / f"part-{i:06d}.parquet").exists())

        def prepare(item: tuple[int, pa.RecordBatch]) -> Any:
            """Tokenise ahead, in the prefetch thread, what will be scored."""
            i, batch = item
            if args.task != "lm" or not todo(i):
                return None
            return scorer.tokenize(batch.column(args.text_column))

        for (i, batch), ids in prefetch(enumerate(batches), prepare):
            if i % args.num_shards != args.shard:
                continue
            n_docs += batch.num_rows
            part = parts / f"part-{i:06d}.parquet"
            if not todo(i):
                skipped += batch.num_rows
                bar.update(batch.num_rows)
                continue
            table = _score_table(scorer, args, batch.column(args.text_column), ids)
            table = table.add_column(0, id_col, pa.chunked_array([batch.column(id_col)]))
            if args.resume:
                with ParquetSink(part, "score", params) as ps:
                    ps.write(table)
            else:
                assert sink is not None
                sink.write(table)
            bar.update(batch.num_rows)
        if sink is not None and sink.rows == 0:
            sink.schema = _empty_schema(scorer, args, id_col)
    bar.close()
    if args.resume:
        done = sorted(parts.glob("part-*.parquet"))
        with open_sink(out, "score", params) as sink:
            for f in done:
                sink.write(pq.read_table(f))
            if sink.rows == 0:
                sink.schema = _empty_schema(scorer, args, id_col)
        shutil.rmtree(parts)
    note = f" ({skipped} resumed from parts)" if skipped else ""
    print(f"score: {n_docs} documents{note} -> {out}", file=sys.stderr)
    return 0


def _empty_schema(scorer: Any, args: argparse.Namespace, id_col: str) -> pa.Schema:
    """The output's schema when no row is scored (a shard of a small input): score zero texts."""
    try:
        table = _score_table(scorer, args, pa.array([], pa.large_string()))
        return table.add_column(0, id_col, pa.array([], pa.string())).schema
    except Exception:  # a model that cannot score zero texts: the id column alone
        return pa.schema([(id_col, pa.string())])


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def add(sub: Any) -> None:
    """Register ``tamis score``."""
    p = c.add_parser(
        sub,
        "score",
        "model scores per document: NLL/perplexity, Min-K%%, embeddings, classifiers",
        "Score documents with a local model folder (needs tamis[torch]).",
    )
    c.add_input_options(p)
    p.add_argument("--model", default=None, help="local model folder (embed: default MiniLM)")
    p.add_argument("--task", choices=TASKS, default="lm", help="lm (default), embed, classify")
    p.add_argument(
        "--metrics",
        "--metric",
        default=None,
        help="lm metrics, comma-separated: sum_nll,mean_nll,ppl,n_tokens,truncated,min_k,"
        "min_k_pp (default mean_nll,n_tokens)",
    )
    p.add_argument("--max-length", type=int, default=None, help="tokens per window")
    p.add_argument("--stride", type=int, default=None, help="score long docs in strided windows")
    p.add_argument(
        "--min-k-fraction",
        "--k",
        action=c.Store,
        dest="min_k_fraction",
        type=float,
        default=0.2,
        help="Min-K%% fraction of tokens, in (0, 1] (--k: deprecated alias)",
    )
    p.add_argument("--token-budget", type=int, default=16384, help="padded tokens per forward")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda if available)")
    p.add_argument("--resume", action="store_true", help="keep per-batch parts; skip done ones")
    p.add_argument(
        "--shard",
        type=int,
        default=0,
        help="score only input batches i with i %% num-shards == shard (one process per GPU)",
    )
    p.add_argument("--num-shards", type=int, default=1, help="number of shards")
    p.add_argument(
        "-o", "--output", required=True, help="output .parquet or .jsonl[.gz|.zst] ('-': stdout)"
    )
    p.set_defaults(func=run)
