"""Prometheus metrics, served on LGCRON_METRICS_PORT when set.

Names follow Prometheus conventions; labels are bounded (no object names, no cron ids), so a
thousand resources cost the same series as one.
"""

from __future__ import annotations

import re

import httpx
from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "lgcron_reconciles_total", "Reconciles of LangGraphCron resources, by outcome.", ["backend", "result"]
)
RECONCILE_SECONDS = Histogram(
    "lgcron_reconcile_duration_seconds",
    "Time spent reconciling one LangGraphCron.",
    ["backend"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SERVER_REQUESTS = Counter(
    "lgcron_agent_server_requests_total", "Requests to Agent Servers, by endpoint and status code.",
    ["method", "endpoint", "code"],
)
MANAGED = Gauge("lgcron_managed_resources", "LangGraphCron resources this operator manages.", ["backend", "ready"])

_IDS = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def endpoint_of(path: str) -> str:
    """`/threads/<uuid>/runs/crons` -> `/threads/{id}/runs/crons`: one series per endpoint."""
    return _IDS.sub("{id}", path)


async def record_response(response: httpx.Response) -> None:
    """httpx response hook on the shared Agent Server client."""
    request = response.request
    SERVER_REQUESTS.labels(request.method, endpoint_of(request.url.path), str(response.status_code)).inc()


class ManagedResources:
    """Keeps `lgcron_managed_resources` equal to the latest outcome of each live resource."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[str, str]] = {}

    def update(self, uid: str, backend: str, ready: bool) -> None:
        self._state[uid] = (backend, "true" if ready else "false")
        self._publish()

    def forget(self, uid: str) -> None:
        self._state.pop(uid, None)
        self._publish()

    def _publish(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for key in self._state.values():
            counts[key] = counts.get(key, 0) + 1
        for backend in ("agentServer", "cronJob"):
            for ready in ("true", "false"):
                MANAGED.labels(backend, ready).set(counts.get((backend, ready), 0))
