"""The operator's and the CLI's views of the server objects (`ServerLookup`s for `connections.resolve`):
what the operator's watches delivered (`ServerDirectory`), or objects read just before (`StaticServers`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph_cron.core.connections import ServerHealth, ServerKey
from langgraph_cron.core.models import CLUSTER_SERVER_KIND


@dataclass
class StaticServers:
    """A ServerLookup of objects read just before, with no watch: the CLI on a laptop, the admission
    webhook on a replica whose watches are paused."""

    objects: dict[ServerKey, Mapping[str, Any]] = field(default_factory=dict)
    labels: dict[str, Mapping[str, str]] = field(default_factory=dict)

    def server(self, key: ServerKey) -> Mapping[str, Any] | None:
        return self.objects.get(key)

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.labels.get(namespace)

    def health(self, key: ServerKey) -> ServerHealth | None:
        return None  # never waits for a check: resolve with require_ready=False


class ServerDirectory:
    """The operator's ServerLookup: the server objects and namespace labels its watches delivered
    (kopf keeps them current and drops deleted objects), plus the checks this process made since (a
    check is known here before its status write comes back through the watch)."""

    def __init__(self) -> None:
        # Kept by the event handlers (controller/servers.py), in a kopf index's shape: key -> [value].
        self.indexes: dict[str, Any] = {}
        self.checks: dict[ServerKey, ServerHealth] = {}

    def _first(self, index_name: str, key: Any) -> Any:
        index = self.indexes.get(index_name)
        for value in (index.get(key, ()) if index is not None else ()):
            return value
        return None

    def server(self, key: ServerKey) -> Mapping[str, Any] | None:
        return self._first("cluster" if key.kind == CLUSTER_SERVER_KIND else "namespaced", key)

    @property
    def servers(self) -> dict[ServerKey, Mapping[str, Any]]:
        found: dict[ServerKey, Mapping[str, Any]] = {}
        for name in ("namespaced", "cluster"):
            for key in list(self.indexes.get(name) or ()):
                if (body := self._first(name, key)) is not None:
                    found[key] = body
        return found

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self._first("namespaces", namespace)

    def health(self, key: ServerKey) -> ServerHealth | None:
        return self.checks.get(key)
