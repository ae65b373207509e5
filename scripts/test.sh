#!/usr/bin/env bash
# Set everything up (Debian packages, .venv, gtsdk with every extra), then run the
# whole check: ruff, mypy --strict over the whole tree (docs/contributing.md), and the test suite.  The CI command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
# The suite mostly waits (daemons starting, devices at real baud rates, Chromium), so it runs on more
# workers than cores (docs/contributing.md: 6 beat 4 on 2 shared cores); a module's tests stay on one worker,
# in order (tests/conftest.py).  GTSDK_TEST_WORKERS=0 runs it in this process; a later -n in "$@" wins.
.venv/bin/python -m pytest -q -ra -n "${GTSDK_TEST_WORKERS:-4}" --dist loadscope --durations=15 "$@"
