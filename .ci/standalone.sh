#!/usr/bin/env bash
# The repository stands on its own (issue #21): a clone with nothing beside it serves all 14 modules,
# the README's quick start works, and the kiosk flow (ID card -> liveness -> compare -> signature ->
# receipt) completes through the API and in headless Chromium.
#
# The clone is installed (no dependencies, nothing downloaded) into a folder of its own and run with the
# set-up venv's interpreter, so every gtsdk file it runs comes from the clone, and nothing sits beside it.
# Everything runs on a free loopback port with its own gtsdk home; the service is stopped by its PID.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY="$REPO/.venv/bin/python"
WORK=$(mktemp -d /tmp/gtsdk-standalone-XXXXXX)
SERVICE_PID=""

cleanup() {
  if [ -n "$SERVICE_PID" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$SERVICE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> standalone: clone into $WORK (nothing beside it)"
git clone -q "$REPO" "$WORK/gtsdk"
"$PY" -m pip install -q --no-deps --no-build-isolation --no-index --target "$WORK/site" "$WORK/gtsdk" >/dev/null 2>&1
export PYTHONPATH="$WORK/site"
export GTSDK_HOME="$WORK/home"
unset GTSDK_SIM_FACE PCSCLITE_CSOCK_NAME
BIN="$WORK/site/bin/gtsdk"
# from a neutral folder (python -c puts the current folder first on sys.path)
where=$(cd "$WORK/site" && "$PY" -c 'import gtsdk.simulators as s, gtsdk.drivers as d; print(s.__file__, d.__file__)')
for f in $where; do
  case "$f" in "$WORK"/site/*) ;; *) echo "gtsdk is imported from $f, not from the clone" >&2; exit 1;; esac
done

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "==> standalone: gtsdk serve --simulate --demo on 127.0.0.1:$PORT"
cd "$WORK/gtsdk"
"$BIN" serve --simulate --demo --port "$PORT" < /dev/null > "$WORK/serve.log" 2>&1 &
SERVICE_PID=$!
if ! "$PY" "$REPO/.ci/standalone_flow.py" --url "https://127.0.0.1:$PORT" --home "$GTSDK_HOME" \
      --readme "$WORK/gtsdk/README.md" --gtsdk "$BIN" --service-pid "$SERVICE_PID"; then
  echo "---- service log (last 60 lines) ----" >&2
  tail -60 "$WORK/serve.log" >&2
  exit 1
fi
echo "==> standalone: passed"
