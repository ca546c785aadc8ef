#!/usr/bin/env bash
# LM scoring on one GPU (issue 18), one prepared run of benches/scoring_gpu.py: a random 134M
# Llama in bf16 built from a config, a tokenizer trained on the spot (no downloads), the naive
# padded Hugging Face loop vs tamis LMScorer padded, packed, and packed + torch.compile; prints
# tokens/s and writes bench-results/scoring_gpu.json. Under 5 minutes on one H100/H200; without
# a CUDA device (or torch) it says so and exits 0. Extra arguments go to the Python script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" benches/scoring_gpu.py "$@"
