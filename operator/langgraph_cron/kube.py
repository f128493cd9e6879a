"""The operator's own small Kubernetes client: Secrets it reads and status it writes outside kopf.

Built on the official (synchronous) client and run in worker threads, so it works with any
kubeconfig auth and never blocks the operator's event loop.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from langgraph_cron.models import GROUP, PLURAL, VERSION


class SecretNotFound(Exception):
    """The API-key Secret (or its key) cannot be read. The message never contains a value."""

    reason = "SecretNotFound"


def load_api_client() -> kubernetes.client.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG (what `lgcron run` documents)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


class KubeClient:
    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._custom = kubernetes.client.CustomObjectsApi(api_client)

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
