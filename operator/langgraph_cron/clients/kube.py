"""The operator's own small Kubernetes client: Secrets it reads and status it writes outside kopf.

Async, on aiohttp (which kopf already uses), with the credentials kopf's own login functions find:
the in-cluster service account, else the kubeconfig. The official `kubernetes` library is needed
only for kubeconfigs that run a program or plugin to get a token (exec, auth-provider, tokenFile):
`uses_client_library()` says when, and importing the package (`langgraph_cron/__init__.py`) keeps
kopf from loading it otherwise (kopf imports it eagerly when installed: about 13 MB of RSS).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from langgraph_cron.core.models import GROUP, PLURAL, VERSION

logger = logging.getLogger(__name__)


class SecretNotFound(Exception):
    """The API-key Secret (or its key) cannot be read. The message never contains a value."""

    reason = "SecretNotFound"


class KubernetesApiError(Exception):
    """The Kubernetes API refused or failed a request about an object the operator manages."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        detail = body
        try:
            detail = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            pass
        self.status = status
        outcome = f"HTTP {status}" if status else "no response"  # 0: the request never got an answer
        super().__init__(f"Kubernetes API {method} {path}: {outcome}: {detail[:500]}")
        # 400/422: the object itself is invalid (e.g. an unknown timeZone); retrying cannot help.
        self.permanent = status in (400, 422)
        self.reason = "KubernetesRejected" if self.permanent else "KubernetesError"


class Endpoint(Protocol):
    """Where and how to reach the Kubernetes API (kopf's ConnectionInfo is one; see controller/login.py
    for the operator's and clients/kubeconfig.py for the CLI's)."""

    server: str
    proxy_url: str | None
    trust_env: bool

    def as_ssl_context(self) -> ssl.SSLContext: ...
    def as_http_headers(self) -> dict[str, str]: ...


def uses_client_library() -> bool:
    """Whether the credentials need the official client: a kubeconfig user that gets its token from
    a program, a plugin or a file. A service account, a static token or a client certificate do not.
    (Read before kopf is imported: see controller/__init__.py.)"""
    if os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token") and "KUBERNETES_SERVICE_HOST" in os.environ:
        return False
    import yaml

    paths = [os.path.expanduser(p.strip()) for p in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)]
    try:
        with open(next(p for p in paths if p)) as f:
            config = yaml.safe_load(f) or {}
        context = next(c["context"] for c in config.get("contexts") or [] if c["name"] == config.get("current-context"))
        user = next(u.get("user") or {} for u in config.get("users") or [] if u["name"] == context["user"])
    except (OSError, StopIteration, KeyError, TypeError, yaml.YAMLError):
        return False
    return any(key in user for key in ("exec", "auth-provider", "tokenFile"))


def _path(api_version: str, plural: str, namespace: str, name: str | None = None) -> str:
    prefix = "/api/" if "/" not in api_version else "/apis/"
    return prefix + "/".join(p for p in (api_version, "namespaces", namespace, plural, name) if p)


class KubeClient:
    """Plain-JSON access: objects stay dicts, as the pure builders produce and read them.

    `login` is called for the first request and again after a 401 (a service-account token is
    rotated on disk): no credential is cached beyond the session that uses it.
    """

    def __init__(self, login: Callable[[], Endpoint], *, timeout: float = 30.0) -> None:
        self._login = login
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._server = ""

    def _connect(self) -> aiohttp.ClientSession:
        info = self._login()
        self._server = info.server.rstrip("/")
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=info.as_ssl_context(), limit=20),
            headers={**info.as_http_headers(), "User-Agent": "lgcron-operator"},
            proxy=info.proxy_url, trust_env=info.trust_env,  # basic auth, if any, is in the headers
            timeout=self._timeout,
        )

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        """One request; None on 404; KubernetesApiError on any other error or no answer."""
        for attempt in (1, 2):
            if self._session is None:
                self._session = self._connect()
            try:
                async with self._session.request(
                    method, self._server + path, params=query,
                    data=None if body is None else json.dumps(body),
                    headers={"Accept": "application/json", "Content-Type": content_type},
                ) as response:
                    text = await response.text()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise KubernetesApiError(method, path, 0, f"{type(exc).__name__}: {exc}") from None
            if response.status == 401 and attempt == 1:
                await self.close()  # log in again: the token may have been rotated
                continue
            if response.status == 404:
                return None
            if response.status >= 400:
                raise KubernetesApiError(method, path, response.status, text)
            return json.loads(text) if text else {}
        raise AssertionError("unreachable")

    async def namespace_uid(self, name: str) -> str | None:
        """The UID of a namespace, or None when it is missing or unreadable."""
        try:
            namespace = await self._request("GET", f"/api/v1/namespaces/{name}")
        except KubernetesApiError:
            return None
        return namespace["metadata"].get("uid") if namespace else None

    # LangGraphCrons

    async def get_langgraphcron(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._request("GET", _path(f"{GROUP}/{VERSION}", PLURAL, namespace, name))

    async def patch_status(self, namespace: str, name: str, status_patch: dict[str, Any]) -> None:
        """Merge-patch the status; a resource deleted meanwhile is no error (404 -> nothing to do)."""
        await self._request(
            "PATCH", _path(f"{GROUP}/{VERSION}", PLURAL, namespace, name) + "/status", {"status": status_patch},
            content_type="application/merge-patch+json",
        )

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._request("POST", f"/api/v1/namespaces/{namespace}/events", event)

    # CronJobs and their Jobs (the cronJob backend)

    async def get_cronjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._request("GET", _path("batch/v1", "cronjobs", namespace, name))

    async def create_cronjob(self, cronjob: dict[str, Any]) -> dict[str, Any]:
        created = await self._request("POST", _path("batch/v1", "cronjobs", cronjob["metadata"]["namespace"]), cronjob)
        assert created is not None
        return created

    async def patch_cronjob(self, namespace: str, name: str, merge_patch: dict[str, Any]) -> dict[str, Any] | None:
        return await self._request(
            "PATCH", _path("batch/v1", "cronjobs", namespace, name), merge_patch,
            content_type="application/merge-patch+json",
        )

    async def delete_cronjob(self, namespace: str, name: str) -> None:
        # Background: the Jobs and Pods of past runs go with it (garbage collection).
        await self._request(
            "DELETE", _path("batch/v1", "cronjobs", namespace, name), {"propagationPolicy": "Background"}
        )

    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        found = await self._request("GET", _path("batch/v1", "jobs", namespace), query={"labelSelector": label_selector})
        return (found or {}).get("items") or []

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        try:
            secret = await self._request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except KubernetesApiError as exc:
            if exc.status == 403:
                raise SecretNotFound(f"Secret {namespace}/{name} cannot be read: forbidden (check RBAC)") from None
            outcome = f"HTTP {exc.status}" if exc.status else "the Kubernetes API did not answer"
            raise SecretNotFound(f"Secret {namespace}/{name} cannot be read: {outcome}") from None
        if secret is None:
            raise SecretNotFound(f"Secret {namespace}/{name} not found")
        encoded = (secret.get("data") or {}).get(key)
        if encoded is None:
            raise SecretNotFound(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(encoded).decode().strip()

    # The webhook's TLS Secret (engine/webhook_tls.py): the whole object, so a replace can carry its
    # resourceVersion and lose a race to another replica instead of overwriting its CA.

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")

    async def create_secret(self, secret: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Secret; None when one of that name exists already (409)."""
        try:
            return await self._request("POST", f"/api/v1/namespaces/{secret['metadata']['namespace']}/secrets", secret)
        except KubernetesApiError as exc:
            if exc.status == 409:
                return None
            raise

    async def replace_secret(self, secret: dict[str, Any]) -> dict[str, Any] | None:
        """Replace a Secret at its resourceVersion; None when it changed meanwhile (409)."""
        meta = secret["metadata"]
        try:
            return await self._request("PUT", f"/api/v1/namespaces/{meta['namespace']}/secrets/{meta['name']}", secret)
        except KubernetesApiError as exc:
            if exc.status == 409:
                return None
            raise

    async def create_job(self, job: dict[str, Any]) -> None:
        """Create a Job; one of that name existing already is no error (a trigger retried)."""
        try:
            await self._request("POST", _path("batch/v1", "jobs", job["metadata"]["namespace"]), job)
        except KubernetesApiError as exc:
            if exc.status != 409:
                raise

    async def read_configmap_value(self, namespace: str, name: str, key: str) -> str:
        try:
            config_map = await self._request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except KubernetesApiError as exc:
            raise SecretNotFound(f"ConfigMap {namespace}/{name} cannot be read: HTTP {exc.status}") from None
        value = ((config_map or {}).get("data") or {}).get(key)
        if value is None:
            raise SecretNotFound(f"ConfigMap {namespace}/{name} not found or has no key {key!r}")
        return value

    async def patch_server_status(self, plural: str, namespace: str | None, name: str,
                                  status_patch: dict[str, Any]) -> None:
        """Merge-patch the status of a LangGraphServer (namespace) or ClusterLangGraphServer (None)."""
        prefix = f"/apis/{GROUP}/{VERSION}"
        path = f"{prefix}/namespaces/{namespace}/{plural}/{name}" if namespace else f"{prefix}/{plural}/{name}"
        await self._request("PATCH", path + "/status", {"status": status_patch},
                            content_type="application/merge-patch+json")

    # ------------------------------------------------------------ the CLI's reads and writes (lgcron)
    # With the user's own kubeconfig (clients/kubeconfig.py). None on 404; KubernetesApiError otherwise.

    CLI_FIELD_MANAGER = "lgcron"  # every write of the CLI says so (managedFields), not OpenAPI-Generator

    async def get_namespace(self, name: str) -> dict[str, Any] | None:
        return await self._request("GET", f"/api/v1/namespaces/{name}")

    async def namespace_labels(self, name: str) -> dict[str, str] | None:
        """A namespace's labels (None: no such namespace), for a ClusterLangGraphServer's namespaceSelector.
        Read by a list narrowed to the name: the operator's RBAC has list on namespaces (kopf watches them)
        and get only on kube-system. A get where the list is refused (a person's narrower role)."""
        try:
            page = await self._request("GET", "/api/v1/namespaces", query={"fieldSelector": f"metadata.name={name}"})
            found = next(iter((page or {}).get("items") or []), None)
        except KubernetesApiError as exc:
            if exc.status != 403:
                raise
            found = await self.get_namespace(name)
        return None if found is None else dict((found.get("metadata") or {}).get("labels") or {})

    async def get_server_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A LangGraphServer (namespace) or ClusterLangGraphServer (None)."""
        prefix = f"/apis/{GROUP}/{VERSION}"
        return await self._request(
            "GET", f"{prefix}/namespaces/{namespace}/{plural}/{name}" if namespace else f"{prefix}/{plural}/{name}")

    async def list_langgraphcrons(self, namespace: str | None = None, *, page_size: int = 500,
                                  first_page_only: bool = False) -> list[dict[str, Any]]:
        """Every LangGraphCron of a namespace (None: of the cluster), page by page (or only the first:
        e.g. page_size=1 to learn whether they may be listed at all)."""
        prefix = f"/apis/{GROUP}/{VERSION}"
        path = f"{prefix}/namespaces/{namespace}/{PLURAL}" if namespace else f"{prefix}/{PLURAL}"
        items: list[dict[str, Any]] = []
        token = None
        while True:
            query = {"limit": str(page_size), **({"continue": token} if token else {})}
            page = await self._request("GET", path, query=query) or {}
            items.extend(page.get("items") or [])
            if first_page_only or not (token := (page.get("metadata") or {}).get("continue")):
                return items

    async def annotate_langgraphcron(self, namespace: str, name: str, annotations: dict[str, str | None],
                                     *, field_manager: str = CLI_FIELD_MANAGER) -> dict[str, Any] | None:
        """Merge-patch a LangGraphCron's annotations (None removes one); None when it does not exist."""
        return await self._request(
            "PATCH", _path(f"{GROUP}/{VERSION}", PLURAL, namespace, name), {"metadata": {"annotations": annotations}},
            query={"fieldManager": field_manager}, content_type="application/merge-patch+json",
        )

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._request("GET", _path("batch/v1", "jobs", namespace, name))

    async def get_path(self, path: str) -> dict[str, Any] | None:
        """GET any API path (None on 404): for `lgcron uninstall`, which walks kinds it does not model."""
        return await self._request("GET", path)

    async def delete_path(self, path: str) -> dict[str, Any] | None:
        """DELETE any API path (None on 404)."""
        return await self._request("DELETE", path)

    async def api_group(self, group_version: str = f"{GROUP}/{VERSION}") -> dict[str, Any] | None:
        """The discovery document of an API group version (None: not served, e.g. the CRDs are not installed)."""
        return await self._request("GET", f"/apis/{group_version}")
