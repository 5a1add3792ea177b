#!/usr/bin/env python3
"""Checks manifests/schema/manifest.schema.json (format 1) and manifest-2.schema.json (format 2)
against the golden vectors of manifests/vectors and manifests/vectors/v2.

Valid vectors must pass the schema. Each invalid vector's .expect says what the schema
alone concludes: "reject" (it must fail), "accept" (only the C++ reader can catch it, e.g.
a bad signature or a case-insensitive duplicate path: the schema must not be stricter
than the format), or nothing (bytes a generic JSON parser reads differently: skipped).

Also recomputes the RFC 8785 canonical bytes of every valid vector independently of the
C++ code (keys sorted by UTF-16 code units) and compares them with the .canonical files.

Usage: schema_check.py MANIFESTS_DIR. Exits 77 (CTest "skipped") without python3-jsonschema.
"""
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    print("skipped: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(77)


def jcs(value):
    """RFC 8785 for documents without floats (which modelcast forbids)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k]) for k in keys) + "}"
    raise TypeError(f"not canonicalisable: {value!r}")


def check(schema_path, vectors, failures):
    """Judges every vector under `vectors` with the schema at `schema_path`; returns the count."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0

    for path in sorted((vectors / "valid").glob("*.json")):
        name = f"{vectors.name}/valid/{path.name}"
        doc = json.loads(path.read_text(encoding="utf-8"))
        errors = list(validator.iter_errors(doc))
        if errors:
            failures.append(f"{name}: valid vector fails the schema: {errors[0].message}")
        canonical = path.with_suffix(".canonical").read_bytes()
        if jcs(doc["signed"]).encode("utf-8") != canonical:
            failures.append(f"{name}: independent RFC 8785 bytes differ from {path.with_suffix('.canonical').name}")
        checked += 1

    for path in sorted((vectors / "invalid").glob("*.json")):
        name = f"{vectors.name}/invalid/{path.name}"
        expect = json.loads(path.with_suffix(".expect").read_text(encoding="utf-8"))
        verdict = expect.get("schema")
        if verdict is None:
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        errors = list(validator.iter_errors(doc))
        if verdict == "reject" and not errors:
            failures.append(f"{name}: the schema accepts it but should reject it ({expect['why']})")
        if verdict == "accept" and errors:
            failures.append(f"{name}: the schema rejects it ({errors[0].message}) but only the reader should")
        checked += 1
    return checked


def main():
    root = pathlib.Path(sys.argv[1])
    failures = []
    checked = check(root / "schema" / "manifest.schema.json", root / "vectors", failures)
    checked += check(root / "schema" / "manifest-2.schema.json", root / "vectors" / "v2", failures)
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    print(f"{checked} vectors checked against the schemas, {len(failures)} failures", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
