"""Connections: which Agent Server a LangGraphCron talks to, and which credential may go there.

The rule behind everything here: a credential is only ever sent to the URL it is bound to.

* A LangGraphServer (namespaced) or ClusterLangGraphServer binds a URL to a key Secret; an admin owns
  it, and a cron names it (spec.serverRef). Its key goes to its URL, and to the URLs it had before
  (status.boundUrls, written by the operator), where crons made through it may remain.
* An inline spec.server.url gets only the key of spec.server.apiKeySecretRef (a Secret in the cron's
  own namespace), or no key at all.
* The operator-wide key (LGCRON_API_KEY, or LGCRON_API_KEY_SECRET) goes only to LGCRON_SERVER_URL, for
  crons that name no server at all.

Resolving a cron's connection is a pure function of the cron, the server objects the watch has seen
(`ServerLookup`) and the operator's settings; it raises ServerNotFound, ServerNotReady or
ServerNotAllowed before any request is sent. `check_server` is the one place a server object's
health is measured.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from langgraph_cron.core.models import (
    CLUSTER_SERVER_KIND,
    CLUSTER_SERVER_PLURAL,
    SERVER_PLURAL,
    ClusterLangGraphServerSpec,
    LangGraphCronSpec,
    LangGraphServerSpec,
    LangGraphServerStatus,
    ServerObjectRef,
)
from langgraph_cron.core.namespaces import namespace_allowed, uses_namespace_labels  # noqa: F401  (re-exported)
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import InvalidSpec, ServerNotAllowed
from langgraph_cron.core.suggest import unknown_field_message

# How many earlier URLs of a server object keep its key (for deleting crons still there).
MAX_BOUND_URLS = 5


class ServerNotFound(InvalidSpec):
    """spec.serverRef names a server object that does not exist (heals when it appears)."""

    reason = "ServerNotFound"


class ServerNotReady(InvalidSpec):
    """spec.serverRef names a server object that is not Ready (heals when it is)."""

    reason = "ServerNotReady"


class ServerNotChecked(ServerNotReady):
    """spec.serverRef names a server object the operator has not checked yet: the normal case when both
    are applied together. The cron looks again within seconds (its check is already under way)."""


@dataclass(frozen=True)
class ServerKey:
    """Which server object: kind, namespace (None for a ClusterLangGraphServer) and name."""

    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, ref: ServerObjectRef, cron_namespace: str) -> ServerKey:
        # A LangGraphServer is looked up in the cron's own namespace only: a ref has no namespace.
        return cls(ref.kind, None if ref.kind == CLUSTER_SERVER_KIND else cron_namespace, ref.name)

    @classmethod
    def of_raw(cls, raw: Any, cron_namespace: str) -> ServerKey | None:
        """The key of a serverRef as it stands in a body (spec or status), or None when it is malformed
        (that is the spec's error, said elsewhere)."""
        if not isinstance(raw, Mapping) or not raw.get("name"):
            return None
        try:
            return cls.of(ServerObjectRef.model_validate(dict(raw)), cron_namespace)
        except ValueError:
            return None

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> ServerKey:
        meta = body["metadata"]
        return cls(body.get("kind") or "", meta.get("namespace"), meta["name"])

    @property
    def plural(self) -> str:
        return CLUSTER_SERVER_PLURAL if self.kind == CLUSTER_SERVER_KIND else SERVER_PLURAL

    @property
    def ref(self) -> ServerObjectRef:
        return ServerObjectRef(kind=self.kind, name=self.name)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class SecretLocation:
    namespace: str
    name: str
    key: str


@dataclass(frozen=True)
class CaLocation:
    kind: str  # ConfigMap or Secret
    namespace: str
    name: str
    key: str


@dataclass(frozen=True)
class Connection:
    """One Agent Server URL and the credential bound to it (maybe none)."""

    url: str
    secret: SecretLocation | None = None
    # LGCRON_API_KEY may be sent (only ever true for LGCRON_SERVER_URL).
    operator_key: bool = False
    via: ServerKey | None = None  # the server object that binds them
    ca_bundle: str | None = None
    ca_bundle_ref: CaLocation | None = None
    timeout: float | None = None
    max_concurrency: int | None = None


@dataclass(frozen=True)
class ServerHealth:
    """The result of one check of a server object, for the generation and URL it checked."""

    generation: int | None
    url: str
    ready: bool
    reason: str
    message: str
    version: str | None = None
    cron_count: int | None = None
    checked_at: datetime | None = None


class ServerLookup(Protocol):
    """Server objects and namespace labels as the operator's watches last saw them."""

    def server(self, key: ServerKey) -> Mapping[str, Any] | None: ...
    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None: ...
    def health(self, key: ServerKey) -> ServerHealth | None: ...


class NoServers:
    """File mode (`lgcron apply`): server objects live in Kubernetes, so none can be named."""

    unavailable = (
        "file mode (lgcron apply/delete) cannot use server objects, which live in Kubernetes: "
        "pass --server URL instead, or apply the resource to a cluster"
    )

    def server(self, key: ServerKey) -> Mapping[str, Any] | None:
        return None

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return None

    def health(self, key: ServerKey) -> ServerHealth | None:
        return None


# ---------------------------------------------------------------- namespace conditions


def parse_server_spec(body: Mapping[str, Any]) -> LangGraphServerSpec | ClusterLangGraphServerSpec:
    """The spec of a server object; InvalidSpec naming the field when it is wrong."""
    model = ClusterLangGraphServerSpec if body.get("kind") == CLUSTER_SERVER_KIND else LangGraphServerSpec
    try:
        # Strict JSON validation by alias, as parse_spec: exactly what the CRD schema admits ("30" is no number).
        return model.model_validate_json(json.dumps(dict(body.get("spec") or {})), strict=True, by_alias=True,
                                         by_name=False)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            path = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = unknown_field_message(model, tuple(error["loc"]))
            problems.append(f"{path}: {message}")
        raise InvalidSpec("; ".join(problems)) from None


def server_status(body: Mapping[str, Any]) -> LangGraphServerStatus:
    return LangGraphServerStatus.model_validate(dict(body.get("status") or {}))


def bound_urls(body: Mapping[str, Any], spec_url: str | None, checked: ServerHealth | None = None) -> list[str]:
    """The URLs a server object's key is bound to: its URL, and the ones it had before."""
    urls = [u for u in (spec_url, checked.url if checked else None) if u]
    urls += server_status(body).bound_urls or []
    return list(dict.fromkeys(urls))[:MAX_BOUND_URLS]


def current_health(body: Mapping[str, Any], checked: ServerHealth | None) -> ServerHealth | None:
    """The latest check that is about this object's current generation and URL: this process's own,
    else the one its status records (so a restart does not make every cron wait for a new check)."""
    generation = body["metadata"].get("generation")
    url = (body.get("spec") or {}).get("url")
    if checked is not None and checked.generation == generation and checked.url == url:
        return checked
    status = server_status(body)
    ready = status.condition("Ready")
    if ready is None or status.observed_generation != generation or status.url != url:
        return None
    return ServerHealth(generation, url or "", ready.status == "True", ready.reason, ready.message,
                        status.server_version, status.cron_count)


def _server_connection(key: ServerKey, spec: LangGraphServerSpec | ClusterLangGraphServerSpec, url: str) -> Connection:
    secret = ca = None
    if spec.api_key_secret_ref is not None:
        namespace = getattr(spec.api_key_secret_ref, "namespace", None) or key.namespace or ""
        secret = SecretLocation(namespace, spec.api_key_secret_ref.name, spec.api_key_secret_ref.key)
    if spec.ca_bundle_ref is not None:
        namespace = getattr(spec.ca_bundle_ref, "namespace", None) or key.namespace or ""
        ca = CaLocation(spec.ca_bundle_ref.kind, namespace, spec.ca_bundle_ref.name, spec.ca_bundle_ref.key)
    return Connection(
        url=url, secret=secret, via=key, ca_bundle=spec.ca_bundle, ca_bundle_ref=ca,
        timeout=spec.request_timeout_seconds, max_concurrency=spec.max_concurrent_requests,
    )


def server_connection(body: Mapping[str, Any], settings: Settings) -> Connection:
    """The connection a server object itself binds (what its check uses). ServerNotAllowed for a
    namespaced server whose URL is outside LGCRON_ALLOWED_SERVER_URLS: no request goes there."""
    key = ServerKey.of_body(body)
    spec = parse_server_spec(body)
    if key.kind != CLUSTER_SERVER_KIND and not settings.server_url_allowed(spec.url):
        raise ServerNotAllowed(
            "spec.url: this Agent Server is not in the operator's LGCRON_ALLOWED_SERVER_URLS; no request was sent"
        )
    return _server_connection(key, spec, spec.url)


# ---------------------------------------------------------------- resolving a cron's connection


def resolve(
    spec: LangGraphCronSpec, namespace: str, servers: ServerLookup, settings: Settings, *, require_ready: bool = True
) -> Connection:
    """The connection a cron's spec names, or ServerNotFound/ServerNotReady/ServerNotAllowed/InvalidSpec.

    `require_ready=False` (deleting): a server that exists and allows the cron is enough.
    """
    if spec.server_ref is not None:
        return _resolve_ref(spec.server_ref, namespace, servers, settings, require_ready=require_ready)
    inline = spec.server.url if spec.server and spec.server.url else None
    own = spec.server.api_key_secret_ref if spec.server else None
    own_secret = SecretLocation(namespace, own.name, own.key) if own else None
    if inline is not None:
        if not settings.server_url_allowed(inline):
            raise ServerNotAllowed(
                "spec.server.url: this Agent Server is not in the operator's LGCRON_ALLOWED_SERVER_URLS; "
                "no request was sent (ask the operator's admin for a LangGraphServer or ClusterLangGraphServer)"
            )
        # Bound to the cron's own Secret, or to nothing: never to the operator's key.
        return Connection(url=inline, secret=own_secret)
    if settings.server_url is None:
        raise InvalidSpec(
            "spec.serverRef: not set, and the operator has no default server (LGCRON_SERVER_URL); "
            "name a LangGraphServer or ClusterLangGraphServer"
        )
    return default_connection(settings, namespace, own_secret)


def default_connection(settings: Settings, namespace: str, own_secret: SecretLocation | None = None) -> Connection:
    """LGCRON_SERVER_URL with the cron's own Secret if it names one, else the operator-wide key."""
    if own_secret is not None:
        return Connection(url=settings.server_url or "", secret=own_secret)
    operator_secret = settings.api_key_secret
    secret = SecretLocation(namespace, operator_secret.name, operator_secret.key) if operator_secret else None
    return Connection(url=settings.server_url or "", secret=secret, operator_key=secret is None)


def _resolve_ref(ref: ServerObjectRef, namespace: str, servers: ServerLookup, settings: Settings, *,
                 require_ready: bool) -> Connection:
    if isinstance(servers, NoServers):
        raise InvalidSpec(f"spec.serverRef: {NoServers.unavailable}")
    key = ServerKey.of(ref, namespace)
    body = servers.server(key)
    where = f"in namespace {namespace!r}" if key.namespace else "in the cluster"
    if body is None:
        raise ServerNotFound(f"spec.serverRef: {key.kind} {key.name!r} does not exist {where}")
    try:
        server_spec = parse_server_spec(body)
    except InvalidSpec as exc:
        raise ServerNotReady(f"spec.serverRef: {key} is invalid ({exc})") from None
    if key.kind == CLUSTER_SERVER_KIND:
        conditions = getattr(server_spec, "conditions", None)
        if not namespace_allowed(conditions, namespace, servers.namespace_labels(namespace)):
            raise ServerNotAllowed(
                f"spec.serverRef: {key} does not allow namespace {namespace!r} (its spec.conditions); "
                "no request was sent"
            )
    elif not settings.server_url_allowed(server_spec.url):
        raise ServerNotAllowed(
            f"spec.serverRef: the URL of {key} is not in the operator's LGCRON_ALLOWED_SERVER_URLS; no request was sent"
        )
    if require_ready:
        if body["metadata"].get("deletionTimestamp"):
            raise ServerNotReady(f"spec.serverRef: {key} is being deleted")
        health = current_health(body, servers.health(key))
        if health is None:
            raise ServerNotChecked(f"spec.serverRef: {key} has not been checked yet")
        if not health.ready:
            raise ServerNotReady(f"spec.serverRef: {key} is not Ready ({health.reason}: {health.message})")
    return _server_connection(key, server_spec, server_spec.url)


def bound_connection(url: str, made_via: ServerObjectRef | None, namespace: str, spec: LangGraphCronSpec | None,
                     servers: ServerLookup, settings: Settings) -> Connection:
    """The connection for crons a resource may have left on `url` (its status.serverUrl, a URL it
    used before): with the credential bound to that URL, which may be none.

    `made_via` is the server object the cron there was made through (status.serverRef). Its key
    goes only to a URL that object has or had (status.boundUrls, operator-written); the operator's
    key only to LGCRON_SERVER_URL; an inline Secret only to the spec's own inline URL.
    """
    if made_via is not None:
        key = ServerKey.of(made_via, namespace)
        body = servers.server(key)
        if body is not None:
            try:
                server_spec = parse_server_spec(body)
            except InvalidSpec:
                return Connection(url=url)
            if url in bound_urls(body, server_spec.url, servers.health(key)):
                return _server_connection(key, server_spec, url)
        return Connection(url=url)
    inline = spec.server.url if spec and spec.server and spec.server.url else None
    own = spec.server.api_key_secret_ref if spec and spec.server else None
    own_secret = SecretLocation(namespace, own.name, own.key) if own else None
    if inline is not None and url == inline:
        return Connection(url=url, secret=own_secret)
    if url == settings.server_url and inline is None:
        return default_connection(settings, namespace, own_secret)
    if url == settings.server_url:
        return default_connection(settings, namespace)
    return Connection(url=url)


def url_may_be_called(connection: Connection, settings: Settings) -> bool:
    """LGCRON_ALLOWED_SERVER_URLS limits tenant-chosen URLs: inline ones and namespaced servers'.
    A ClusterLangGraphServer's URL is an admin's choice."""
    if connection.via is not None and connection.via.kind == CLUSTER_SERVER_KIND:
        return True
    return settings.server_url_allowed(connection.url)


def ca_digest(pem: str | None) -> str | None:
    return hashlib.blake2b(pem.encode(), digest_size=16).hexdigest() if pem else None
