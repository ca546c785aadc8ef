#!/usr/bin/env bash
# Install a built wheel into a fresh virtual environment with no Rust toolchain on PATH, then run
# the README's main job and a smoke subset of the tests against the installed package (the
# tests import `tamis` from the venv's site-packages, never from python/ of this checkout).
# usage: scripts/check_wheel.sh [WHEEL]      (default: the newest dist/tamis-*_x86_64.whl)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
wheel=${1:-$(ls -t dist/tamis-*_x86_64.whl | head -n 1)}
wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# Only the venv and the system's directories: no ~/.cargo/bin, so no cargo or rustc.
export PATH="$work/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
if command -v cargo || command -v rustc; then
  echo "check_wheel.sh: a Rust toolchain is still on PATH" >&2
  exit 1
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
echo "== install $wheel"
python -m pip install --quiet --only-binary=:all: "$wheel" pytest pytest-timeout hypothesis xxhash

echo "== the wheel's metadata, tamis.__version__ and tamis --version agree"
python - <<'PY'
import importlib.metadata as md
import subprocess
import sys

import tamis

assert tamis.__file__.startswith(sys.prefix), f"tamis imported from {tamis.__file__}"
meta = md.version("tamis")
cli = subprocess.run(["tamis", "--version"], capture_output=True, text=True, check=True).stdout
assert meta == tamis.__version__ and cli.split() == ["tamis", meta], (meta, tamis.__version__, cli)
print(f"tamis {meta} from {tamis.__file__}")
PY

echo "== README main job on the shipped sample"
out=$work/out
tamis stats data/sample/corpus.jsonl.gz --by domain
tamis dsir --target data/sample/target.jsonl.gz --raw data/sample/corpus.jsonl.gz -k 500 \
  --by domain -o "$out/selected.parquet"
python -c "import pyarrow.parquet as pq, sys; n = pq.read_metadata(sys.argv[1]).num_rows; assert n == 500, n" \
  "$out/selected.parquet"

echo "== smoke tests against the installed wheel"
python -m pytest -q -p no:cacheprovider tests/test_text.py tests/test_features.py \
  tests/test_base.py tests/test_exceptions.py tests/test_cli.py -x
echo "check_wheel.sh: ok ($wheel)"
