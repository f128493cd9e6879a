"""Reaching a cluster from a laptop: the user's kubeconfig, the operator's own Kubernetes client, and
the connector to a LangGraphCron's Agent Server. Every failure becomes one `CliError` line that
names what is missing and what to set or grant, with its exit code (cli/errors.py).

What a command needs is read first (the LangGraphCron, the server object its spec or status names,
its namespace's labels if readable) and handed to the connector as a small static lookup, so the
key goes only where the operator's own rules send it (core/connections.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from langgraph_cron.cli.errors import (
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
)
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    ServerUnavailable,
    Unauthorized,
)
from langgraph_cron.clients.kube import KubeClient, KubernetesApiError, SecretNotFound
from langgraph_cron.clients.kubeconfig import (
    KubeconfigEndpoint,
    KubeconfigError,
    load_endpoint,
)
from langgraph_cron.core.connections import Connection, ServerKey
from langgraph_cron.core.server_lookup import StaticServers
from langgraph_cron.core.models import (
    CLUSTER_SERVER_KIND,
    LangGraphCronSpec,
    ServerObjectRef,
)
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import InvalidSpec, parse_spec
from langgraph_cron.engine.connector import Connector

T = TypeVar("T")


def split_ref(ref: str | None) -> tuple[str, str]:
    """NAMESPACE/NAME -> (namespace, name); a usage error otherwise."""
    parts = (ref or "").split("/")
    if len(parts) != 2 or not all(parts):
        raise CliError(f"{ref!r}: name the cron as NAMESPACE/NAME" if ref else "name the cron as NAMESPACE/NAME")
    return parts[0], parts[1]


def kube_error(exc: KubernetesApiError, server: str, *, verb: str, resource: str,
               namespace: str | None = None) -> CliError:
    """The one line for a refused or failed Kubernetes request about `resource`."""
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    if exc.status == 0:
        return CliError(f"cannot reach the Kubernetes API at {server}: {_detail(exc)}", EXIT_UNREACHABLE)
    if exc.status == 401:
        return CliError(f"the Kubernetes API at {server} does not accept your kubeconfig's credentials "
                        "(HTTP 401): log in again, or point KUBECONFIG at a current kubeconfig", EXIT_REJECTED)
    if exc.status == 403:
        return CliError(f"your kubeconfig may not {verb} {resource} {where} (HTTP 403): ask for RBAC that grants "
                        f"'{verb}' on {resource} {where}", EXIT_REJECTED)
    if exc.status in (408, 429) or exc.status >= 500:
        return CliError(f"the Kubernetes API at {server} failed to {verb} {resource} {where}: HTTP {exc.status}",
                        EXIT_UNREACHABLE)
    return CliError(f"the Kubernetes API refused to {verb} {resource} {where}: {_detail(exc)}", EXIT_REJECTED)


def _detail(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 2)[-1] if text.startswith("Kubernetes API ") else text


def secret_error(exc: SecretNotFound, connection: Connection) -> CliError:
    """An API key (or CA) Secret that cannot be read: name it and what to grant."""
    message = str(exc)
    if "did not answer" in message:
        return CliError(f"cannot read the API key: {message}", EXIT_UNREACHABLE)
    secret = connection.secret
    grant = (f"; ask for RBAC that grants 'get' on secrets/{secret.name} in namespace {secret.namespace}"
             if secret is not None and ("forbidden" in message or "HTTP 401" in message) else "")
    via = f" (the key of {connection.via})" if connection.via else ""
    return CliError(f"cannot read the API key{via}: {message}{grant}", EXIT_REJECTED)


class Cluster:
    """The user's Kubernetes API through the operator's own client (KubeClient)."""

    def __init__(self, endpoint: KubeconfigEndpoint, kube: KubeClient) -> None:
        self.endpoint = endpoint
        self.kube = kube

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls) -> AsyncIterator[Cluster]:
        try:
            endpoint = load_endpoint()
        except KubeconfigError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        async with KubeClient(lambda: endpoint) as kube:
            yield cls(endpoint, kube)

    @property
    def server(self) -> str:
        return self.endpoint.server

    async def call(self, request: Awaitable[T], *, verb: str, resource: str, namespace: str | None = None) -> T:
        try:
            return await request
        except KubernetesApiError as exc:
            raise kube_error(exc, self.server, verb=verb, resource=resource, namespace=namespace) from None

    async def get_cron(self, namespace: str, name: str) -> dict[str, Any]:
        body = await self.call(self.kube.get_langgraphcron(namespace, name), verb="get", resource="langgraphcrons",
                               namespace=namespace)
        if body is None:
            raise CliError(f"LangGraphCron {namespace}/{name} not found", EXIT_USAGE)
        return body

    async def annotate(self, namespace: str, name: str, key: str, value: str) -> dict[str, Any]:
        body = await self.call(self.kube.annotate_langgraphcron(namespace, name, {key: value}), verb="patch",
                               resource="langgraphcrons", namespace=namespace)
        if body is None:
            raise CliError(f"LangGraphCron {namespace}/{name} not found", EXIT_USAGE)
        return body

    async def server_object(self, key: ServerKey) -> dict[str, Any] | None:
        body = await self.call(self.kube.get_server_object(key.plural, key.namespace, key.name), verb="get",
                               resource=key.plural, namespace=key.namespace)
        return None if body is None else {**body, "kind": key.kind}

    async def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        """A namespace's labels, or None when they cannot be read (a ClusterLangGraphServer's
        namespaceSelector then does not match, as in the operator)."""
        try:
            return await self.kube.namespace_labels(namespace)
        except KubernetesApiError:
            return None


@dataclass
class CronServer:
    """A LangGraphCron's Agent Server: its connection, a client with the key bound to it, and how
    to explain that server's refusals."""

    connection: Connection
    client: AgentServerClient
    default_server: bool  # the operator's default server (the spec names none)
    key_sent: bool

    def error(self, exc: AgentServerError) -> CliError:
        if isinstance(exc, ServerUnavailable):
            return CliError(f"the Agent Server did not answer: {exc}", EXIT_UNREACHABLE)
        if isinstance(exc, Unauthorized) and self.default_server and not self.key_sent:
            url = self.connection.url
            return CliError(f"the Agent Server refused: HTTP {exc.status_code}: the cron uses the operator's default "
                            f"server {url}; set LGCRON_SERVER_URL={url} and LGCRON_API_KEY", EXIT_REJECTED)
        return CliError(f"the Agent Server refused: {exc}", EXIT_REJECTED)


def cron_spec(body: Mapping[str, Any]) -> LangGraphCronSpec:
    meta = body.get("metadata") or {}
    try:
        return parse_spec(body.get("spec") or {})
    except InvalidSpec as exc:
        raise CliError(f"LangGraphCron {meta.get('namespace')}/{meta.get('name')} cannot be used: {exc}",
                       EXIT_USAGE) from None


@contextlib.asynccontextmanager
async def cron_server(cluster: Cluster, body: Mapping[str, Any], settings: Settings) -> AsyncIterator[CronServer]:
    """The Agent Server of a LangGraphCron, through the connector: the server its spec names, else the
    operator's default server as its status records it (status.serverUrl)."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    spec = cron_spec(body)
    status = body.get("status") or {}
    made_via = ServerObjectRef.model_validate(status["serverRef"]) if status.get("serverRef") else None
    lookup = StaticServers()
    for ref in (spec.server_ref, made_via):
        if ref is not None and (key := ServerKey.of(ref, namespace)) not in lookup.objects:
            if (server := await cluster.server_object(key)) is not None:
                lookup.objects[key] = server
            if key.kind == CLUSTER_SERVER_KIND and (labels := await cluster.namespace_labels(namespace)) is not None:
                lookup.labels[namespace] = labels
    connector = Connector(settings, kube=cluster.kube, servers=lookup)
    try:
        if spec.server_ref is not None or (spec.server is not None and spec.server.url):
            connection = connector.resolve(spec, namespace, require_ready=False)
            default = False
        else:
            url = status.get("serverUrl")
            if not url:
                raise CliError(f"LangGraphCron {namespace}/{name} has not been reconciled yet (no status.serverUrl): "
                               "is the operator running? `kubectl describe` it for its conditions", EXIT_USAGE)
            connection = connector.bound(url, made_via, namespace, spec)
            default = made_via is None
        try:
            client = await connector.client_for(connection)
        except SecretNotFound as exc:
            raise secret_error(exc, connection) from None
        key_sent = connection.secret is not None or (connection.operator_key and settings.api_key is not None)
        yield CronServer(connection, client, default, key_sent)
    except InvalidSpec as exc:  # ServerNotFound, ServerNotAllowed, a server object that cannot be used, a bad CA
        raise CliError(f"LangGraphCron {namespace}/{name}: {exc}", EXIT_USAGE) from None
    finally:
        await connector.aclose()
