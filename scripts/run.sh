#!/usr/bin/env bash
# Set everything up, then serve https://127.0.0.1:8801 with every module on its
# simulator and the kiosk demo and operations pages (/demo/, /ops/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gtsdk serve --simulate --demo "$@"
