#!/usr/bin/env bash
# Tools from Debian's packages that the tests need (idempotent; only the Debian package
# mirror is used):
#   .tools/bin/promtool   from the `prometheus` package (unpacked with dpkg-deb, not
#                         installed: promtool is a self-contained binary)
#   podman, runc          installed with apt-get (they need conmon, the CNI plugins and
#                         system configuration, so they are not unpacked into .tools/);
#                         needs root or password-less sudo
#   .tools/containers/containers.conf
#                         podman's configuration for these machines (runc, cgroupfs, no
#                         default ulimits); the tests and scripts/build-image.sh point
#                         CONTAINERS_CONF at it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin" "$tools/cache" "$tools/containers"

apt_lists_fresh=false
apt_update_once() {
  if [ "$apt_lists_fresh" = false ]; then
    $sudo apt-get update >/dev/null
    apt_lists_fresh=true
  fi
}
sudo=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
  sudo="sudo -n"
fi

if [ ! -x "$tools/bin/promtool" ]; then
  echo "install-deb-tools: promtool from Debian's prometheus package" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    # a fresh machine has no package lists yet
    apt_update_once
    (cd "$work" && apt-get download prometheus >/dev/null)
  fi
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" "$tools/bin/promtool.tmp"
  mv "$tools/bin/promtool.tmp" "$tools/bin/promtool"
fi
version="$("$tools/bin/promtool" --version 2>&1)"
echo "${version%%$'\n'*}" >&2

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "install-deb-tools: podman and runc from Debian" >&2
  if [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
    echo "install-deb-tools: installing podman and runc needs root (or sudo): apt-get install podman runc" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y --no-install-recommends podman runc >/dev/null; then
    apt_update_once
    $sudo apt-get install -y --no-install-recommends podman runc >/dev/null
  fi
fi

conf="$tools/containers/containers.conf"
want='# Written by scripts/install-deb-tools.sh: podman on these machines runs with runc and
# cgroupfs, and without default ulimits (the sandbox refuses to raise them).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"'
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  printf '%s\n' "$want" > "$conf.tmp"
  mv "$conf.tmp" "$conf"
fi
echo "$(podman --version), $(runc --version 2>&1 | sed -n 1p)" >&2
