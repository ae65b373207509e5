# The front door: `make run` and `make test` each do the whole set-up first.
.PHONY: setup run test lint typecheck bench clean

setup:
	bash scripts/setup.sh

run: setup
	.venv/bin/gtsdk serve --simulate

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/python -m pytest -q -ra

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python -m benchmarks

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
