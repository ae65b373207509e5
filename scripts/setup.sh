#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine (root): system packages, the
# project's virtual environment at .venv, and gtsdk with every extra.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkgs=$(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$' | tr '\n' ' ')
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "==> installing Debian packages:$missing"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
    "$PY" -m venv .venv
  fi
fi
stamp=.venv/.gtsdk-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "==> installing gtsdk and its Python dependencies into .venv"
  log=.venv/pip-install.log
  {
    .venv/bin/python -m pip install --upgrade pip &&
    .venv/bin/python -m pip install -c constraints.txt -e ".[all]" &&
    if [ -s scripts/requirements-nodeps.txt ]; then
      # packages whose declared dependencies clash with ours (e.g. they pull the GUI OpenCV build)
      .venv/bin/python -m pip install --no-deps -c constraints.txt -r scripts/requirements-nodeps.txt
    fi
  } > "$log" 2>&1 || { tail -40 "$log"; echo "pip install failed; full log: $log" >&2; exit 1; }
  touch "$stamp"
fi
# Apache ECharts for the /ops/ charts, from the npm registry (pinned, checksum checked; never committed)
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi
bash scripts/fetch-echarts.sh || echo "WARNING: Apache ECharts not fetched; /ops/ will say so" >&2
echo "==> set-up complete: .venv/bin/gtsdk"
