"""Generate the LangGraphCron CRD from the pydantic models.

`python -m langgraph_cron.core.crd --write` regenerates the committed CRDs (LangGraphCron, LangGraphServer,
ClusterLangGraphServer) in crds/ and the Helm chart's templates together; `python -m langgraph_cron.core.crd`
prints the LangGraphCron one. tests/unit/test_crd.py fails when the committed files and the models disagree.

Kubernetes wants a *structural* OpenAPI v3 schema: no `$ref`, no `anyOf` alternatives that
change the type, a type on every node. Pydantic emits JSON Schema 2020-12, so this module
inlines definitions, folds `Optional[X]` into `X`, and turns free-form fields into
`x-kubernetes-preserve-unknown-fields` nodes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from langgraph_cron.core import models

# Keys of pydantic's JSON Schema that mean nothing to Kubernetes (or are invalid there).
_DROPPED_KEYS = {"title"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return _inline(merged, defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _structural(node: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one (already inlined) pydantic schema node into a structural CRD schema node."""
    branches = [b for b in node.get("anyOf", []) if b.get("type") != "null"]
    outer = {k: v for k, v in node.items() if k != "anyOf"}

    if outer.get("x-kubernetes-preserve-unknown-fields"):
        # Free-form content: keep a type only when every alternative agrees on it.
        types = {b.get("type") for b in branches} if branches else {node.get("type")}
        result: dict[str, Any] = {"description": outer["description"]}
        if len(types) == 1 and None not in types:
            result["type"] = types.pop()
        result["x-kubernetes-preserve-unknown-fields"] = True
        return result

    if branches:
        if len(branches) != 1:
            raise ValueError(f"field {outer.get('description')!r} has a union of types; mark it free-form")
        node = {**branches[0], **outer}

    result = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "const":
            result["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020-12 gives the bound itself; Kubernetes' OpenAPI v3 wants the bound in
            # minimum/maximum and a boolean here.
            result["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            result[key] = True
        elif key == "properties":
            result[key] = {name: _structural(sub) for name, sub in value.items()}
        elif key == "items":
            result[key] = _structural(value)
        elif key == "additionalProperties":
            # Typed maps (e.g. labels) keep their value schema; `false` (extra="forbid") is not allowed.
            if isinstance(value, dict):
                result[key] = _structural(value)
        else:
            result[key] = value
    if "properties" in result:
        result.setdefault("type", "object")
    return _ordered(result)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Put description and type first so the YAML reads top-down like hand-written CRDs."""
    head = [k for k in ("description", "type", "format", "enum", "default") if k in node]
    return {k: node[k] for k in head + [k for k in node if k not in head]}


def openapi_schema(model: type[models.CamelModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(_inline(raw, raw.get("$defs", {})))


def _crd(*, kind: str, plural: str, singular: str, short_names: list[str], scope: str, description: str,
         spec: dict[str, Any], status: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{models.GROUP}"},
        "spec": {
            "group": models.GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": models.CATEGORIES,
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "description": description,
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "API version of this object."},
                                "kind": {"type": "string", "description": "Kind of this object."},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


_READY = '.status.conditions[?(@.type=="Ready")]'


def build_crd() -> dict[str, Any]:
    """The LangGraphCron CRD."""
    return _crd(
        kind=models.KIND, plural=models.PLURAL, singular=models.SINGULAR, short_names=models.SHORT_NAMES,
        scope="Namespaced",
        description="A LangGraph cron job, reconciled into a cron on a LangGraph Agent Server.",
        spec={
            "description": "Desired cron: schedule, assistant, optional thread, and the run payload.",
            **openapi_schema(models.LangGraphCronSpec),
        },
        status={"description": "Observed state, written by the operator.", **openapi_schema(models.LangGraphCronStatus)},
        columns=[
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
            {"name": "Timezone", "type": "string", "jsonPath": ".spec.timezone"},
            {"name": "Assistant", "type": "string", "jsonPath": ".spec.assistantId"},
            {"name": "Next Run", "type": "string", "jsonPath": ".status.nextRunDate"},
            {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
            {"name": "Last Run", "type": "date", "jsonPath": ".status.lastRun.startTime"},
            {"name": "Last Result", "type": "string", "jsonPath": ".status.lastRun.result"},
            {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason", "priority": 1},
            {"name": "Cron ID", "type": "string", "jsonPath": ".status.cronId", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


_SERVER_COLUMNS = [
    {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
    {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
    {"name": "Crons", "type": "integer", "jsonPath": ".status.cronCount"},
    {"name": "Version", "type": "string", "jsonPath": ".status.serverVersion"},
    {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_server_crd(*, cluster: bool) -> dict[str, Any]:
    """The LangGraphServer (namespaced) or ClusterLangGraphServer (cluster-scoped) CRD."""
    if cluster:
        names = (models.CLUSTER_SERVER_KIND, models.CLUSTER_SERVER_PLURAL, models.CLUSTER_SERVER_SINGULAR,
                 models.CLUSTER_SERVER_SHORT_NAMES)
        spec_model: type[models.CamelModel] = models.ClusterLangGraphServerSpec
        description = (
            "A LangGraph Agent Server and its API key, for LangGraphCrons of the namespaces its conditions allow "
            "(spec.serverRef.kind: ClusterLangGraphServer)."
        )
    else:
        names = (models.SERVER_KIND, models.SERVER_PLURAL, models.SERVER_SINGULAR, models.SERVER_SHORT_NAMES)
        spec_model = models.LangGraphServerSpec
        description = "A LangGraph Agent Server and its API key, for LangGraphCrons of this namespace (spec.serverRef)."
    kind, plural, singular, short_names = names
    return _crd(
        kind=kind, plural=plural, singular=singular, short_names=short_names,
        scope="Cluster" if cluster else "Namespaced",
        description=description,
        spec={"description": "The server's URL, its key and how to reach it.", **openapi_schema(spec_model)},
        status={"description": "Observed state, written by the operator.", **openapi_schema(models.LangGraphServerStatus)},
        columns=_SERVER_COLUMNS,
    )


# File name (in crds/ and the chart's templates/crds/) -> CRD.
def all_crds() -> dict[str, dict[str, Any]]:
    return {
        "langgraphcron.yaml": build_crd(),
        "langgraphserver.yaml": build_server_crd(cluster=False),
        "clusterlanggraphserver.yaml": build_server_crd(cluster=True),
    }


_HEADER = "# Generated by `python -m langgraph_cron.core.crd --write` from operator/langgraph_cron/core/models.py. Do not edit.\n"


def render_crd_yaml(crd: dict[str, Any] | None = None) -> str:
    return _HEADER + yaml.safe_dump(crd or build_crd(), sort_keys=False, width=120)


HELM_CHART = "langgraph-cron-operator"
_LABELS_PLACEHOLDER = "__HELM_CHART_LABELS__"


def render_helm_crd_template(crd: dict[str, Any] | None = None) -> str:
    """A CRD as a template of the Helm chart: behind `crds.install`, kept on uninstall, chart-labelled.

    It lives in templates/ rather than the chart's crds/ folder because Helm never upgrades crds/.
    """
    crd = crd or build_crd()
    crd["metadata"] = {
        **crd["metadata"],
        # Deleting the CRD would delete every LangGraphCron with it (and, via finalizers, their crons).
        "annotations": {"helm.sh/resource-policy": "keep"},
        "labels": _LABELS_PLACEHOLDER,
    }
    body = yaml.safe_dump(crd, sort_keys=False, width=120)
    # Helm must print descriptions verbatim: any "{{" in them becomes a template action that outputs "{{".
    body = body.replace("{{", '{{ "{{" }}')
    labels = f"  labels: {_LABELS_PLACEHOLDER}\n"
    if body.count(labels) != 1:
        raise RuntimeError("the labels placeholder must appear exactly once under metadata")
    body = body.replace(labels, f'  labels:\n    {{{{- include "{HELM_CHART}.labels" . | nindent 4 }}}}\n')
    return (
        "{{- /* Generated by `python -m langgraph_cron.core.crd --write` from operator/langgraph_cron/core/models.py. "
        "Do not edit. */}}\n"
        "{{- if .Values.crds.install }}\n" + body + "{{- end }}\n"
    )


def write_files(root: Path | None = None) -> list[Path]:
    """Regenerate the committed CRD files of a source checkout: crds/ and the Helm chart's template."""
    root = root or Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").exists() or not (root / "crds").is_dir():
        raise SystemExit(f"--write needs a source checkout; {root} is not one")
    targets = {}
    for name, crd in all_crds().items():
        targets[root / "crds" / name] = render_crd_yaml(crd)
        targets[root / "charts" / HELM_CHART / "templates" / "crds" / name] = render_helm_crd_template(crd)
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(targets)


if __name__ == "__main__":
    # No argument: print the CRD (the original interface). --write: regenerate every committed copy.
    if sys.argv[1:] == ["--write"]:
        for written in write_files():
            print(f"wrote {written}")
    elif sys.argv[1:]:
        raise SystemExit("usage: python -m langgraph_cron.core.crd [--write]")
    else:
        sys.stdout.write(render_crd_yaml())
