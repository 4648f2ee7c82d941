#!/usr/bin/env python3
"""Check that a JSON Schema and the C validator agree on every example.

usage: schema_agree.py SCHEMA EXAMPLES_DIR [--shared OTHER_SCHEMA] -- VALIDATOR...

VALIDATOR... is a command that gets the example's path appended and prints "ok" (exit 0) or
"FIELD: RULE" (exit 1), e.g. `ferryctl validate` or `validate_example config`.
EXAMPLES_DIR holds valid/ (both accept), invalid/ (both refuse) and validator-only/ (the JSON
Schema accepts, the validator refuses: rules JSON Schema cannot express). EXAMPLES_DIR/EXPECTED
maps refused examples to the field the validator must name. With --shared, every definition that
SCHEMA and OTHER_SCHEMA both hold must be identical (the schemas copy a few to stay
self-contained). Exit 0 when all agree, 1 otherwise, 77 (skip) when the jsonschema module is
missing.
"""
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("SKIP: python3 jsonschema module not installed")
    sys.exit(77)

EXPECT = {"valid": (True, True), "invalid": (False, False), "validator-only": (True, False)}


def parse_args(argv):
    if "--" not in argv:
        return None
    cut = argv.index("--")
    opts, command = argv[:cut], argv[cut + 1:]
    shared = None
    if len(opts) == 4 and opts[2] == "--shared":
        shared = opts[3]
        opts = opts[:2]
    if len(opts) != 2 or not command:
        return None
    return opts[0], opts[1], shared, command


def shared_failures(schema, other_path):
    with open(other_path, encoding="utf-8") as f:
        other = json.load(f).get("definitions", {})
    mine = schema.get("definitions", {})
    return [f"definition '{name}' differs from {os.path.basename(other_path)}"
            for name in sorted(set(mine) & set(other)) if mine[name] != other[name]]


def main():
    args = parse_args(sys.argv[1:])
    if args is None:
        print(__doc__)
        return 2
    schema_path, root, shared, command = args
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)

    fields = {}
    with open(os.path.join(root, "EXPECTED"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, field = line.split(None, 1)
                fields[name] = field.strip()

    failures, checked = [], 0
    if shared is not None:
        failures += shared_failures(schema, shared)
    for kind, (schema_ok, validator_ok) in EXPECT.items():
        folder = os.path.join(root, kind)
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        if not names:
            failures.append(f"{kind}/ holds no examples")
        for name in names:
            rel = f"{kind}/{name}"
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            errors = list(validator.iter_errors(doc))
            run = subprocess.run(command + [path], capture_output=True, text=True, check=False)
            out = run.stdout.strip()
            if run.returncode not in (0, 1):
                failures.append(f"{rel}: validator exited {run.returncode}: {run.stderr.strip()}")
                continue
            checked += 1
            if (not errors) != schema_ok:
                why = errors[0].message if errors else "accepted"
                failures.append(f"{rel}: JSON Schema {'refused' if errors else 'accepted'} it"
                                f" ({why[:120]})")
            if (run.returncode == 0) != validator_ok:
                failures.append(f"{rel}: validator said '{out}'")
            if validator_ok:
                continue
            want = fields.get(rel)
            if want is None:
                failures.append(f"{rel}: no entry in EXPECTED")
            elif not out.startswith(want + ": "):
                failures.append(f"{rel}: validator said '{out}', expected field '{want}'")
    unused = set(fields) - {f"{k}/{n}" for k in EXPECT for n in os.listdir(os.path.join(root, k))}
    for name in sorted(unused):
        failures.append(f"EXPECTED lists {name}, which does not exist")

    for f in failures:
        print("FAIL", f)
    print(f"{checked} examples checked, {len(failures)} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
