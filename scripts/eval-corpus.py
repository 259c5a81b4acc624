#!/usr/bin/env python3
"""Evaluate `cryptojack scan` against a labelled corpus.

Usage: eval-corpus.py CORPUS_DIR [--bin PATH] [-- extra scan args...]

CORPUS_DIR holds manifests and a labels.tsv with a header line and rows `file<TAB>expect`,
where expect is one of:
  benign      no finding above low
  miner       some finding of severity high or critical other than gpu-unapproved
  gpu         a gpu-unapproved finding, and no other high/critical finding
  miner+gpu   both
  suspicious  findings above low (medium), but nothing high or critical
The scan runs once over the whole directory with --format json; the script prints one row
per labelled file (file, expected, got, ok) and exits 1 on any mismatch, a labelled file the
scan did not read, or a scan error.
"""

import argparse
import csv
import json
import os
import subprocess
import sys

RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def verdict(findings):
    miner = any(RANK[f["severity"]] >= 2 and f["category"] != "gpu-unapproved" for f in findings)
    gpu = any(f["category"] == "gpu-unapproved" for f in findings)
    if miner and gpu:
        return "miner+gpu"
    if miner:
        return "miner"
    if gpu:
        return "gpu"
    if any(RANK[f["severity"]] >= 1 for f in findings):
        return "suspicious"
    return "benign"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--bin", default=os.environ.get("CRYPTOJACK_BIN", "target/release/cryptojack"))
    parser.add_argument("scan_args", nargs="*", help="extra arguments for `cryptojack scan` (after --)")
    args = parser.parse_args()

    with open(os.path.join(args.corpus, "labels.tsv"), encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    labels = {r[0]: r[1].strip() for r in rows[1:]}

    cmd = [args.bin, "scan", args.corpus, "--format", "json", *args.scan_args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr)
    report = json.loads(proc.stdout)

    by_file = {}
    prefix = os.path.join(args.corpus, "")
    for f in report["findings"]:
        rel = f["file"][len(prefix):] if f["file"].startswith(prefix) else f["file"]
        by_file.setdefault(rel, []).append(f)

    ok_all = proc.returncode in (0, 1) and not report["errors"]
    width = max([len("file")] + [len(k) for k in labels])
    print(f"{'file':<{width}}  {'expected':<10}  {'got':<10}  ok")
    for name in sorted(labels):
        expected = labels[name]
        present = os.path.exists(os.path.join(args.corpus, name))
        got = verdict(by_file.get(name, [])) if present else "(missing)"
        ok = got == expected
        ok_all &= ok
        print(f"{name:<{width}}  {expected:<10}  {got:<10}  {'ok' if ok else 'MISMATCH'}")
    for e in report["errors"]:
        print(f"error: {e['file']}:{e.get('line')}: {e['message']}", file=sys.stderr)
    s = report["summary"]
    print(f"\n{sum(1 for n in labels if verdict(by_file.get(n, [])) == labels[n])}/{len(labels)} right; "
          f"{s['documents']} documents, {s['objects']} objects, {s['errors']} errors")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
