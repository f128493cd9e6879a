"""The connector: the one way from a LangGraphCron (or a server object) to an Agent Server client.

The operator, the file-mode CLI and every `lgcron` command that talks to a cluster's servers come
through here, so all of them honour the same rules:

* which server and which key: decided by core/connections.py (a key only ever goes to the URL it is
  bound to), read here from Kubernetes Secrets (never from anywhere else);
* the server object's CA (`caBundle` / `caBundleRef`), its `requestTimeoutSeconds` and its
  `maxConcurrentRequests` (one gate per URL: at most that many requests in flight);
* one cached client per (URL, key, CA, timeout): building one parses the URL, on every reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Protocol, runtime_checkable

import httpx

from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core import connections
from langgraph_cron.core.connections import (
    Connection,
    NoServers,
    ServerKey,
    ServerLookup,
)
from langgraph_cron.core.models import CLUSTER_SERVER_KIND, LangGraphCronSpec, ServerObjectRef
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.server_lookup import ServerDirectory
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import InvalidSpec, parse_spec

logger = logging.getLogger(__name__)

# Keys rotate: clients of old keys must not pile up.
MAX_CACHED_CLIENTS = 256


class SecretReader(Protocol):
    """What the connector reads from Kubernetes (clients.kube.KubeClient has it)."""

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str: ...
    async def read_configmap_value(self, namespace: str, name: str, key: str) -> str: ...


@runtime_checkable
class ObjectReader(Protocol):
    """What the operator's connector also reads, for what its watches have not delivered yet."""

    async def get_server_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...
    async def namespace_labels(self, name: str) -> dict[str, str] | None: ...


class Connector:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None, kube: SecretReader | None = None,
                 servers: ServerLookup | None = None) -> None:
        self.settings = settings
        self._owns_http = http is None
        self.http = http or make_http_client(verify=settings.tls_verify, timeout=settings.request_timeout)
        # None: no Kubernetes (file mode): only LGCRON_API_KEY, and only where the operator's key is bound.
        self.kube = kube
        # Server objects and namespace labels: the operator's watch, a CLI's reads, or none (file mode).
        self.servers: ServerLookup = servers or NoServers()
        # Last key read per Secret: lets a deletion finish after its namespace's Secret is gone.
        self._last_known_keys: dict[tuple[str, str, str], str] = {}
        self._gates: dict[str, tuple[int, asyncio.Semaphore]] = {}  # per URL: (size, gate)
        self._clients: dict[tuple[str, str | None, str | None, float | None], AgentServerClient] = {}
        self._ca_clients: dict[str, httpx.AsyncClient] = {}  # by CA bundle digest

    # ------------------------------------------------------------ where (pure decisions)

    def resolve(self, spec: LangGraphCronSpec, namespace: str, *, require_ready: bool = True) -> Connection:
        """Where this spec's cron lives and the credential bound there (ServerNotFound, ServerNotReady,
        ServerNotAllowed or InvalidSpec before any request)."""
        return connections.resolve(spec, namespace, self.servers, self.settings, require_ready=require_ready)

    def bound(self, url: str, made_via: ServerObjectRef | None, namespace: str,
              spec: LangGraphCronSpec | None) -> Connection:
        """The connection for crons a resource may have left on `url` (see connections.bound_connection)."""
        return connections.bound_connection(url, made_via, namespace, spec, self.servers, self.settings)

    def deletion_target(self, raw_spec: dict[str, Any], namespace: str) -> tuple[LangGraphCronSpec | None, Connection | None]:
        """The spec (if valid) and where it names, for deleting its crons: a server object that exists
        and allows the cron is enough, Ready or not."""
        try:
            spec = parse_spec(raw_spec)
        except InvalidSpec:
            return None, None
        try:
            return spec, self.resolve(spec, namespace, require_ready=False)
        except InvalidSpec:
            return spec, None

    async def look_up_unseen(self, obj: CronObject) -> None:
        """Read from the API the server objects this cron names or has a cron through, and its namespace's
        labels, that the operator's watches have not delivered yet (core/server_lookup.py says why).
        A failed read changes nothing: the cron is resolved on what the watches delivered, as before."""
        directory = self.servers
        if not isinstance(directory, ServerDirectory) or not isinstance(self.kube, ObjectReader):
            return  # a CLI's lookup is read whole beforehand; file mode has none
        namespace = obj.identity.namespace
        keys = {key for key in (ServerKey.of_raw(obj.raw_spec.get("serverRef"), namespace),
                                obj.status.server_ref and ServerKey.of(obj.status.server_ref, namespace)) if key}
        try:
            for key in directory.unseen(keys):
                body = await self.kube.get_server_object(key.plural, key.namespace, key.name)
                directory.looked_up_server(key, None if body is None else {**body, "kind": key.kind})
            servers = [directory.server(key) for key in keys if key.kind == CLUSTER_SERVER_KIND]
            if directory.labels_unseen(namespace) and any(s and connections.uses_namespace_labels(s) for s in servers):
                directory.looked_up_labels(namespace, await self.kube.namespace_labels(namespace))
        except KubernetesApiError as exc:
            logger.debug("%s/%s: could not read what the watch has not delivered yet: %s",
                         namespace, obj.identity.name, exc)

    def for_server_object(self, body: Any) -> Connection:
        """The connection a server object itself binds (what its check uses)."""
        return connections.server_connection(body, self.settings)

    def may_call(self, connection: Connection) -> bool:
        return connections.url_may_be_called(connection, self.settings)

    # ------------------------------------------------------------ credentials and clients

    async def api_key(self, connection: Connection, *, allow_last_known: bool = False) -> str | None:
        """The API key bound to this connection, or None."""
        secret = connection.secret
        if secret is None or self.kube is None:
            # No Secret bound, or no Kubernetes: LGCRON_API_KEY, and only where the operator's key is bound.
            if not connection.operator_key or self.settings.api_key is None:
                return None
            return self.settings.api_key.get_secret_value()
        cache_key = (secret.namespace, secret.name, secret.key)
        try:
            value = await self.kube.read_secret_value(secret.namespace, secret.name, secret.key)
        except SecretNotFound:
            if allow_last_known and cache_key in self._last_known_keys:
                return self._last_known_keys[cache_key]
            raise
        self._last_known_keys[cache_key] = value
        return value

    async def ca_bundle(self, connection: Connection) -> str | None:
        if connection.ca_bundle_ref is None or self.kube is None:
            return connection.ca_bundle
        ref = connection.ca_bundle_ref
        try:
            if ref.kind == "Secret":
                return await self.kube.read_secret_value(ref.namespace, ref.name, ref.key)
            return await self.kube.read_configmap_value(ref.namespace, ref.name, ref.key)
        except SecretNotFound as exc:
            raise SecretNotFound(f"caBundleRef: {exc}") from None

    async def client_for(self, connection: Connection, *, allow_last_known: bool = False) -> AgentServerClient:
        """A client of this connection, with the key and the CA bound to it."""
        key = await self.api_key(connection, allow_last_known=allow_last_known)
        return self.client(connection, key, ca_pem=await self.ca_bundle(connection))

    def client(self, connection: Connection | str, api_key: str | None, *, ca_pem: str | None = None) -> AgentServerClient:
        """The client of one server and key, kept."""
        if isinstance(connection, str):
            connection = Connection(url=connection)
        identity = (connection.url, api_key, connections.ca_digest(ca_pem), connection.timeout)
        client = self._clients.get(identity)
        if client is None:
            if len(self._clients) >= MAX_CACHED_CLIENTS:
                self._clients.clear()
            client = self._clients[identity] = AgentServerClient(
                self._http_for(ca_pem), connection.url, api_key, gate=self._gate(connection), timeout=connection.timeout
            )
        return client

    def _gate(self, connection: Connection) -> asyncio.Semaphore:
        size = connection.max_concurrency or self.settings.server_concurrency
        known = self._gates.get(connection.url)
        if known is None or known[0] != size:
            known = self._gates[connection.url] = (size, asyncio.Semaphore(size))
        return known[1]

    def _http_for(self, ca_pem: str | None) -> httpx.AsyncClient:
        """The shared HTTP client, or one that trusts a server object's own CA bundle."""
        if ca_pem is None:
            return self.http
        digest = connections.ca_digest(ca_pem) or ""
        http = self._ca_clients.get(digest)
        if http is None:
            try:
                context = ssl.create_default_context(cadata=ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise InvalidSpec(f"caBundle: not a PEM CA certificate bundle ({type(exc).__name__})") from None
            http = self._ca_clients[digest] = make_http_client(
                verify=context, timeout=self.settings.request_timeout, hooks=self.http.event_hooks
            )
        return http

    async def aclose(self) -> None:
        for http in self._ca_clients.values():
            await http.aclose()
        self._ca_clients.clear()
        if self._owns_http:
            await self.http.aclose()

