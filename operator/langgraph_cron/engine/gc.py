"""The operator's periodic garbage collection of orphaned crons (LGCRON_GC_INTERVAL): which servers
to look at, and the deletions, each re-checked against the API first. The decision is core/orphans.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from langgraph_cron.clients.agent_server import (
    AgentServerError,
    CronNotFound,
)
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core.models import GROUP, KIND, VERSION
from langgraph_cron.core.orphans import find_orphans, tag_of
from langgraph_cron.core.spec import (
    CLUSTER_KEY,
    NAME_KEY,
    NAMESPACE_KEY,
    UID_KEY,
)

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
    from langgraph_cron.core.connections import (
        Connection,
        default_connection,
        server_connection,
        url_may_be_called,
    )
    from langgraph_cron.core.objects import CronObject
    from langgraph_cron.core.spec import InvalidSpec

    found: dict[Connection, None] = {}
    for body in bodies:
        obj = CronObject.from_body(body)
        spec, target = service._deletion_target(obj)
        if target is not None:
            found[target] = None
        if obj.status.server_url:
            found[service.bound_connection(obj, obj.status.server_url, spec)] = None
    for server in list(getattr(service.servers, "servers", {}).values()):
        try:
            found[server_connection(server, service.settings)] = None
        except InvalidSpec:
            continue
    settings = service.settings
    if settings.server_url and not any(c.url == settings.server_url for c in found):
        found[default_connection(settings, "")] = None
    clients: dict[Any, None] = {}
    for connection in found:
        if not url_may_be_called(connection, settings):
            continue
        if connection.secret is not None and not connection.secret.namespace:
            continue  # LGCRON_API_KEY_SECRET lives in each resource's namespace: none to read here
        try:
            clients[await service.client_for(connection, allow_last_known=True)] = None
        except (SecretNotFound, KubernetesApiError, InvalidSpec):
            continue
    return list(clients)


async def collect_forever(memo: Any) -> None:
    """The operator's GC loop."""

    def post_event(ref: dict[str, Any], reason: str, message: str) -> None:
        # The resource is gone, so the Event names it by its old name and uid in its namespace:
        # `kubectl get events -n NS --field-selector involvedObject.name=NAME` finds it.
        memo.events.post(ref, "Normal", reason, message)

    while True:
        await asyncio.sleep(memo.service.settings.gc_interval)
        try:
            await gc_pass(memo.service, memo.kube, memo.registry, clusterwide=memo.clusterwide, post_event=post_event)
        except Exception:  # a bad pass must not end garbage collection for good
            logger.exception("garbage collection pass failed")
