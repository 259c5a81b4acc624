#!/usr/bin/env bash
# Tools from Debian's packages that the tests need, into .tools/ (idempotent; only the
# Debian package mirror is used):
#   .tools/bin/promtool   from the `prometheus` package (unpacked with dpkg-deb, not
#                         installed: promtool is a self-contained binary)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin" "$tools/cache"

if [ ! -x "$tools/bin/promtool" ]; then
  echo "install-deb-tools: promtool from Debian's prometheus package" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    # a fresh machine has no package lists yet
    apt-get update >/dev/null
    (cd "$work" && apt-get download prometheus >/dev/null)
  fi
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" "$tools/bin/promtool.tmp"
  mv "$tools/bin/promtool.tmp" "$tools/bin/promtool"
fi
version="$("$tools/bin/promtool" --version 2>&1)"
echo "${version%%$'\n'*}" >&2
