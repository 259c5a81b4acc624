#!/usr/bin/env bash
# Builds the cryptojack container image: the statically linked release binary (the one
# release build of the test command: the image and the image tests use it), then
# `podman build` of the Containerfile (FROM scratch) around it.
#
#   scripts/build-image.sh [IMAGE]      default IMAGE: localhost/cryptojack:<crate version>
#
# Prints the image reference on stdout. Needs podman and runc (scripts/install-deb-tools.sh)
# and uses .tools/containers/containers.conf (runc, cgroupfs, no default ulimits).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target=x86_64-unknown-linux-gnu
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | sed -n 1p)"
image="${1:-localhost/cryptojack:$version}"

echo "== static release build (cargo build --release --target $target)" >&2
start=$(date +%s)
# --target: the flags apply to the binary only, not to build scripts and proc-macros.
RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
  cargo build --release --locked --target "$target" --bin cryptojack >&2
echo "   took $(( $(date +%s) - start ))s" >&2

export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/.tools/containers/containers.conf}"
echo "== podman build -t $image" >&2
start=$(date +%s)
podman --runtime runc --cgroup-manager=cgroupfs build --quiet \
  --build-arg "VERSION=$version" -f Containerfile -t "$image" . >&2
echo "   took $(( $(date +%s) - start ))s" >&2
# the previous build of the tag is left dangling: do not let them pile up
podman --runtime runc --cgroup-manager=cgroupfs image prune -f \
  --filter label=org.opencontainers.image.title=cryptojack >/dev/null
echo "$image"
