#!/usr/bin/env bash
# A demo fleet on this machine (docs/fleet.md): Mosquitto + the fleet platform on the embedded SQLite + 50
# simulated terminals; prints the /fleet/ URL with a province user's token.  Extra arguments go to
# `gtsdk fleet demo` (e.g. --terminals 200 --postgres --port 9443).  Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/fetch-echarts.sh ]; then
  bash scripts/fetch-echarts.sh || echo "WARNING: Apache ECharts not fetched; /fleet/ will show its tables only" >&2
fi
exec .venv/bin/gtsdk fleet demo "$@"
