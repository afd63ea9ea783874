#!/usr/bin/env bash
# Installs the dashboard's front-end libraries from the npm registry (versions and
# hashes pinned by package-lock.json) and copies the built files the pages load into
# the package's static/vendor/, so the running service never reaches a CDN.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$here/../../src/fraud/entrypoints/http/static/vendor"

command -v npm >/dev/null || { echo "npm is needed to fetch the dashboard's libraries (Debian: apt-get install npm)" >&2; exit 1; }
npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund --loglevel=error
modules="$here/node_modules"
mkdir -p "$target"
install -m 644 "$modules/chart.js/dist/chart.umd.min.js" "$target/chart.umd.min.js"
install -m 644 "$modules/chart.js/LICENSE.md" "$target/chart.js.LICENSE.md"
for file in swagger-ui-bundle.js swagger-ui.css; do
  install -m 644 "$modules/swagger-ui-dist/$file" "$target/$file"
done
install -m 644 "$modules/swagger-ui-dist/LICENSE" "$target/swagger-ui.LICENSE"
echo "vendored into $target: $(ls "$target" | tr '\n' ' ')"
