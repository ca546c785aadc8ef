import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=150, deadline=None)
settings.register_profile(
    "slow", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    """Texts of the shipped sample corpus (real CPython docs and code)."""
    import pyarrow.json as pj

    path = SAMPLE / "corpus.jsonl.gz"
    if not path.exists():
        pytest.fail(
            f"the sample corpus is missing: run python3 scripts/build_sample_corpus.py ({path})"
        )
    table = pj.read_json(str(path))
    return table.column("text").to_pylist()


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray (2 CPUs) for the whole session: it takes ~40 s to start here, so the Ray test
    modules share it (``pytestmark = pytest.mark.usefixtures("local_ray")``)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from tamis import ray as tray

    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    tray.init()
    yield
    ray.shutdown()
