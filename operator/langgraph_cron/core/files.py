"""LangGraphCron YAML files without Kubernetes: lint them, or reconcile them straight into a server.

`lgcron validate` is a pre-merge check for GitOps repositories: it gives each object of our group
(LangGraphCron, LangGraphServer, ClusterLangGraphServer) the answer `kubectl apply` would get from a
cluster, and skips every other kind. `lgcron apply` / `lgcron delete` (and `lgcron demo`) run the
files' LangGraphCrons through the same `CronService` the operator uses, with the identity tags
`lgcron.io/namespace` + `lgcron.io/name` instead of a Kubernetes uid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from langgraph_cron.core.connections import parse_server_spec
from langgraph_cron.core.manifests import (
    Document,
    FileError,
    read_documents,
    yaml_files,
)
from langgraph_cron.core.models import (
    CLUSTER_SERVER_KIND,
    GROUP,
    KIND,
    SERVER_KIND,
    VERSION,
    ClusterLangGraphServerSpec,
    LangGraphCronSpec,
    LangGraphCronStatus,
    LangGraphServerSpec,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.schedule import upcoming_runs
from langgraph_cron.core.spec import Identity, InvalidSpec, effective, parse_spec
from langgraph_cron.core.suggest import closest, explain_unknown_fields, unknown_field

__all__ = ["Document", "FileError", "check", "cron_object", "load_documents", "status_table", "validate", "yaml_files"]

SERVED = f"{GROUP}/{VERSION}"
KINDS = (KIND, SERVER_KIND, CLUSTER_SERVER_KIND)
SPEC_MODELS: dict[str, type[BaseModel]] = {
    KIND: LangGraphCronSpec, SERVER_KIND: LangGraphServerSpec, CLUSTER_SERVER_KIND: ClusterLangGraphServerSpec,
}
# A kind this much like one of ours (difflib, ignoring case) is a typo of it, whatever its apiVersion;
# stricter than for fields, so that another project's kinds in a GitOps directory are never flagged.
KIND_CUTOFF = 0.8
# What kubectl's strict field validation accepts at the top of an object and in its metadata (ObjectMeta).
TOP_LEVEL_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
METADATA_FIELDS = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
)
# Kubernetes object names: DNS-1123 subdomain; namespaces: DNS-1123 label (what the apiserver enforces).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """LangGraphCron documents of the given files (directories recursively); other groups' kinds are
    skipped. FileError for a document of ours that a cluster would not take (`lgcron.io/v1`, a kind with a
    typo): `lgcron apply` must not skip what `kubectl apply` would refuse."""
    documents = read_documents(paths)
    for document in documents:
        if is_ours(document) and (problems := kind_problems(document)):
            raise FileError(f"{document.where}: {'; '.join(problems)}")
    return [d for d in documents if d.kind == KIND]


# ---------------------------------------------------------------- which of our kinds a document is


def intended_kind(document: Document) -> str | None:
    """The kind of ours a document is, or was meant to be (a typo of one); None for other groups' kinds."""
    if document.kind in KINDS:
        return document.kind
    return closest(document.kind, KINDS, cutoff=KIND_CUTOFF)


def is_ours(document: Document) -> bool:
    return intended_kind(document) is not None or document.api_version.startswith(f"{GROUP}/")


def kind_problems(document: Document) -> list[str]:
    """Why kubectl would find no such kind ("no matches for kind"), saying what to write instead."""
    kind, api_version, meant = document.kind, document.api_version, intended_kind(document)
    problems = []
    if meant is None:
        problems.append(f"kind: {kind} is not a kind of {GROUP}; use {', '.join(KINDS[:-1])} or {KINDS[-1]}")
    elif meant != kind:
        problems.append(f"kind: {kind} is not a kind of {GROUP}; did you mean {meant}?")
    if api_version != SERVED:
        problems.append(f"apiVersion: {_version_problem(api_version, meant or kind)}; use {SERVED}")
    return problems


def _version_problem(api_version: str, kind: str) -> str:
    if not api_version:
        return "not set"
    if api_version.startswith(f"{GROUP}/"):
        return f"{api_version} is not served"
    return f"{api_version} does not serve {kind}"


# ---------------------------------------------------------------- checks of one object


def check(document: Document) -> LangGraphCronSpec:
    """The validated spec of a LangGraphCron, or InvalidSpec naming the field (metadata.name included)."""
    problems = _object_problems(document)
    try:
        spec = parse_spec(_spec(document))
    except InvalidSpec as exc:
        problems.append(explain_unknown_fields(str(exc), LangGraphCronSpec))
    if problems:
        raise InvalidSpec("; ".join(problems))
    return spec


def check_server(document: Document) -> LangGraphServerSpec | ClusterLangGraphServerSpec:
    """The validated spec of a LangGraphServer or ClusterLangGraphServer, or InvalidSpec naming the field."""
    problems = _object_problems(document)
    model = SPEC_MODELS[document.kind]
    try:
        spec = parse_server_spec({**document.body, "spec": _spec(document)})
        _check_types_strictly(model, _spec(document))
    except InvalidSpec as exc:
        problems.append(explain_unknown_fields(str(exc), model))
    if problems:
        raise InvalidSpec("; ".join(problems))
    return spec


def _spec(document: Document) -> dict[str, Any]:
    spec = document.body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise InvalidSpec(f"spec: must be an object (a YAML mapping), not {type(spec).__name__}")
    return spec or {}


def _check_types_strictly(model: type[BaseModel], raw: dict[str, Any]) -> None:
    """The CRD schema's types, as parse_spec checks a cron's: parse_server_spec turns "30" into 30.0,
    which the apiserver refuses (a string is not a number). Run after it, so only such types are left."""
    try:
        model.model_validate_json(json.dumps(raw), strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise InvalidSpec("; ".join(
            "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]) + f": {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )) from None


def _object_problems(document: Document) -> list[str]:
    """What the apiserver refuses outside the spec: unknown fields (kubectl's strict field validation),
    and names that are not DNS-1123. A ClusterLangGraphServer's namespace is ignored, as kubectl does."""
    problems = [f"{key}: {unknown_field(key, TOP_LEVEL_FIELDS)}" for key in document.body if key not in TOP_LEVEL_FIELDS]
    metadata = document.body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return [*problems, "metadata: must be an object (a YAML mapping)"]
    problems += [f"metadata.{key}: {unknown_field(key, METADATA_FIELDS)}" for key in metadata or {}
                 if key not in METADATA_FIELDS]
    if not _NAME.match(document.name):
        problems.append(f"metadata.name: {document.name!r} is not a valid Kubernetes name (lowercase DNS-1123)")
    namespace = document.metadata.get("namespace")
    if document.kind != CLUSTER_SERVER_KIND and namespace is not None and not _NAMESPACE.match(str(namespace)):
        problems.append(f"metadata.namespace: {namespace!r} is not a valid namespace name "
                        "(lowercase DNS-1123 label, at most 63 characters)")
    return problems


# ---------------------------------------------------------------- the report


def validate(paths: Iterable[str | Path], now: datetime | None = None) -> tuple[list[str], list[str]]:
    """(report lines, error lines): each valid object of our group, a cron with its next 3 runs; each
    error as FILE#N (line L): KIND NAMESPACE/NAME: FIELD: REASON. Other groups' kinds are skipped."""
    paths = list(paths)
    now = now or datetime.now(UTC)
    report, errors = [], []
    ours = [document for document in read_documents(paths) if is_ours(document)]
    for document in ours:
        label = f"{document.where}: {document.kind} {document.object_name}"
        try:
            report.append(f"{label}: ok {_summary(document, now)}")
        except InvalidSpec as exc:
            errors.append(f"{label}: {exc}")
    if not ours:
        errors.append(f"no {GROUP} documents found in {', '.join(str(path) for path in paths)}")
    return report, errors


def _summary(document: Document, now: datetime) -> str:
    """What follows "ok" for a valid object (never a secret); InvalidSpec when it is not valid."""
    if problems := kind_problems(document):
        raise InvalidSpec("; ".join(problems))
    if document.kind == KIND:
        return _cron_summary(document, check(document), now)
    return f"({check_server(document).url})"


def _cron_summary(document: Document, spec: LangGraphCronSpec, now: datetime) -> str:
    spread = effective(spec, document.namespace, document.name)
    runs = ", ".join(t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in upcoming_runs(spread.schedule, spec.timezone, now))
    schedule = f"; effective schedule {spread.schedule!r}" if spread.schedule != spec.schedule else ""
    return f"({spec.backend}, {spec.timezone or 'UTC'}){schedule}; next runs: {runs}"


def cron_object(document: Document) -> CronObject:
    return CronObject(
        identity=Identity(uid=None, namespace=document.namespace, name=document.name),
        generation=None,
        raw_spec=dict(document.body.get("spec") or {}),
        status=LangGraphCronStatus(),
    )


def status_table(results: list[tuple[Document, Result]]) -> str:
    """`kubectl get`-style table: NAMESPACE, NAME, CRON ID, SCHEDULE, TIMEZONE, NEXT RUN, READY."""
    rows = [("NAMESPACE", "NAME", "CRON ID", "SCHEDULE", "TIMEZONE", "NEXT RUN", "READY")]
    for document, result in results:
        spec = document.body.get("spec") or {}
        ready = result.status.condition("Ready")
        rows.append(
            (
                document.namespace,
                document.name,
                result.status.cron_id or "-",
                str(spec.get("schedule", "")),
                str(spec.get("timezone") or "UTC"),
                result.status.next_run_date or "-",
                f"{ready.status} ({ready.reason})" if ready else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)
