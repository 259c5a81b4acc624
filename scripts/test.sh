#!/usr/bin/env bash
# The project's whole test suite: what CI runs (.ci/run) and what a developer runs before pushing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/install-tools.sh
export PATH="$root/.tools/bin:$PATH"
export KUBECTL="$root/.tools/bin/kubectl"
export CRYPTOJACK_SARIF_VALIDATOR="$root/scripts/validate-sarif.py"

echo "== rustfmt" >&2
cargo fmt --all -- --check
echo "== clippy" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "== generated CRDs and example workloads validate against the Kubernetes 1.33 schemas" >&2
kubernetes-validate --strict --quiet --kubernetes-version 1.33.0 \
  crds/*.yaml charts/cryptojack/crds/*.yaml examples/workloads/*.yaml examples/workloads/*.json
echo "== tests" >&2
cargo test --workspace
