#!/usr/bin/env bash
# The GPU run of benches/scoring.py, sized for under 5 minutes on one H100: random-initialised
# 125M and 1B Llama configs, tamis LMScorer vs the naive padded HF loop, tokens/s and MFU.
# Uses data/corpus/pool.parquet (built by `make corpus`) when present, else the shipped sample
# corpus (pass --input PATH to choose). Results are appended to bench-results/scoring.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'"
"$PY" benches/scoring.py --config 125m --docs 4096 --max-length 1024 "$@"
"$PY" benches/scoring.py --config 1b --docs 2048 --max-length 1024 "$@"
