"""`lgcron history`: the last runs of one cron, with result, duration and error line.

From a cluster (NAMESPACE/NAME, read with your kubeconfig): the resource's server, with the key
bound to it (a server object's Secret or the resource's own, read with your own rights; the
operator's LGCRON_API_KEY only for LGCRON_SERVER_URL), or its Jobs for the cronJob backend. From a
file (-f, as `lgcron apply` made it): LGCRON_SERVER_URL or --server. What it lists is what the
backend keeps: spec.runHistory's limits of a stateless cron's runs, a thread cron's runs on its
thread, a CronJob's Jobs.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    make_http_client,
)
from langgraph_cron.core import history
from langgraph_cron.core.connections import (
    Connection,
    NoServers,
    ServerHealth,
    ServerKey,
    resolve,
)
from langgraph_cron.core.models import (
    CLUSTER_SERVER_KIND,
    CLUSTER_SERVER_PLURAL,
    GROUP,
    PLURAL,
    SERVER_PLURAL,
    VERSION,
    LangGraphCronSpec,
)
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import (
    NAME_KEY,
    NAMESPACE_KEY,
    UID_KEY,
    InvalidSpec,
    parse_spec,
)

COLUMNS = ("RUN", "THREAD", "RESULT", "STARTED", "DURATION", "ERROR")


class KubeServers:
    """Server objects and namespace labels read with the caller's kubeconfig (a ServerLookup)."""

    def __init__(self, api_client: Any) -> None:
        import kubernetes

        self._objects = kubernetes.client.CustomObjectsApi(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._errors = (kubernetes.client.ApiException,)

    def server(self, key: ServerKey) -> Mapping[str, Any] | None:
        try:
            if key.kind == CLUSTER_SERVER_KIND:
                body = self._objects.get_cluster_custom_object(GROUP, VERSION, CLUSTER_SERVER_PLURAL, key.name)
            else:
                body = self._objects.get_namespaced_custom_object(GROUP, VERSION, key.namespace, SERVER_PLURAL, key.name)
        except self._errors:
            return None
        return {**body, "kind": key.kind}

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        try:
            return self._core.read_namespace(namespace).metadata.labels or {}
        except self._errors:
            return None

    def health(self, key: ServerKey) -> ServerHealth | None:
        return None

    def secret(self, namespace: str, name: str, key: str) -> str:
        secret = self._core.read_namespaced_secret(name, namespace)
        encoded = (secret.data or {}).get(key)
        if encoded is None:
            raise ValueError(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(encoded).decode().strip()


def _key(connection: Connection, settings: Settings, servers: KubeServers | None) -> str | None:
    if connection.secret is not None and servers is not None:
        return servers.secret(connection.secret.namespace, connection.secret.name, connection.secret.key)
    if connection.operator_key:  # the operator-wide key, where the service would send it
        return settings.api_key.get_secret_value() if settings.api_key else None
    return None


def _row(run: history.ObservedRun) -> tuple[str, ...]:
    duration = f"{(run.finish - run.start).total_seconds():.1f}s" if run.finish else "-"
    return (run.run_id or run.job_name or "-", run.thread_id or "-", run.result, _when(run.start), duration,
            run.error or "")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def table(runs: list[history.ObservedRun], limit: int) -> str:
    rows = [COLUMNS] + [_row(run) for run in sorted(runs, key=lambda r: r.start, reverse=True)[:limit]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join("   ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip() for row in rows)


async def server_runs(client: AgentServerClient, spec: LangGraphCronSpec, tags: dict[str, str]) -> list[history.ObservedRun]:
    """The runs the server keeps for this cron: a thread cron's on its thread, else its kept threads'."""
    if spec.thread_id:
        raw = await client.thread_runs_raw(spec.thread_id, limit=100)
        return [run for run in (history.run_from_raw(r) for r in raw if _tagged(r, tags)) if run is not None]
    threads = await client.search_threads_raw(
        metadata=tags, limit=100, select=["thread_id", "status", "metadata", "created_at", "updated_at"])
    runs = []
    for thread in threads:
        for raw in await client.thread_runs_raw(thread["thread_id"], limit=10):
            run = history.run_from_raw(raw)
            if run is not None and run.failed:
                run = history.with_error(run, await client.get_thread_raw(thread["thread_id"]),
                                         secrets=client.secret_values)
            if run is not None:
                runs.append(run)
    return runs


def _tagged(run: Mapping[str, Any], tags: dict[str, str]) -> bool:
    metadata = run.get("metadata") or {}
    return all(metadata.get(k) == v for k, v in tags.items())


def command(*, ref: str | None, filenames: list[str] | None, server: str | None, limit: int) -> int:
    settings = Settings.from_env()
    if server:
        settings = settings.model_copy(update={"server_url": server})
    try:
        if filenames:
            runs = asyncio.run(_from_files(filenames, settings))
        else:
            if not ref or ref.count("/") != 1:
                raise ValueError("name the cron as NAMESPACE/NAME, or give -f FILE")
            runs = asyncio.run(_from_cluster(ref, settings))
    except (ValueError, InvalidSpec, AgentServerError) as exc:
        print(f"lgcron history: error: {exc}", file=sys.stderr)
        return 2
    print(table(runs, limit) if runs else "no runs kept (see spec.runHistory; a cron that has not run yet has none)")
    return 0


async def _from_files(filenames: list[str], settings: Settings) -> list[history.ObservedRun]:
    from langgraph_cron.core import files

    documents = files.load_documents(filenames)
    if len(documents) != 1:
        raise ValueError(f"-f must name exactly one LangGraphCron, found {len(documents)}")
    [document] = documents
    spec = files.check(document)
    connection = resolve(spec, document.namespace, NoServers(), settings)
    async with make_http_client(verify=settings.tls_verify, timeout=settings.request_timeout) as http:
        client = AgentServerClient(http, connection.url, _key(connection, settings, None))
        return await server_runs(client, spec, {NAMESPACE_KEY: document.namespace, NAME_KEY: document.name})


def client_for_resource(api: Any, namespace: str, name: str,
                        settings: Settings | None = None) -> tuple[Settings, Connection, str | None]:
    """(settings, connection, API key) of a LangGraphCron's server, read with the caller's kubeconfig:
    the same binding of key to URL as the operator's."""
    import kubernetes

    settings = settings or Settings.from_env()
    try:
        body = kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except kubernetes.client.ApiException as exc:
        raise ValueError(f"cannot read LangGraphCron {namespace}/{name}: HTTP {exc.status}") from None
    spec = parse_spec(body.get("spec") or {})
    servers = KubeServers(api)
    connection = resolve(spec, namespace, servers, settings, require_ready=False)
    try:
        key = _key(connection, settings, servers)
    except kubernetes.client.ApiException as exc:
        raise ValueError(f"cannot read the API key Secret: HTTP {exc.status}") from None
    return settings, connection, key


async def _from_cluster(ref: str, settings: Settings) -> list[history.ObservedRun]:
    import kubernetes

    from langgraph_cron.cli.audit import load_api_client

    namespace, name = ref.split("/")
    api = load_api_client()
    try:
        body = kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except kubernetes.client.ApiException as exc:
        raise ValueError(f"cannot read LangGraphCron {ref}: HTTP {exc.status}") from None
    uid = body["metadata"]["uid"]
    spec = parse_spec(body.get("spec") or {})
    if spec.backend == "cronJob":
        jobs = kubernetes.client.BatchV1Api(api).list_namespaced_job(namespace, label_selector=f"lgcron.io/uid={uid}")
        return history.runs_from_jobs([api.sanitize_for_serialization(job) for job in jobs.items])
    settings, connection, key = client_for_resource(api, namespace, name, settings)
    async with make_http_client(verify=settings.tls_verify, timeout=settings.request_timeout) as http:
        client = AgentServerClient(http, connection.url, key)
        return await server_runs(client, spec, {UID_KEY: uid})
