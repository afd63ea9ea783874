#!/usr/bin/env bash
# Jaeger v2 on one machine, built from its Go module with the Go toolchain (no image, no
# tarball): OTLP/HTTP in, traces kept in memory, the query API (and /api/traces) out.
#   ops/jaeger/jaeger.sh build   build the binary once into JAEGER_BIN (minutes; kept there)
#   ops/jaeger/jaeger.sh up      build if need be, start, wait until healthy
#   ops/jaeger/jaeger.sh down    stop it
# JAEGER_BIN (default ~/.cache/fraud, or $XDG_CACHE_HOME/fraud) holds the binary, one per
# version, for every clone on the machine as Go's own caches do: Go caches what it compiles
# but links a binary again at every build (10 s of CPU). JAEGER_HOME (default var/jaeger)
# holds the log and the pid. Ports, on 127.0.0.1:
# JAEGER_OTLP_PORT (4318: FRAUD_OTLP_ENDPOINT=http://127.0.0.1:4318), JAEGER_QUERY_PORT
# (16686), JAEGER_QUERY_GRPC_PORT (16685), JAEGER_HEALTH_PORT (13133).
set -euo pipefail
ops="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="${JAEGER_HOME:-$(cd "$ops/../.." && pwd)/var/jaeger}"
version="$(sed -n 's|^\tgithub.com/jaegertracing/jaeger \(v[0-9.]*\)$|\1|p' "$ops/go.mod")"
bin="${JAEGER_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/fraud}"
binary="$bin/jaeger-$version"
export JAEGER_OTLP_PORT="${JAEGER_OTLP_PORT:-4318}"
export JAEGER_QUERY_PORT="${JAEGER_QUERY_PORT:-16686}"
export JAEGER_QUERY_GRPC_PORT="${JAEGER_QUERY_GRPC_PORT:-16685}"
export JAEGER_HEALTH_PORT="${JAEGER_HEALTH_PORT:-13133}"
pidfile="$home/jaeger-$JAEGER_OTLP_PORT.pid"
logfile="$home/jaeger-$JAEGER_OTLP_PORT.log"

build() {
  mkdir -p "$home" "$bin"
  local lock
  exec {lock}>"$bin/.jaeger-build.lock"
  flock "$lock"  # the tests' processes may ask for it at once: one builds, the others wait
  if [ ! -x "$binary" ]; then
    command -v go >/dev/null || { echo "the Go toolchain is required to build Jaeger" >&2; exit 1; }
    echo "building Jaeger $version into $binary (once; a few minutes)"
    (cd "$ops" && go build -mod=mod -trimpath -o "$binary.part" github.com/jaegertracing/jaeger/cmd/jaeger)
    mv "$binary.part" "$binary"
  fi
  exec {lock}>&-
}

healthy() {
  curl -fs "http://127.0.0.1:$JAEGER_HEALTH_PORT/status" >/dev/null 2>&1
}

case "${1:-}" in
  build) build ;;
  up)
    build
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "jaeger is already up (pid $(cat "$pidfile"))"; exit 0
    fi
    "$binary" --config "$ops/config.yaml" >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if healthy; then
        echo "jaeger is up: OTLP http://127.0.0.1:$JAEGER_OTLP_PORT, query http://127.0.0.1:$JAEGER_QUERY_PORT"
        exit 0
      fi
      kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -20 "$logfile" >&2; exit 1; }
      sleep 0.2
    done
    echo "jaeger did not become healthy; see $logfile" >&2; exit 1 ;;
  down)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi ;;
  *) echo "usage: $0 build|up|down" >&2; exit 2 ;;
esac
