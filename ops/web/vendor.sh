#!/usr/bin/env bash
# Refreshes the dashboard's front-end libraries, committed under the package's
# static/vendor/ with their licenses so that `pip install .` and a wheel carry them (no npm
# to install or run the service): run it after changing a version in package.json, then
# `npm install --package-lock-only` and commit what it changed. The versions and hashes are
# pinned by package-lock.json; the running service never reaches a CDN.
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
install -m 644 "$modules/swagger-ui-dist/NOTICE" "$target/swagger-ui.NOTICE"
# The licenses of what the bundle bundles, which its first line points at.
install -m 644 "$modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt" "$target/swagger-ui-bundle.js.LICENSE.txt"
echo "vendored into $target: $(ls "$target" | tr '\n' ' ')"
