"""Extract Letta's AgentFileSchema (and every schema it refers to) from Letta's OpenAPI document.

The tests validate memos's exports against it. Run against Letta's repository at a release:
    git -C LETTA show 0.16.8:fern/openapi.json | python scripts/letta_agentfile_schema.py > \
        tests/data/letta-0.16.8-agentfile.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def main() -> None:
    schemas = json.load(sys.stdin)["components"]["schemas"]
    wanted, todo = set(), ["AgentFileSchema"]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(refs(schemas[name]) - wanted)
    document = {"$ref": "#/components/schemas/AgentFileSchema",
                "components": {"schemas": {name: schemas[name] for name in sorted(wanted)}}}
    json.dump(document, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
