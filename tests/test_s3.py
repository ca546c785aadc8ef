"""Object storage: recipes reading and writing s3:// on a local moto server, with injected 503s."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

from tamis.io import urls
from tamis.pipeline import Pipeline, RecipeError, Step

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
moto_server = pytest.importorskip("moto.server")  # moto[server] is in the dev extra


class FaultyS3(moto_server.ThreadedMotoServer):  # type: ignore[misc]
    """moto's S3 server on 127.0.0.1 whose every ``every``-th request is answered 503 SlowDown.

    The faults are injected in front of moto's WSGI app (the request body is read first, as a
    throttling S3 front end does), so the client sees exactly what a throttled S3 returns.
    """

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.every, self.seen, self.injected = 0, 0, 0
        self.local = Path()
        self.lock = threading.Lock()

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
        from werkzeug.wsgi import get_input_stream

        app = DomainDispatcherApplication(create_backend_app)

        def faulty(environ: dict[str, Any], start_response: Any) -> Any:
            with self.lock:
                self.seen += 1
                fail = bool(self.every) and self.seen % self.every == 0
                self.injected += fail
            if not fail:
                return app(environ, start_response)
            get_input_stream(environ).read()  # bounded by Content-Length or the chunks
            body = b"<Error><Code>ServiceUnavailable</Code><Message>Please retry.</Message></Error>"
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]

        self._server = make_server(
            self._ip_address, self._port, faulty, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyS3]:
    """The server, the environment pointing at it, a bucket ``tamis`` with the inputs."""
    server = FaultyS3()
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    mp.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    import boto3

    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="tamis")
    d = tmp_path_factory.mktemp("s3src")
    t = pj.read_json(SAMPLE / "corpus.jsonl.gz").slice(0, 600)
    for i in range(2):
        f = d / f"part{i}.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in t.slice(i * 300, 300).to_pylist()))
        urls.upload(f, f"s3://tamis/in/part{i}.jsonl")
    urls.upload(SAMPLE / "target.jsonl.gz", "s3://tamis/in/target.jsonl.gz")
    server.local = d
    yield server
    server.stop()
    mp.undo()


def steps(target: str) -> list[Step]:
    return [Step("dedup", threshold=0.7), Step("dsir", target=target, k=120)]


def test_s3_recipe_equals_local(s3: FaultyS3, tmp_path: Path) -> None:
    """Inputs, target and output on S3 (with every 5th request answered 503): same rows."""
    local = s3.local
    Pipeline(
        [str(local / "part0.jsonl"), str(local / "part1.jsonl")],
        steps(str(SAMPLE / "target.jsonl.gz")),
        output=str(tmp_path / "local.parquet"),
        run_dir=str(tmp_path / "local"),
        shard_rows=100,
    ).run()
    s3.every, s3.injected = 5, 0
    before = urls.retry_count
    try:
        res = Pipeline(
            ["s3://tamis/in/part0.jsonl", "s3://tamis/in/part1.jsonl"],
            steps("s3://tamis/in/target.jsonl.gz"),
            output="s3://tamis/out/selected.parquet",
            run_dir=str(tmp_path / "remote"),
            shard_rows=100,
        ).run()
    finally:
        s3.every = 0
    assert s3.injected >= 5, "the proxy should have injected 503s"
    got_path = tmp_path / "got.parquet"
    urls.fetch("s3://tamis/out/selected.parquet", got_path)
    want, got = pq.read_table(tmp_path / "local.parquet"), pq.read_table(got_path)
    assert got.equals(want)  # ids (created from the file names too), rows, weights, keys
    dedup = {s["name"]: s for s in res.steps}["dedup"]
    assert dedup["documents"] == 600
    # Every injected 503 was retried (by the S3 client or by tamis's own backoff), none failed.
    assert urls.retry_count >= before


def test_with_retries_backs_off_on_throttling_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "BACKOFF", 0.001)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("AWS Error SLOW_DOWN during GetObject: HTTP 503 SlowDown")
        return "ok"

    assert urls.with_retries(flaky, "get") == "ok"
    assert len(calls) == 3
    calls.clear()

    def denied() -> None:
        calls.append(1)
        raise PermissionError("AWS Error ACCESS_DENIED: 403")

    with pytest.raises(PermissionError):
        urls.with_retries(denied, "get")
    assert len(calls) == 1

    def always() -> None:
        raise OSError("HTTP 429 Too Many Requests")

    with pytest.raises(OSError, match="get: failed after 3 attempts"):
        urls.with_retries(always, "get", attempts=3)


def test_missing_url_is_a_recipe_error(s3: FaultyS3, tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"no such file: s3://tamis/in/nothing\.jsonl"):
        Pipeline("s3://tamis/in/nothing.jsonl", [Step("stats")], run_dir=str(tmp_path))


def test_url_schemes() -> None:
    assert urls.is_url("s3://b/k")
    assert urls.is_url("gs://b/k")
    assert urls.is_url("hf://datasets/x")
    assert not urls.is_url("data/sample/corpus.jsonl.gz")
    assert not urls.is_url("http://x")
    _fs, path = urls.filesystem("file:///tmp/a%20b.parquet")
    assert path == "/tmp/a b.parquet"
