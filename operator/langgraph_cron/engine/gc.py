"""The operator's periodic garbage collection of orphaned crons (LGCRON_GC_INTERVAL): which servers
to look at, and the deletions, each re-checked against the API first. The decision is core/orphans.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from langgraph_cron.clients.agent_server import (
    AgentServerError,
    CronNotFound,
)
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core.connections import Connection, default_connection
from langgraph_cron.core.models import GROUP, KIND, VERSION
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.orphans import find_orphans, tag_of
from langgraph_cron.core.spec import (
    CLUSTER_KEY,
    NAME_KEY,
    NAMESPACE_KEY,
    UID_KEY,
    InvalidSpec,
)
from langgraph_cron.engine.connector import Connector

logger = logging.getLogger(__name__)




# ---------------------------------------------------------------- periodic GC in the operator


async def gc_pass(
    service: Any,
    kube: Any,
    registry: Mapping[str, Any],
    *,
    clusterwide: bool,
    post_event: Callable[[dict[str, Any], str, str], None],
) -> list[str]:
    """Delete this cluster's orphaned crons on every server in use; return their ids.

    Namespaced operators look only at namespaces they have seen resources in: other namespaces
    may belong to another operator of this cluster. Each orphan is re-checked with a direct GET
    first, because the registry lags the API (a resource just created, a watch restarting).
    """
    settings = service.settings
    bodies = list(registry.values())
    watched = None if clusterwide else {b["metadata"]["namespace"] for b in bodies}
    deleted: list[str] = []
    for client in await _servers_in_use(service, bodies):
        try:
            crons = await client.search_all(metadata={CLUSTER_KEY: settings.cluster_id})
        except AgentServerError as exc:
            logger.warning("garbage collection skipped %s: %s", client, exc)
            continue
        orphans = find_orphans(
            crons, set(registry), settings.cluster_id,
            namespaces=watched, now=service.clock(), min_age=settings.gc_min_age,
        )
        for cron in orphans:
            if cron.cron_id in deleted:
                continue  # seen again through another API key
            namespace, name, uid = (tag_of(cron, k) for k in (NAMESPACE_KEY, NAME_KEY, UID_KEY))
            try:
                current = await kube.get_langgraphcron(namespace, name)
                if current is not None and current["metadata"].get("uid") == uid:
                    continue
                await client.delete(cron.cron_id)
            except CronNotFound:
                continue
            except (AgentServerError, KubernetesApiError) as exc:
                logger.warning("garbage collection of cron %s (%s/%s) failed: %s", cron.cron_id, namespace, name, exc)
                continue
            deleted.append(cron.cron_id)
            message = (
                f"deleted orphaned cron {cron.cron_id} (schedule {cron.schedule!r}): "
                f"LangGraphCron {namespace}/{name} with uid {uid} no longer exists"
            )
            logger.info("%s", message)
            gone = {"namespace": namespace, "name": name, "uid": uid}
            post_event({"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": gone}, "OrphanDeleted", message)
    return deleted


async def _servers_in_use(service: Any, bodies: list[dict[str, Any]]) -> list[Any]:
    """A client for every server a live resource uses or used, each with the key bound to that URL
    for that resource (never another's), plus every server object's and the default server."""
    connector: Connector = service.connector
    found: dict[Connection, None] = {}
    for body in bodies:
        obj = CronObject.from_body(body)
        spec, target = connector.deletion_target(obj.raw_spec, obj.identity.namespace)
        if target is not None:
            found[target] = None
        if obj.status.server_url:
            found[connector.bound(obj.status.server_url, obj.status.server_ref, obj.identity.namespace, spec)] = None
    for server in list(getattr(connector.servers, "servers", {}).values()):
        try:
            found[connector.for_server_object(server)] = None
        except InvalidSpec:
            continue
    settings = service.settings
    if settings.server_url and not any(c.url == settings.server_url for c in found):
        found[default_connection(settings, "")] = None
    clients: dict[Any, None] = {}
    for connection in found:
        if not connector.may_call(connection):
            continue
        if connection.secret is not None and not connection.secret.namespace:
            continue  # LGCRON_API_KEY_SECRET lives in each resource's namespace: none to read here
        try:
            clients[await connector.client_for(connection, allow_last_known=True)] = None
        except (SecretNotFound, KubernetesApiError, InvalidSpec):
            continue
    return list(clients)
