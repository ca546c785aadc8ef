.DEFAULT_GOAL := help
PY ?= python3

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

lint-python: ## ruff and the stub check
	ruff check python tests benches scripts
	ruff format --check python tests benches scripts
	$(PY) -m mypy.stubtest tamis._core --ignore-missing-stub

lint: lint-rust lint-python ## all linters

test-rust: ## cargo test (no libpython needed)
	cargo test

test: test-rust ## cargo test + pytest
	$(PY) -m pytest

bench: ## benchmarks (set CORPUS and REF_PY)
	$(PY) benches/features.py --corpus $(CORPUS) --ref-python $(REF_PY)

ci: ## what CI runs, from scratch in a fresh venv
	bash .ci/run

.PHONY: help install format lint-rust lint-python lint test-rust test bench ci
