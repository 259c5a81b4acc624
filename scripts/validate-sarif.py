#!/usr/bin/env python3
"""Validate SARIF logs against the official SARIF 2.1.0 JSON schema.

Usage: validate-sarif.py [--schema SCHEMA.json] FILE.sarif [...]

The schema defaults to tests/fixtures/scan/sarif-schema-2.1.0.json of this repository
(the OASIS schema, vendored). Needs the `jsonschema` package (tested with 4.23.0 and 4.26.0); when the running
python lacks it, re-runs itself with .tools/venv/bin/python3 (scripts/install-tools.sh).
Exit status: 0 all valid, 1 some file invalid, 2 usage error or missing dependency.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "..", "tests", "fixtures", "scan", "sarif-schema-2.1.0.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", default=DEFAULT_SCHEMA)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    try:
        import jsonschema
    except ImportError:
        # The project's tool venv (scripts/install-tools.sh) has it.
        venv_python = os.path.join(HERE, "..", ".tools", "venv", "bin", "python3")
        if os.path.exists(venv_python) and os.path.realpath(sys.prefix) != os.path.realpath(
            os.path.join(HERE, "..", ".tools", "venv")
        ):
            os.execv(venv_python, [venv_python, os.path.abspath(__file__)] + sys.argv[1:])
        print("validate-sarif: the Python package 'jsonschema' is not installed", file=sys.stderr)
        return 2
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    failed = False
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                log = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read JSON: {e}", file=sys.stderr)
            failed = True
            continue
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
        if log.get("version") != "2.1.0":
            print(f"{path}: version is {log.get('version')!r}, expected '2.1.0'", file=sys.stderr)
            failed = True
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            print(f"{path}: {where}: {e.message}", file=sys.stderr)
        if errors:
            failed = True
        else:
            print(f"{path}: valid SARIF 2.1.0")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
