"""The operator's own small Kubernetes client: Secrets it reads and status it writes outside kopf.

Built on the official (synchronous) client and run in worker threads, so it works with any
kubeconfig auth and never blocks the operator's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from langgraph_cron.models import GROUP, PLURAL, VERSION


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
        super().__init__(f"Kubernetes API {method} {path}: HTTP {status}: {detail[:500]}")
        # 400/422: the object itself is invalid (e.g. an unknown timeZone); retrying cannot help.
        self.permanent = status in (400, 422)
        self.reason = "KubernetesRejected" if self.permanent else "KubernetesError"


def load_api_client() -> kubernetes.client.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG (what `lgcron run` documents)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


def _path(api_version: str, plural: str, namespace: str, name: str | None = None) -> str:
    prefix = "/api/" if "/" not in api_version else "/apis/"
    return prefix + "/".join(p for p in (api_version, "namespaces", namespace, plural, name) if p)


class KubeClient:
    """Plain-JSON access: objects stay dicts, as the pure builders produce and read them."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._api = api_client
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._custom = kubernetes.client.CustomObjectsApi(api_client)

    def _request_blocking(
        self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        """One request; None on 404; ApiException on any other error."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self._api.param_serialize(
            method, path, query_params=list((query or {}).items()), header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(method, url, header_params=headers, body=body)
        text = response.read().decode()
        if response.status == 404:
            return None
        if response.status >= 400:
            raise KubernetesApiError(method, path, response.status, text)
        return json.loads(text) if text else {}

    async def _request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._request_blocking, method, path, body, **kwargs)

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
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise SecretNotFound(f"Secret {namespace}/{name} not found") from None
            if exc.status == 403:
                raise SecretNotFound(f"Secret {namespace}/{name} cannot be read: forbidden (check RBAC)") from None
            raise SecretNotFound(f"Secret {namespace}/{name} cannot be read: HTTP {exc.status}") from None
        encoded = (secret.data or {}).get(key)
        if encoded is None:
            raise SecretNotFound(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(encoded).decode().strip()

    async def patch_status(self, namespace: str, name: str, status_patch: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status_patch},
        )
