"""LangGraphCron YAML files without Kubernetes: lint them, or reconcile them straight into a server.

`lgcron validate` is a pre-merge check for GitOps repositories; `lgcron apply` / `lgcron delete`
(and `lgcron demo`) run the files through the same `CronService` the operator uses, with the
identity tags `lgcron.io/namespace` + `lgcron.io/name` instead of a Kubernetes uid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from langgraph_cron.core.models import (
    GROUP,
    KIND,
    LangGraphCronSpec,
    LangGraphCronStatus,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.schedule import upcoming_runs
from langgraph_cron.core.spec import Identity, InvalidSpec, effective, parse_spec


class _KubectlYamlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: an unquoted timestamp stays a string (the API gets the text)."""


_KubectlYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# Kubernetes object names: DNS-1123 subdomain (what `kubectl apply` would enforce).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class Document:
    """One LangGraphCron document of a YAML file."""

    path: Path
    index: int  # 1-based position among the file's documents
    body: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.index}"

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.body.get("metadata") or {}).get("namespace") or "default")


class FileError(Exception):
    """A file that cannot be read or parsed; the message starts with its location."""


def yaml_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.exists():
            yield path
        else:
            raise FileError(f"{path}: no such file or directory")


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """LangGraphCron documents of the given files (directories recursively); other kinds are skipped."""
    documents = []
    for path in yaml_files(paths):
        try:
            loaded = list(yaml.load_all(path.read_text(), Loader=_KubectlYamlLoader))
        except (OSError, yaml.YAMLError) as exc:
            raise FileError(f"{path}: cannot parse YAML: {str(exc).splitlines()[0]}") from None
        for index, body in enumerate(loaded, start=1):
            if isinstance(body, dict) and body.get("kind") == KIND and str(body.get("apiVersion", "")).startswith(f"{GROUP}/"):
                documents.append(Document(path, index, body))
    return documents


def check(document: Document) -> LangGraphCronSpec:
    """The validated spec, or InvalidSpec naming the field (metadata.name included)."""
    problems = []
    if not _NAME.match(document.name):
        problems.append(f"metadata.name: {document.name!r} is not a valid Kubernetes name (lowercase DNS-1123)")
    try:
        spec = parse_spec(document.body.get("spec"))
    except InvalidSpec as exc:
        problems.append(str(exc))
    if problems:
        raise InvalidSpec("; ".join(problems))
    return spec


def validate(paths: Iterable[str | Path], now: datetime | None = None) -> tuple[list[str], list[str]]:
    """(report lines, error lines): each valid resource with its next 3 runs; each error with its place."""
    now = now or datetime.now(UTC)
    report, errors = [], []
    documents = load_documents(paths)
    for document in documents:
        try:
            spec = check(document)
        except InvalidSpec as exc:
            errors.append(f"{document.where}: {document.namespace}/{document.name or '?'}: {exc}")
            continue
        spread = effective(spec, document.namespace, document.name)
        runs = ", ".join(t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in upcoming_runs(spread.schedule, spec.timezone, now))
        zone = spec.timezone or "UTC"
        schedule = f"; effective schedule {spread.schedule!r}" if spread.schedule != spec.schedule else ""
        report.append(f"{document.where}: {document.namespace}/{document.name}: ok ({spec.backend}, {zone}){schedule}; "
                      f"next runs: {runs}")
    if not documents:
        errors.append("no LangGraphCron documents found")
    return report, errors


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
