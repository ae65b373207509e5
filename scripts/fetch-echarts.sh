#!/usr/bin/env bash
# Fetch Apache ECharts (Apache-2.0) from the npm registry into a build folder the service serves at
# /vendor/echarts.min.js (gtsdk/server/pages.py).  Pinned version, checked against the registry's sha512
# integrity; never committed.  Usage: scripts/fetch-echarts.sh [DEST_DIR]   (default: build/vendor)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=6.1.0
INTEGRITY="sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA=="
DEST=${1:-build/vendor}
STAMP="$DEST/echarts.version"

if [ -f "$DEST/echarts.min.js" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION $INTEGRITY" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm not found: /ops/ charts need Apache ECharts (install npm, then run scripts/fetch-echarts.sh)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "echarts@$VERSION" >/dev/null )
tgz="$tmp/echarts-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | openssl base64 -A)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "echarts-$VERSION.tgz: integrity mismatch (got $got)" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/dist/echarts.min.js package/LICENSE
mkdir -p "$DEST"
cp "$tmp/package/dist/echarts.min.js" "$DEST/echarts.min.js.tmp"
cp "$tmp/package/LICENSE" "$DEST/echarts.LICENSE"
mv "$DEST/echarts.min.js.tmp" "$DEST/echarts.min.js"
echo "$VERSION $INTEGRITY" > "$STAMP"
echo "==> Apache ECharts $VERSION in $DEST"
