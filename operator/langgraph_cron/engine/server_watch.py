"""Server objects as the operator watches them: a check (engine/servers.py) and what follows from it:
the crons that wait on a server are requeued when its health changes, the crons that refer to it
after any change of it, and its deletion is held while a cron may still need its key."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langgraph_cron.core.connections import (
    ServerHealth,
    ServerKey,
    uses_namespace_labels,
)
from langgraph_cron.core.models import CLUSTER_SERVER_KIND
from langgraph_cron.engine.runtime import Runtime
from langgraph_cron.engine.servers import referred_servers, referrers

logger = logging.getLogger(__name__)


def is_ready(body: Mapping[str, Any]) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def health_changed(before: ServerHealth | None, now: ServerHealth) -> bool:
    """A first check, a new reason or Ready now: the crons waiting on it say the news (and heal)."""
    return before is None or (before.ready, before.reason) != (now.ready, now.reason)


async def check(runtime: Runtime, server: dict[str, Any], *, requeue_all: bool) -> None:
    """Check a server object and requeue the crons that refer to it: all of them after a change of the
    object (its URL, key or conditions may have changed), else those not Ready when its health changed."""
    before, health = await runtime.servers.check_and_store(server, runtime.registry.values())
    # The crons are read after the check, not before: a cron applied together with its server reaches
    # the registry while the check is under way, and must be requeued by it (its own first reconcile
    # may have run before the check was stored).
    users = referrers(ServerKey.of_body(server), runtime.registry.values())
    changed = health_changed(before, health)
    if requeue_all:
        runtime.requeue(users)
    elif changed:
        runtime.requeue([body for body in users if not is_ready(body)])
    if changed:
        runtime.writer.post_raw(server, "Normal" if health.ready else "Warning", health.reason, health.message)


async def check_all(runtime: Runtime) -> None:
    """The resync interval's check of every server object."""
    for server in runtime.servers.directory.servers.values():
        if server["metadata"].get("deletionTimestamp"):
            continue
        try:
            await check(runtime, dict(server), requeue_all=False)
        except Exception:  # one server's surprise must not stop the others' checks
            logger.exception("check of %s failed", ServerKey.of_body(server))


def namespace_labels_changed(runtime: Runtime, namespace: str, before: Mapping[str, str] | None,
                             after: Mapping[str, str]) -> None:
    """A namespace's labels changed: requeue its crons that refer to a server with a namespaceSelector."""
    if before is None or dict(before) == dict(after):
        return
    affected = []
    for body in runtime.registry.values():
        if body["metadata"]["namespace"] != namespace:
            continue
        for key in referred_servers(body):
            server = runtime.servers.directory.server(key)
            if key.kind == CLUSTER_SERVER_KIND and server is not None and uses_namespace_labels(server):
                affected.append(body)
                break
    runtime.requeue(affected)


async def hold_while_used(runtime: Runtime, server: dict[str, Any]) -> str | None:
    """A server object's key is what deletes its crons: its deletion waits until no LangGraphCron uses
    it. The message to hold it with (an Event per change of the count), or None when it may go."""
    key = ServerKey.of_body(server)
    users = await runtime.servers.hold_while_used(server, runtime.registry.values())
    if users:
        shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        message = f"deletion held: {len(users)} LangGraphCron(s) still refer to it: {shown}"
        if runtime.held_servers.get(key) != len(users):  # an Event per change, not per look
            runtime.writer.post_raw(server, "Warning", "InUse", message)
            runtime.held_servers[key] = len(users)
        return message
    runtime.held_servers.pop(key, None)
    runtime.service.invalidate_server(key)
    return None
