#!/usr/bin/env python3
"""Generate N realistic pod manifests for timing `cryptojack scan` (not committed).

Usage: gen-scan-bench.py OUT_DIR [N=10000]

Writes OUT_DIR/files/pod-NNNNN.yaml (one Pod per file, in 100 sub-directories) and
OUT_DIR/all.yaml (the same pods as one multi-document file). About 98% are benign pods of
common shapes (web servers, databases, workers with env, probes, resources, sidecars);
2% are miners of different styles (image, sh -c script, renamed binary with flags, pool URL,
unapproved GPU). Deterministic (seeded).
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


def main():
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
