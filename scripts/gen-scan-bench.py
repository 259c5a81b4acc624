#!/usr/bin/env python3
"""Generate N realistic pod manifests for timing `cryptojack scan` (not committed).

Usage: gen-scan-bench.py OUT_DIR [N=10000]
       gen-scan-bench.py --list-json OUT_FILE [N=20000]

The first form writes OUT_DIR/files/pod-NNNNN.yaml (one Pod per file, in 100
sub-directories) and OUT_DIR/all.yaml (the same pods as one multi-document file). About 98%
are benign pods of common shapes (web servers, databases, workers with env, probes,
resources, sidecars); 2% are miners of different styles (image, sh -c script, renamed
binary with flags, pool URL, unapproved GPU).

The second form writes what `kubectl get pods -A -o json` prints for N such pods: one
`kind: List` JSON document (4-space indentation), each pod with the metadata, spec and
status the API server fills in (uid, resourceVersion, owner, status):
about 2.2 KB per pod, 44 MB for 20,000 (the issue measured a 38 MB dump of the same shape).
Deterministic (seeded).
"""

import os
import random
import sys

BENIGN = [
    ("nginx:1.27", ["nginx", "-g", "daemon off;"], [80]),
    ("postgres:16", None, [5432]),
    ("redis:7.2", ["redis-server", "--appendonly", "yes"], [6379]),
    ("registry.example.com/shop/api:4.2.1", ["/app/api", "--listen", ":8080", "--db", "postgres://db:5432/shop"], [8080]),
    ("python:3.12-slim", ["python", "-m", "worker", "--queue", "emails", "--concurrency", "8"], []),
    ("grafana/grafana:11.0.0", None, [3000]),
    ("quay.io/prometheus/node-exporter:v1.8.1", ["/bin/node_exporter", "--path.rootfs=/host"], [9100]),
    ("busybox:1.36", ["sh", "-c", "while true; do date; sleep 30; done"], []),
    ("selenium/hub:4.21.0", None, [4444]),
    ("mher/flower:2.0", ["celery", "flower", "--port=5555"], [5555]),
]
WALLET = "4BASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVKf"
MINERS = [
    ("xmrig/xmrig:6.21.0", None, None),
    ("busybox:1.36", ["sh", "-c", "cd /tmp && ./xmrig -o pool.supportxmr.com:443 --tls"], None),
    ("registry.example.com/ops/health:1.0", ["/usr/bin/kworkerd", "--donate-level", "1", "-a", "rx/0"], None),
    ("ubuntu:22.04", ["/opt/run", "-o", "stratum+tcp://gulf.moneroocean.stream:10128", "-u", WALLET], None),
    ("nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04", ["python3", "job.py"], "gpu"),
]


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pod(i, rng):
    miner = rng.random() < 0.02
    if not miner:
        image, cmd, ports = rng.choice(BENIGN)
        extra = None
    else:
        image, cmd, extra = rng.choice(MINERS)
        ports = []
    ns = rng.choice(["default", "shop", "data", "monitoring", "ci", "ml"])
    lines = [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:",
        f"  name: pod-{i:05d}",
        f"  namespace: {ns}",
        "  labels:",
        f"    app: app-{i % 97}",
        "    tier: backend",
        "  annotations:",
        f"    example.com/build: \"{rng.randrange(10**8)}\"",
        "spec:",
        f"  serviceAccountName: sa-{i % 13}",
        "  containers:",
        "    - name: main",
        f"      image: {image}",
    ]
    if cmd:
        lines.append("      command: [" + ", ".join(q(c) for c in cmd) + "]")
    lines += [
        "      env:",
        "        - name: LOG_LEVEL",
        "          value: info",
        "        - name: REGION",
        "          value: eu-west-1",
        "        - name: DB_PASSWORD",
        "          valueFrom: {secretKeyRef: {name: db, key: password}}",
    ]
    if ports:
        lines.append("      ports:")
        lines += [f"        - containerPort: {p}" for p in ports]
    lines += [
        "      resources:",
        "        requests: {cpu: 100m, memory: 128Mi}",
    ]
    if extra == "gpu":
        lines.append("        limits: {nvidia.com/gpu: 1}")
    else:
        lines.append("        limits: {cpu: \"1\", memory: 512Mi}")
    lines += [
        "      readinessProbe:",
        "        httpGet: {path: /healthz, port: 8080}",
        "        periodSeconds: 10",
        "    - name: log-shipper",
        "      image: fluent/fluent-bit:3.0",
        "      args: [\"-c\", \"/fluent-bit/etc/fluent-bit.conf\"]",
        "  tolerations:",
        "    - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}",
    ]
    return "\n".join(lines) + "\n", miner


def api_pod(i, rng):
    """One pod as the API server returns it (kubectl get -o json), trimmed to the fields a
    typical pod has: about 1.9 KB with kubectl's 4-space indentation."""
    miner = rng.random() < 0.02
    ns = rng.choice(["default", "shop", "data", "monitoring", "ci", "ml"])
    app = f"app-{i % 97}"
    if miner:
        image, cmd, extra = rng.choice(MINERS)
        ports = []
    else:
        image, cmd, ports = rng.choice(BENIGN)
        extra = None
    rs = f"{app}-{rng.randrange(16**10):010x}"
    name = f"{rs}-{rng.randrange(36**5):05x}"
    main = {
        "name": "main",
        "image": image,
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"nvidia.com/gpu": "1"} if extra == "gpu" else {"memory": "512Mi"},
        },
        "imagePullPolicy": "IfNotPresent",
    }
    if cmd:
        main["command"] = cmd
    if ports:
        main["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    started = f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"{rng.randrange(16**8):08x}-{rng.randrange(16**4):04x}-4{rng.randrange(16**3):03x}-8{rng.randrange(16**3):03x}-{rng.randrange(16**12):012x}",
            "resourceVersion": str(1000000 + i),
            "creationTimestamp": started,
            "labels": {"app": app, "pod-template-hash": rs.split("-")[-1]},
            "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "controller": True}],
        },
        "spec": {
            "containers": [main],
            "serviceAccountName": f"sa-{i % 13}",
            "nodeName": f"node-{i % 40}",
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.244.{(i // 250) % 250}.{i % 250}",
            "startTime": started,
        },
    }, miner


def list_json(out, n):
    import json
    rng = random.Random(42)
    items = []
    miners = 0
    for i in range(n):
        pod, miner = api_pod(i, rng)
        items.append(pod)
        miners += miner
    d = os.path.dirname(out)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(out, "w") as f:
        json.dump({"apiVersion": "v1", "items": items, "kind": "List",
                   "metadata": {"resourceVersion": ""}}, f, indent=4)
        f.write("\n")
    print(f"{n} pods ({miners} miners) in {out} ({os.path.getsize(out) / 1e6:.1f} MB)")


def main():
    if sys.argv[1] == "--list-json":
        list_json(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20000)
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    rng = random.Random(42)
    files = os.path.join(out, "files")
    miners = 0
    with open(os.path.join(out, "all.yaml"), "w") as all_docs:
        for i in range(n):
            text, miner = pod(i, rng)
            miners += miner
            d = os.path.join(files, f"d{i % 100:02d}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"pod-{i:05d}.yaml"), "w") as f:
                f.write(text)
            all_docs.write("---\n" + text)
    print(f"{n} pods ({miners} miners) in {files} and {out}/all.yaml")


if __name__ == "__main__":
    main()
