"""LangGraphServer and ClusterLangGraphServer objects: their checks, their status, who uses them.

The decisions (which connection, which namespaces, what status) are in connections.py; this module
does the I/O around them for the kopf handlers: it checks a server (GET /ok, GET /info, one
authenticated count), writes its status, and finds the LangGraphCrons that refer to it, which the
handlers then requeue or wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    ServerUnavailable,
    Unauthorized,
)
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core import connections
from langgraph_cron.core.connections import ServerHealth, ServerKey
from langgraph_cron.core.server_lookup import ServerDirectory
from langgraph_cron.core.server_status import server_status_patch
from langgraph_cron.core.spec import CLUSTER_KEY, InvalidSpec, ServerNotAllowed
from langgraph_cron.engine.service import CronService

logger = logging.getLogger(__name__)


def referred_servers(body: Mapping[str, Any]) -> set[ServerKey]:
    """The server objects a LangGraphCron names (spec.serverRef) or has a cron through (status.serverRef)."""
    namespace = body["metadata"]["namespace"]
    keys = {
        ServerKey.of_raw((body.get("spec") or {}).get("serverRef"), namespace),
        ServerKey.of_raw((body.get("status") or {}).get("serverRef"), namespace),
    }
    keys.discard(None)
    return keys  # type: ignore[return-value]


def referrers(key: ServerKey, crons: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [body for body in crons if key in referred_servers(body)]


# A cron stuck on one of these never made a cron through its server: it needs no key from it.
_NEVER_MADE_ONE = {"ServerNotAllowed", "ServerNotFound", "InvalidSpec"}


def holders(key: ServerKey, crons: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The crons whose deletion may still need this server's key: made through it (status.serverRef),
    or naming it and allowed to use it. A cron its conditions refuse holds nothing, so a tenant cannot
    keep an admin's server from being deleted."""
    found = []
    for body in crons:
        status = body.get("status") or {}
        namespace = body["metadata"]["namespace"]
        if ServerKey.of_raw(status.get("serverRef"), namespace) == key:
            found.append(body)
            continue
        if ServerKey.of_raw((body.get("spec") or {}).get("serverRef"), namespace) != key:
            continue
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
        if ready is None or ready.get("reason") not in _NEVER_MADE_ONE:
            found.append(body)
    return found


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, Unauthorized):
        return "Forbidden" if getattr(exc, "status_code", None) == 403 else "Unauthorized"
    text = str(exc)
    if "TLS" in text or "SSL" in text or "certificate" in text:
        return "TLSError"
    if isinstance(exc, ServerUnavailable):
        status = getattr(exc, "status_code", None)
        return "ServerError" if status else "Unreachable"
    return getattr(exc, "reason", "Error")


async def check_server(client: AgentServerClient, *, cluster_id: str) -> tuple[bool, str, str, str | None, int | None]:
    """GET /ok, GET /info (the version, if offered) and one authenticated count of this cluster's
    crons: (ready, reason, message, version, cron count). Never raises for a server's failure."""
    try:
        await client.ok()
        version = await client.version()
        count = await client.count(metadata={CLUSTER_KEY: cluster_id})
    except AgentServerError as exc:
        return False, _failure_reason(exc), str(exc), None, None
    return True, "Connected", "GET /ok and an authenticated POST /runs/crons/count succeeded", version, count



class ServerService:
    def __init__(self, crons: CronService, directory: ServerDirectory, kube: Any) -> None:
        self.crons = crons
        self.directory = directory
        self.kube = kube

    async def check(self, body: Mapping[str, Any], now: datetime) -> ServerHealth:
        """Measure one server object: never raises for what is wrong with it, says it instead."""
        generation = body["metadata"].get("generation")
        url = (body.get("spec") or {}).get("url") or ""
        try:
            connection = self.crons.connector.for_server_object(body)
            client = await self.crons.connector.client_for(connection)
        except ServerNotAllowed as exc:
            return ServerHealth(generation, url, False, "NotAllowed", str(exc), checked_at=now)
        except InvalidSpec as exc:
            return ServerHealth(generation, url, False, "InvalidSpec", str(exc), checked_at=now)
        except SecretNotFound as exc:
            return ServerHealth(generation, url, False, "SecretNotFound", str(exc), checked_at=now)
        ready, reason, message, version, count = await check_server(
            client, cluster_id=self.crons.settings.cluster_id
        )
        return ServerHealth(generation, url, ready, reason, message, version, count, checked_at=now)

    async def check_and_store(
        self, body: Mapping[str, Any], crons: Iterable[Mapping[str, Any]], *, deleting: bool = False
    ) -> tuple[ServerHealth | None, ServerHealth]:
        """Check, remember the result, write the status. Returns (the health before, the health now)."""
        key = ServerKey.of_body(body)
        before = connections.current_health(body, self.directory.checks.get(key))
        now = self.crons.clock()
        health = await self.check(body, now)
        self.directory.checks[key] = health
        self.crons.invalidate_server(key)
        in_use = len(holders(key, crons))
        await self._write_status(key, server_status_patch(body, health, in_use=in_use, now=now,
                                                                      deleting=deleting))
        if before is None or (before.ready, before.url) != (health.ready, health.url):
            level = logging.INFO if health.ready else logging.WARNING
            logger.log(level, "%s: %s: %s", key, health.reason, health.message)
        return before, health

    async def hold_while_used(self, body: Mapping[str, Any], crons: Iterable[Mapping[str, Any]]) -> list[str]:
        """The LangGraphCrons that still refer to a server object being deleted (ns/name), with its
        status saying so; empty when it may go."""
        key = ServerKey.of_body(body)
        users = holders(key, crons) or holders(key, await self._crons_in_api(key))
        if users:
            health = connections.current_health(body, self.directory.checks.get(key)) or ServerHealth(
                body["metadata"].get("generation"), (body.get("spec") or {}).get("url") or "", False, "Unchecked",
                "not checked yet",
            )
            await self._write_status(key, server_status_patch(
                body, health, in_use=len(users), now=self.crons.clock(), deleting=True))
        else:
            self.directory.checks.pop(key, None)
        return [f"{b['metadata']['namespace']}/{b['metadata']['name']}" for b in users]

    async def _crons_in_api(self, key: ServerKey) -> list[dict[str, Any]]:
        """The LangGraphCrons the API has, before a server object is let go: the watch may not have
        delivered every cron yet (after a start, kopf hands objects over in any order), and a server
        let go too early takes with it the key its crons' deletions need. A refused list (a namespaced
        operator's RBAC) leaves the watch's verdict."""
        try:
            return await self.kube.list_langgraphcrons(key.namespace)
        except KubernetesApiError as exc:
            logger.warning("%s: cannot list LangGraphCrons to confirm that none uses it (%s); "
                           "going by the ones this operator has seen", key, exc)
            return []

    async def _write_status(self, key: ServerKey, patch: dict[str, Any]) -> None:
        try:
            await self.kube.patch_server_status(key.plural, key.namespace, key.name, patch)
        except KubernetesApiError as exc:  # the next check writes it again
            logger.warning("cannot write the status of %s: %s", key, exc)
