"""The operator's and the CLI's views of the server objects (`ServerLookup`s for `connections.resolve`):
what the operator's watches delivered (`ServerDirectory`), or objects read just before (`StaticServers`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
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


# How long a server object or namespace read straight from the API (see `ServerDirectory.unseen`)
# stands in for the watch's copy. Short: the watch delivers within seconds, and a copy read once may
# be deleted since (the watch's DELETED event drops it sooner).
LOOKED_UP_SECONDS = 30.0


class ServerDirectory:
    """The operator's ServerLookup: the server objects and namespace labels its watches delivered
    (kopf keeps them current and drops deleted objects), plus the checks this process made since (a
    check is known here before its status write comes back through the watch).

    The watches deliver in their own time: after a start, kopf hands a LangGraphCron to its handler
    before or after its server object, in any order (its worker limit rules out kopf's indexes, which
    would wait). What a cron needs and the watch has not delivered yet is read straight from the API
    (engine/connector.py) and kept here for LOOKED_UP_SECONDS: a deletion on a restart sends its
    server's key, not none, and a resumed cron never reads "ServerNotFound" for a server that exists.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # Kept by the event handlers (controller/servers.py), in a kopf index's shape: key -> [value].
        self.indexes: dict[str, Any] = {}
        self.checks: dict[ServerKey, ServerHealth] = {}
        # (index name, key) -> (when read, the object or None when the API said 404)
        self.looked_up: dict[tuple[str, Any], tuple[float, Any]] = {}
        self._clock = clock

    def keep(self, index_name: str, key: Any, value: Any, *, deleted: bool) -> None:
        """What the watch delivered: it outranks what was looked up."""
        store = self.indexes.setdefault(index_name, {})
        self.looked_up.pop((index_name, key), None)
        if deleted:
            store.pop(key, None)
        else:
            store[key] = [value]

    def _first(self, index_name: str, key: Any) -> Any:
        for value in (self.indexes.get(index_name) or {}).get(key, ()):
            return value
        looked_up = self._looked_up_lately(index_name, key)
        return looked_up[1] if looked_up is not None else None

    def _known(self, index_name: str, key: Any) -> bool:
        return key in (self.indexes.get(index_name) or {}) or self._looked_up_lately(index_name, key) is not None

    def _looked_up_lately(self, index_name: str, key: Any) -> tuple[float, Any] | None:
        looked_up = self.looked_up.get((index_name, key))
        return looked_up if looked_up is not None and self._clock() - looked_up[0] < LOOKED_UP_SECONDS else None

    # ------------------------------------------------------------ what the watch has not delivered yet

    def unseen(self, keys: Iterable[ServerKey]) -> list[ServerKey]:
        """The server objects among `keys` neither delivered by the watch nor looked up lately."""
        return [key for key in keys if not self._known(_index_of(key), key)]

    def labels_unseen(self, namespace: str) -> bool:
        return not self._known("namespaces", namespace)

    def looked_up_server(self, key: ServerKey, body: Mapping[str, Any] | None) -> None:
        self._look_up((_index_of(key), key), body)

    def looked_up_labels(self, namespace: str, labels: Mapping[str, str] | None) -> None:
        self._look_up(("namespaces", namespace), labels)

    def _look_up(self, what: tuple[str, Any], value: Any) -> None:
        now = self._clock()
        if len(self.looked_up) >= 256:  # stale copies of objects the watch never delivered (404s, say)
            self.looked_up = {k: v for k, v in self.looked_up.items() if now - v[0] < LOOKED_UP_SECONDS}
        self.looked_up[what] = (now, value)

    # ------------------------------------------------------------ the ServerLookup protocol

    def server(self, key: ServerKey) -> Mapping[str, Any] | None:
        return self._first(_index_of(key), key)

    @property
    def servers(self) -> dict[ServerKey, Mapping[str, Any]]:
        """What the watch delivered (not what was looked up: the checks and the passes work on these)."""
        found: dict[ServerKey, Mapping[str, Any]] = {}
        for name in ("namespaced", "cluster"):
            for key, store in list((self.indexes.get(name) or {}).items()):
                for body in store[:1]:
                    found[key] = body
        return found

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self._first("namespaces", namespace)

    def health(self, key: ServerKey) -> ServerHealth | None:
        return self.checks.get(key)


def _index_of(key: ServerKey) -> str:
    return "cluster" if key.kind == CLUSTER_SERVER_KIND else "namespaced"
