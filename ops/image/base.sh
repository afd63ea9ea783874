#!/usr/bin/env bash
# The image's base, made from Debian's own packages: podman cannot pull a base image here (no
# registry but the package archives is reachable), so debootstrap builds a minimal bookworm
# root file system and `podman import` turns it into localhost/fraud-base:bookworm.
#   ops/image/base.sh            build it unless podman already has it
#   BASE_FRESH=1 ops/image/base.sh   build it again (a security update of the packages)
# It runs as root (debootstrap needs it). The mirror is the one apt uses (DEBIAN_MIRROR).
set -euo pipefail
image="${BASE_IMAGE:-localhost/fraud-base:bookworm}"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What both stages need: Python 3.11 (the service's), its venv, TLS roots, and pg_dump and
# pg_restore for `fraud db backup|restore` on PostgreSQL; tzdata for UTC conversions.
packages=python3,python3-venv,ca-certificates,postgresql-client,tzdata

if [ -z "${BASE_FRESH:-}" ] && podman image exists "$image"; then
  echo "$image exists (BASE_FRESH=1 builds it again)"; exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 1; }

work="$(mktemp -d /tmp/fraud-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# Nothing a container needs: apt's lists and caches, documentation, manual pages.
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin \
  "$work/root/var/cache/apt/archives/"*.deb "$work/root/usr/share/doc/"* \
  "$work/root/usr/share/man/"* "$work/root/usr/share/locale/"*
tar -C "$work/root" --numeric-owner -c . | podman import \
  --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "built $image from Debian $suite packages ($packages)"
