#!/usr/bin/env bash
# The project's whole test suite: what CI runs (.ci/run) and what a developer runs before pushing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

timings=()
image_ref="$(mktemp)"
finish() {
  rm -f "$image_ref"
  echo "== timings" >&2
  printf '%s\n' "${timings[@]}" >&2
}
trap finish EXIT
step() {
  local name="$1"
  shift
  echo "== $name" >&2
  local start
  start=$(date +%s)
  "$@"
  timings+=("$(printf '%5ss  %s' "$(( $(date +%s) - start ))" "$name")")
}

step "tools" scripts/install-tools.sh
export PATH="$root/.tools/bin:$PATH"
export KUBECTL="$root/.tools/bin/kubectl"
export CRYPTOJACK_SARIF_VALIDATOR="$root/scripts/validate-sarif.py"
export CONTAINERS_CONF="$root/.tools/containers/containers.conf"
# No incremental caches: the test command builds each crate once, and on a cold clone those
# caches were 3.3 GB of the 8.4 GB target/ (a CI run once died of a full disk). With the test
# binaries grouped per family (Cargo.toml `autotests`), a cold target/ is about 2.5 GB.
export CARGO_INCREMENTAL=0

step "rustfmt" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets -- -D warnings
step "generated CRDs and example workloads validate against the Kubernetes 1.33 schemas" \
  kubernetes-validate --strict --quiet --kubernetes-version 1.33.0 \
    crds/*.yaml charts/cryptojack/crds/*.yaml examples/workloads/*.yaml examples/workloads/*.json
# The one release build: the static binary in the image, which tests/chart_image.rs checks
# and runs (CRYPTOJACK_REQUIRE_IMAGE: a missing image fails those tests instead of skipping).
step "container image (static release build, podman build)" \
  sh -c 'scripts/build-image.sh > "$1"' _ "$image_ref"
CRYPTOJACK_IMAGE="$(cat "$image_ref")"
export CRYPTOJACK_IMAGE CRYPTOJACK_REQUIRE_IMAGE=1
step "tests (incl. the chart: lint, templates, kubernetes-validate, schema, promtool, RBAC proof, helm install, image)" \
  cargo test --workspace

