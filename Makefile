.DEFAULT_GOAL := help
PY ?= python3
SHARED ?= ../shared
CORPUS_DIR ?= data/corpus
CORPUS ?= $(CORPUS_DIR)/pool.parquet
REF_PY ?=
BENCHES ?= features dsir dedup coreset ray_scaling scoring balance cluster
BENCH_ARGS ?= --quick

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## editable install with the dev extra (maturin builds the extension, release profile)
	$(PY) -m pip install --no-build-isolation -e '.[dev]'

format: ## format Rust and Python
	cargo fmt
	ruff format python tests benches scripts

lint-rust: ## rustfmt, clippy (with and without the python feature)
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	@# pyo3 stays in rust/src/py/ (the core builds and tests without libpython), as in .ci/run
	@! grep -rlnE '(pyo3|numpy)::|use (pyo3|numpy)|#\[py(function|class|module|methods)' rust/src --include='*.rs' | grep -v '^rust/src/py/' || (echo "pyo3 used outside rust/src/py/"; exit 1)

lint-python: ## ruff, mypy and the stub check
	ruff check python tests benches scripts
	ruff format --check python tests benches scripts
	$(PY) -m mypy
	$(PY) -m mypy.stubtest tamis._core

lint: lint-rust lint-python ## all linters

test-rust: ## cargo test (no libpython needed)
	cargo test

test: test-rust ## cargo test + pytest
	$(PY) -m pytest

wheel: ## release wheels (abi3 manylinux2014 x86_64 + aarch64, zig) and the sdist into dist/
	PYTHON=$(PY) scripts/build_wheels.sh

wheel-check: ## build the x86_64 wheel, install it in a fresh venv without Rust, run the main job + smoke tests
	PYTHON=$(PY) scripts/build_wheels.sh x86_64 && scripts/check_wheel.sh

corpus: $(CORPUS_DIR)/pool.parquet ## build the shared corpus into data/corpus/ (CORPUS_DIR; ignored; installs ~200 MB of Debian packages as root)

$(CORPUS_DIR)/pool.parquet:
	@test -f $(SHARED)/corpus/build_corpus.py || { echo "make corpus: $(SHARED)/corpus/build_corpus.py not found (set SHARED=path/to/shared)" >&2; exit 2; }
	$(PY) $(SHARED)/corpus/build_corpus.py $(CORPUS_DIR)

bench: ## every bench, quick, on data/corpus/pool.parquet (set CORPUS, BENCHES, REF_PY; BENCH_ARGS= for full runs)
	@set -e; for b in $(BENCHES); do \
		echo "== benches/$$b.py"; \
		case $$b in \
			coreset) $(PY) benches/$$b.py $(BENCH_ARGS) ;; \
			features) $(PY) benches/$$b.py --corpus $(CORPUS) $(if $(REF_PY),--ref-python $(REF_PY)) $(BENCH_ARGS) ;; \
			*) $(PY) benches/$$b.py --corpus $(CORPUS) $(BENCH_ARGS) ;; \
		esac; \
	done

ci: ## what CI runs, from scratch in a fresh venv
	bash .ci/run

.PHONY: help install format lint-rust lint-python lint test-rust test corpus bench ci
