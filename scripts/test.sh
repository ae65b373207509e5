#!/usr/bin/env bash
# Set everything up (Debian packages, .venv, gtsdk with every extra), then run the
# whole check: ruff, mypy --strict over the whole tree (docs/contributing.md), and the test suite.  The CI command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q -ra "$@"
