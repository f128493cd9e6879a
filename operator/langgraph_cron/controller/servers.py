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


@kopf.index(*SERVER_RESOURCE)
async def lgcron_servers(body: kopf.Body, memo: kopf.Memo, lgcron_servers: kopf.Index, **_: Any) -> dict[Any, Any]:
    memo.runtime.servers.directory.indexes["namespaced"] = lgcron_servers
    server = _with_kind(body, SERVER_KIND)
    return {ServerKey.of_body(server): server}


@kopf.index(*CLUSTER_SERVER_RESOURCE)
async def lgcron_cluster_servers(body: kopf.Body, memo: kopf.Memo, lgcron_cluster_servers: kopf.Index,
                                 **_: Any) -> dict[Any, Any]:
    memo.runtime.servers.directory.indexes["cluster"] = lgcron_cluster_servers
    server = _with_kind(body, CLUSTER_SERVER_KIND)
    return {ServerKey.of_body(server): server}


@kopf.index("", "v1", "namespaces")
async def lgcron_namespace_labels(name: str, labels: kopf.Labels, memo: kopf.Memo,
                                  lgcron_namespace_labels: kopf.Index, **_: Any) -> dict[str, dict[str, str]]:
    """Namespace labels, for ClusterLangGraphServer namespaceSelector conditions (the index still holds
    the old labels while this runs)."""
    runtime: Runtime = memo.runtime
    runtime.servers.directory.indexes["namespaces"] = lgcron_namespace_labels
    server_watch.namespace_labels_changed(runtime, name, runtime.servers.directory.namespace_labels(name), labels)
    return {name: dict(labels)}


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
