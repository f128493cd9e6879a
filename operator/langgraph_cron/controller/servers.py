"""kopf handlers of LangGraphServer and ClusterLangGraphServer objects, and the indexes the connector
resolves crons against (server objects, namespace labels). No decisions here: engine/server_watch.py."""

from __future__ import annotations

from typing import Any

import kopf

from langgraph_cron.controller.registry import slim_body
from langgraph_cron.core.connections import ServerKey
from langgraph_cron.core.models import (
    CLUSTER_SERVER_KIND,
    CLUSTER_SERVER_PLURAL,
    GROUP,
    SERVER_KIND,
    SERVER_PLURAL,
    VERSION,
)
from langgraph_cron.engine import server_watch
from langgraph_cron.engine.runtime import Runtime

SERVER_RESOURCE = (GROUP, VERSION, SERVER_PLURAL)
CLUSTER_SERVER_RESOURCE = (GROUP, VERSION, CLUSTER_SERVER_PLURAL)
# How often a deletion held by crons still in use looks again (only while such a deletion waits).
SERVER_IN_USE_RETRY_SECONDS = 5.0


def _with_kind(body: Any, kind: str) -> dict[str, Any]:
    """A server object's body naming its kind (list results carry none on their items)."""
    return {**slim_body(body), "kind": kind}


def _keep(memo: kopf.Memo, index: str, key: Any, value: Any, event: kopf.RawEvent) -> None:
    """The directory's stores, as a kopf index would hold them (key -> [value]). Event handlers, not kopf
    indexes: an index makes kopf wait for every object's first event, which rules out its worker limit
    (what a cron needs before the watch delivers it is read from the API: core/server_lookup.py)."""
    memo.runtime.servers.directory.keep(index, key, value, deleted=event.get("type") == "DELETED")


@kopf.on.event(*SERVER_RESOURCE)
async def lgcron_servers(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    server = _with_kind(body, SERVER_KIND)
    _keep(memo, "namespaced", ServerKey.of_body(server), server, event)


@kopf.on.event(*CLUSTER_SERVER_RESOURCE)
async def lgcron_cluster_servers(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    server = _with_kind(body, CLUSTER_SERVER_KIND)
    _keep(memo, "cluster", ServerKey.of_body(server), server, event)


@kopf.on.event("", "v1", "namespaces")
async def lgcron_namespace_labels(event: kopf.RawEvent, name: str, labels: kopf.Labels, memo: kopf.Memo,
                                  **_: Any) -> None:
    """Namespace labels, for ClusterLangGraphServer namespaceSelector conditions."""
    runtime: Runtime = memo.runtime
    before = runtime.servers.directory.namespace_labels(name)
    _keep(memo, "namespaces", name, dict(labels), event)
    if event.get("type") != "DELETED":
        server_watch.namespace_labels_changed(runtime, name, before, labels)


@kopf.on.resume(*SERVER_RESOURCE)
@kopf.on.create(*SERVER_RESOURCE)
@kopf.on.update(*SERVER_RESOURCE)
async def server_changed(body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
    await server_watch.check(memo.runtime, _with_kind(body, SERVER_KIND), requeue_all=reason != "resume")


@kopf.on.resume(*CLUSTER_SERVER_RESOURCE)
@kopf.on.create(*CLUSTER_SERVER_RESOURCE)
@kopf.on.update(*CLUSTER_SERVER_RESOURCE)
async def cluster_server_changed(body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
    await server_watch.check(memo.runtime, _with_kind(body, CLUSTER_SERVER_KIND), requeue_all=reason != "resume")


@kopf.on.delete(*SERVER_RESOURCE)
async def server_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if (held := await server_watch.hold_while_used(memo.runtime, _with_kind(body, SERVER_KIND))) is not None:
        raise kopf.TemporaryError(held, delay=SERVER_IN_USE_RETRY_SECONDS)


@kopf.on.delete(*CLUSTER_SERVER_RESOURCE)
async def cluster_server_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if (held := await server_watch.hold_while_used(memo.runtime, _with_kind(body, CLUSTER_SERVER_KIND))) is not None:
        raise kopf.TemporaryError(held, delay=SERVER_IN_USE_RETRY_SECONDS)
