"""`lgcron audit`: list (and with --delete remove) this cluster's crons whose LangGraphCron no longer
exists. The decision is core/orphans.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    Cron,
    CronNotFound,
)
from langgraph_cron.core.models import GROUP, PLURAL, VERSION
from langgraph_cron.core.orphans import find_orphans, orphan_table
from langgraph_cron.core.spec import (
    CLUSTER_KEY,
)

logger = logging.getLogger(__name__)




@dataclass
class AuditResult:
    checked: int  # crons of this cluster on the server
    orphans: list[Cron]
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "CRON_ID: reason" of deletions that failed


async def run_audit(
    client: AgentServerClient,
    live_uids: Callable[[], Awaitable[Collection[str]]],
    cluster: str,
    *,
    namespaces: Collection[str] | None = None,
    delete: bool = False,
) -> AuditResult:
    # Crons first, resources second: a cron is made only after its resource exists, so any cron
    # found here has its resource in the later listing unless that resource is really gone.
    crons = await client.search_all(metadata={CLUSTER_KEY: cluster})
    orphans = find_orphans(crons, await live_uids(), cluster, namespaces=namespaces)
    result = AuditResult(checked=len(crons), orphans=orphans)
    for cron in orphans if delete else ():
        try:
            await client.delete(cron.cron_id)
        except CronNotFound:
            pass  # gone already is what we wanted
        except AgentServerError as exc:
            result.failed.append(f"{cron.cron_id}: {exc}")
            continue
        result.deleted.append(cron.cron_id)
    return result


def load_api_client() -> Any:
    """The official client: in-cluster config in a pod, else KUBECONFIG (what the command documents)."""
    import kubernetes

    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


def namespace_uid(api_client: Any, name: str) -> str | None:
    """The UID of a namespace, or None when it is missing or unreadable (the operator's rule)."""
    import kubernetes

    try:
        return kubernetes.client.CoreV1Api(api_client).read_namespace(name).metadata.uid
    except kubernetes.client.ApiException:
        return None


def list_live_uids(api_client: Any, namespaces: Collection[str] | None) -> set[str]:
    """UIDs of all LangGraphCrons (cluster-wide, or in the given namespaces), paged."""
    import kubernetes

    custom = kubernetes.client.CustomObjectsApi(api_client)
    uids: set[str] = set()
    for namespace in namespaces or [None]:
        token = None
        while True:
            paging = {"limit": 500, **({"_continue": token} if token else {})}
            if namespace:
                page = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **paging)
            else:
                page = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **paging)
            uids.update(item["metadata"]["uid"] for item in page.get("items") or [])
            if not (token := (page.get("metadata") or {}).get("continue")):
                break
    return uids


def read_server_ref(api_client: Any, ref: str) -> tuple[str, str | None]:
    """(URL, API key) of a server object named clgs/NAME or lgs/NAMESPACE/NAME, read with the
    caller's own Kubernetes credentials: the key stays bound to the object's URL."""
    import base64

    import kubernetes

    from langgraph_cron.core.connections import (
        ServerKey,
        parse_server_spec,
        server_connection,
    )
    from langgraph_cron.core.models import (
        CLUSTER_SERVER_KIND,
        CLUSTER_SERVER_PLURAL,
        SERVER_KIND,
        SERVER_PLURAL,
    )
    from langgraph_cron.core.settings import Settings

    parts = ref.split("/")
    if parts[0] in ("clgs", "clusterlanggraphserver", CLUSTER_SERVER_KIND) and len(parts) == 2:
        kind, namespace, name, plural = CLUSTER_SERVER_KIND, None, parts[1], CLUSTER_SERVER_PLURAL
    elif parts[0] in ("lgs", "langgraphserver", SERVER_KIND) and len(parts) == 3:
        kind, namespace, name, plural = SERVER_KIND, parts[1], parts[2], SERVER_PLURAL
    else:
        raise ValueError(f"--server-ref {ref!r}: expected clgs/NAME or lgs/NAMESPACE/NAME")
    objects = kubernetes.client.CustomObjectsApi(api_client)
    if namespace is None:
        body = objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
    else:
        body = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    body = {**body, "kind": kind}
    # No allowlist here: the caller chose this object, and reads its key with its own rights.
    connection = server_connection(body, Settings())
    parse_server_spec(body)
    if connection.secret is None:
        return connection.url, None
    secret = kubernetes.client.CoreV1Api(api_client).read_namespaced_secret(
        connection.secret.name, connection.secret.namespace)
    encoded = (secret.data or {}).get(connection.secret.key)
    if encoded is None:
        raise ValueError(f"{ServerKey.of_body(body)}: Secret {connection.secret.namespace}/"
                         f"{connection.secret.name} has no key {connection.secret.key!r}")
    return connection.url, base64.b64decode(encoded).decode().strip()


def command(*, server: str | None, cluster: str | None, namespaces: list[str] | None, delete: bool,
            server_ref: str | None = None) -> int:
    """`lgcron audit`: print the orphans (and delete them); 0 when none are left, 1 otherwise, 2 on errors."""
    import os
    import sys

    import httpx
    import kubernetes
    import urllib3

    from langgraph_cron.clients.agent_server import make_http_client
    from langgraph_cron.core.settings import Settings

    settings = Settings.from_env()
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if server_ref is not None:
        if server:
            raise ValueError("--server and --server-ref exclude each other")
        try:
            server, key = read_server_ref(load_api_client(), server_ref)
        except kubernetes.client.ApiException as exc:
            return _fail(f"cannot read {server_ref}: HTTP {exc.status}: {_api_message(exc)}")
    url = server or settings.server_url
    if not url:
        raise ValueError("no Agent Server: pass --server URL or set LGCRON_SERVER_URL")
    try:
        where = httpx.URL(url).copy_with(username=None, password=None)  # no credentials on screen
    except httpx.InvalidURL as exc:
        return _fail(f"invalid Agent Server URL: {exc}")

    async def audit() -> tuple[str, AuditResult]:
        api = load_api_client()
        # The operator's own derivation (handlers.start), so both agree on which crons are this cluster's.
        chosen = cluster or (settings.cluster_id if "LGCRON_CLUSTER_ID" in os.environ else None)
        if chosen is None:
            chosen = await asyncio.to_thread(namespace_uid, api, "kube-system") or settings.cluster_id
            if chosen == settings.cluster_id:
                print(f"lgcron audit: warning: cannot read namespace kube-system; using cluster id {chosen!r} "
                      "as the operator does (pass --cluster to choose)", file=sys.stderr)
        async with make_http_client(verify=settings.tls_verify, timeout=settings.request_timeout) as http:
            result = await run_audit(
                AgentServerClient(http, url, key),
                lambda: asyncio.to_thread(list_live_uids, api, namespaces),
                chosen, namespaces=namespaces, delete=delete,
            )
        return chosen, result

    try:
        chosen, result = asyncio.run(audit())
    except kubernetes.config.ConfigException as exc:
        return _fail(f"cannot load Kubernetes credentials: {exc}")
    except kubernetes.client.ApiException as exc:
        return _fail(f"cannot list LangGraphCrons: HTTP {exc.status}: {_api_message(exc)}")
    except urllib3.exceptions.HTTPError as exc:
        return _fail(f"cannot reach the Kubernetes API: {exc}")
    except AgentServerError as exc:
        return _fail(str(exc))
    if result.orphans:
        print(orphan_table(result.orphans))
    for failure in result.failed:
        print(f"lgcron audit: error: cannot delete cron {failure}", file=sys.stderr)
    scope = f"of cluster {chosen} on {where} ({result.checked} crons of this cluster checked)"
    if not result.orphans:
        print(f"no orphaned crons {scope}")
    elif delete:
        print(f"deleted {len(result.deleted)} of {len(result.orphans)} orphaned crons {scope}")
    else:
        print(f"{len(result.orphans)} orphaned crons {scope}; --delete removes them")
    return 1 if result.orphans and (not delete or result.failed) else 0


def _fail(message: str) -> int:
    import sys

    print(f"lgcron audit: error: {message}", file=sys.stderr)
    return 2


def _api_message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)

