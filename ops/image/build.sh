#!/usr/bin/env bash
# Build the service's image with podman: the base from Debian's packages first (base.sh),
# then the Containerfile at the repository's root.
#   ops/image/build.sh                 build localhost/fraud:latest
#   IMAGE=registry/fraud:1.2 ops/image/build.sh
#   ops/image/build.sh smoke           also start it and wait for /health
# The RUN steps use chroot isolation and the host's network: where podman runs inside a
# container itself (CI, this project's machines), its OCI runtime cannot set up cgroups or
# raise resource limits, and the dependencies come from PyPI.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
image="${IMAGE:-localhost/fraud:latest}"
base="${BASE_IMAGE:-localhost/fraud-base:bookworm}"
command -v podman >/dev/null || { echo "podman is missing: apt-get install podman" >&2; exit 1; }

# pip in the build trusts what the host trusts (the host's CA bundle, mounted for the build
# alone: it is not part of the image).
ca_bundle="${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
trust=()
if [ -f "$ca_bundle" ]; then
  trust=(--volume "$ca_bundle:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt)
fi

BASE_IMAGE="$base" "$root/ops/image/base.sh"
podman build --isolation=chroot --network=host --format=docker --build-arg "BASE=$base" \
  "${trust[@]}" --tag "$image" --file "$root/Containerfile" "$root"
echo "built $image"

if [ "${1:-}" = smoke ]; then
  "$root/ops/image/smoke.sh" "$image"
fi
