"""Validates manifests against the JSON Schemas in schemas/: the contract files users and tools
read, checked against what maskforge really writes.

usage: check_manifest_schema.py DATASET_DIR...   (documents or examples datasets; the kind is
       read from each manifest's schema_version)
"""

import json
import os
import sys

import jsonschema

SCHEMAS = os.path.join(os.path.dirname(__file__), "..", "..", "schemas")
KINDS = {"maskforge.documents/": "documents-manifest", "maskforge.examples/": "examples-manifest"}

for dataset in sys.argv[1:]:
    with open(os.path.join(dataset, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    kind = next(name for prefix, name in KINDS.items() if manifest["schema_version"].startswith(prefix))
    with open(os.path.join(SCHEMAS, f"{kind}.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator(schema).validate(manifest)
    except jsonschema.ValidationError as e:
        sys.exit(f"{dataset}: manifest breaks {kind}.schema.json at {list(e.absolute_path)}: {e.message}")
    print(f"{dataset}: {kind} ok")
