#!/usr/bin/env bash
# Start the image as the API would run (`fraud serve`, as user 10001, read-only root file
# system) on a SQLite file in a folder of its own and a broker that is not there, and wait for
# /health: 200 means it serves (degraded: the outbox keeps transactions until a broker
# answers). Then the image's own HEALTHCHECK is run once. The container is removed
# afterwards.
#   ops/image/smoke.sh [IMAGE]
set -euo pipefail
image="${1:-localhost/fraud:latest}"
# Inside a container, podman's default runtime (crun) cannot manage cgroups in hybrid mode
# and no runtime may raise resource limits: runc with limits at or below the caller's works.
runtime=()
if command -v runc >/dev/null; then runtime=(--runtime runc); fi
limits=(--ulimit "nofile=$(ulimit -n):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
name="fraud-smoke-$$"
# The state folder: owner-only, and given to the image's user (:U), as the service requires.
scratch="$(mktemp -d)"
cleanup() { podman "${runtime[@]}" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$scratch"; }
trap cleanup EXIT
# Podman would ask systemd for a timer to run the HEALTHCHECK; there is none in a container.
# No network: nothing outside is needed, and port 5000 (the HEALTHCHECK's) is its own.
podman "${runtime[@]}" run -d --name "$name" "${limits[@]}" --network=none --read-only \
  --health-interval=disable \
  --tmpfs /tmp -v "$scratch:/srv/fraud/var:U" \
  -e FRAUD_BROKER=kafka -e FRAUD_KAFKA_BOOTSTRAP=127.0.0.1:1 \
  -e FRAUD_ARCHIVE_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
  "$image" serve --host 127.0.0.1 --port 5000 --workers 1 >/dev/null
health="import urllib.request; r = urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2); print(r.status, r.read().decode())"
for _ in $(seq 1 120); do
  if answer="$(podman "${runtime[@]}" exec "$name" python3 -c "$health" 2>/dev/null)"; then
    echo "the image serves /health: $answer"
    echo "it runs as: $(podman "${runtime[@]}" exec "$name" id)"
    podman "${runtime[@]}" healthcheck run "$name" >/dev/null || {
      echo "its HEALTHCHECK fails" >&2; exit 1; }
    echo "its HEALTHCHECK passes"
    exit 0
  fi
  if [ "$(podman "${runtime[@]}" inspect -f '{{.State.Running}}' "$name")" != true ]; then
    podman logs "$name" 2>&1 | tail -n 30 >&2; echo "the container stopped" >&2; exit 1
  fi
  sleep 1
done
podman logs "$name" 2>&1 | tail -n 30 >&2
echo "no answer on /health within 120 s" >&2
exit 1
