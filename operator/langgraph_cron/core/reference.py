"""The field reference (docs/reference.md), generated from the same schemas as the CRDs.

`python -m langgraph_cron.core.reference --write` regenerates it; tests/unit/test_reference.py fails
when the committed file and the models disagree. Every field of the spec and status of all three kinds
is listed with its type, default, constraints (the schema's and the CEL rules') and description: what
`kubectl explain` shows, on one page.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph_cron.core import crd

REFERENCE_FILE = "docs/reference.md"

_HEAD = f"""# Field reference

Generated from `operator/langgraph_cron/core/models.py` by `python -m langgraph_cron.core.reference --write`
(a test fails when this page and the models disagree). The same text is in the CRDs:
`kubectl explain langgraphcron.spec --recursive`. API version: `{crd.models.GROUP}/{crd.models.VERSION}`.
What each level refuses, with examples, is in [bad-input.md](bad-input.md).
"""


def _type(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return f"{node.get('type', 'any')} (free-form)"
    kind = node.get("type", "any")
    if kind == "array":
        return f"[]{_type(node.get('items') or {})}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type(node['additionalProperties'])}"
    return f"{kind} ({node['format']})" if "format" in node else kind


def _constraints(node: dict[str, Any], required: bool) -> str:
    found = ["required"] if required else []
    if "enum" in node:
        found.append("one of " + ", ".join(f"`{value}`" for value in node["enum"]))
    for key, word in (("minimum", "≥"), ("maximum", "≤")):
        if key in node:
            strict = node.get("exclusiveMinimum" if key == "minimum" else "exclusiveMaximum")
            found.append(f"{'>' if strict and key == 'minimum' else '<' if strict else word} {node[key]}")
    if "minLength" in node or "maxLength" in node:
        found.append(f"length {node.get('minLength', 0)}–{node.get('maxLength', '∞')}")
    if "pattern" in node:
        found.append(f"matches `{node['pattern']}`")
    found += [f"refused (CEL): {rule['message']}" for rule in node.get("x-kubernetes-validations", ())]
    return "; ".join(found).replace("|", "\\|")


def _rows(node: dict[str, Any], prefix: str) -> Iterator[str]:
    required = set(node.get("required", ()))
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}"
        default = f"`{json.dumps(child['default'])}`" if "default" in child else ""
        description = " ".join(str(child.get("description", "")).split()).replace("|", "\\|")
        yield f"| `{path}` | {_type(child)} | {default} | {_constraints(child, name in required)} | {description} |"
        target = child.get("items") if child.get("type") == "array" else child
        if isinstance(target, dict) and target.get("properties") and not target.get("x-kubernetes-preserve-unknown-fields"):
            yield from _rows(target, f"{path}[]" if target is not child else path)


def _section(kind: str, spec: dict[str, Any], status: dict[str, Any]) -> str:
    lines = [f"## {kind}", ""]
    if spec.get("x-kubernetes-validations"):
        lines += ["Rules across fields (CEL, checked by the apiserver):", ""]
        lines += [f"- `spec{rule.get('fieldPath', '')}`: {rule['message']}" for rule in spec["x-kubernetes-validations"]]
        lines.append("")
    head = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    lines += head + list(_rows(spec, "spec")) + [""] + head + list(_rows(status, "status")) + [""]
    return "\n".join(lines)


def render() -> str:
    sections = []
    for built in crd.all_crds().values():
        kind = built["spec"]["names"]["kind"]
        properties = built["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        sections.append(_section(kind, properties["spec"], properties["status"]))
    return _HEAD + "\n" + "\n".join(sections)


def write(root: Path | None = None) -> Path:
    root = root or Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists():
        raise SystemExit(f"--write needs a source checkout; {root} is not one")
    path = root / REFERENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        print(f"wrote {write()}")
    elif sys.argv[1:]:
        raise SystemExit("usage: python -m langgraph_cron.core.reference [--write]")
    else:
        sys.stdout.write(render())
