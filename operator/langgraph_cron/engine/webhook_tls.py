"""The webhook's TLS: one CA for every replica, kept in a Secret, so the caBundle of the webhook
configuration holds whichever replica the apiserver reaches.

The first replica to start creates the Secret; the others read it (a create that loses the race reads
the winner's). A certificate that no longer covers the hostnames, or is near its end, is re-issued by
the same CA and written back at the Secret's resourceVersion, so two replicas never keep two CAs.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Protocol

from langgraph_cron.core.webhook import WebhookTls, issue, reusable_ca, still_serves

logger = logging.getLogger(__name__)


class SecretStore(Protocol):
    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_secret(self, secret: dict[str, Any]) -> dict[str, Any] | None: ...
    async def replace_secret(self, secret: dict[str, Any]) -> dict[str, Any] | None: ...


def _decoded(secret: dict[str, Any]) -> WebhookTls | None:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return WebhookTls.from_secret_data(data)


def _secret(namespace: str, name: str, tls: WebhookTls, resource_version: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"namespace": namespace, "name": name,
                                "labels": {"app.kubernetes.io/managed-by": "langgraph-cron-operator"}}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": metadata,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in tls.as_secret_data().items()},
    }


async def ensure_webhook_tls(kube: SecretStore, namespace: str, name: str, hostnames: list[str]) -> WebhookTls:
    """The CA and serving certificate in Secret namespace/name, created or renewed as needed."""
    for _attempt in range(5):
        secret = await kube.get_secret(namespace, name)
        if secret is None:
            tls = issue(hostnames)
            if await kube.create_secret(_secret(namespace, name, tls)) is not None:
                logger.info("created the webhook's CA and certificate in Secret %s/%s", namespace, name)
                return tls
            continue  # another replica created it first: use theirs
        current = _decoded(secret)
        if current is not None and still_serves(current, hostnames):
            return current
        # Same CA where there is one: the caBundle every replica injects stays the same.
        renewed = issue(hostnames, ca=reusable_ca(current))
        if await kube.replace_secret(_secret(namespace, name, renewed, secret["metadata"].get("resourceVersion"))):
            logger.info("renewed the webhook's certificate in Secret %s/%s", namespace, name)
            return renewed
    raise RuntimeError(f"Secret {namespace}/{name} kept changing while the webhook's certificate was written")
