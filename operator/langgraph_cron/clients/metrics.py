"""Prometheus metrics, served on LGCRON_METRICS_PORT when set.

Names follow Prometheus conventions; labels are bounded (no object names, no cron ids), so a
thousand resources cost the same series as one.
"""

from __future__ import annotations

import re
import typing

import httpx
from prometheus_client import Counter, Gauge, Histogram

from langgraph_cron.core.models import Backend

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
        self._counts: dict[tuple[str, str], int] = {}
        for backend in typing.get_args(Backend):
            for ready in ("true", "false"):
                MANAGED.labels(backend, ready).set(0)  # every series exists from the start, at 0

    def update(self, uid: str, backend: str, ready: bool) -> None:
        self._move(self._state.get(uid), (backend, "true" if ready else "false"))
        self._state[uid] = (backend, "true" if ready else "false")

    def forget(self, uid: str) -> None:
        self._move(self._state.pop(uid, None), None)

    def _move(self, old: tuple[str, str] | None, new: tuple[str, str] | None) -> None:
        """One resource changes series: two gauge updates, not a recount of every resource."""
        if old == new:
            return
        for key, step in ((old, -1), (new, +1)):
            if key is not None:
                self._counts[key] = self._counts.get(key, 0) + step
                MANAGED.labels(*key).set(self._counts[key])


# ---------------------------------------------------------------- runs (one series per cron: what alerts need)

RUNS = Counter(
    "lgcron_runs_total", "Finished runs of each LangGraphCron, counted once each, by result.",
    ["namespace", "name", "result"],
)
LAST_RUN = Gauge(
    "lgcron_last_run_timestamp_seconds", "When each LangGraphCron's last run of each result finished (Unix time).",
    ["namespace", "name", "result"],
)
CONSECUTIVE_FAILURES = Gauge(
    "lgcron_consecutive_failures", "Failed runs in a row of each LangGraphCron (0 after a success).",
    ["namespace", "name"],
)
MISSED_RUNS = Counter(
    "lgcron_missed_runs_total", "Scheduled run times of each LangGraphCron that produced no run within the grace period.",
    ["namespace", "name"],
)
PAUSED = Gauge(
    "lgcron_paused", "1 while failurePolicy keeps a LangGraphCron paused after failed runs, else 0.",
    ["namespace", "name"],
)
RESULT_LABELS = {"Succeeded": "succeeded", "Failed": "failed", "TimedOut": "timed_out"}


def record_runs(namespace: str, name: str, counted: list, consecutive_failures: int) -> None:
    """Newly counted runs (history.ObservedRun) of one cron."""
    for run in counted:
        result = RESULT_LABELS[run.result]
        RUNS.labels(namespace, name, result).inc()
        if run.finish is not None:
            LAST_RUN.labels(namespace, name, result).set(run.finish.timestamp())
    CONSECUTIVE_FAILURES.labels(namespace, name).set(consecutive_failures)


def forget_cron(namespace: str, name: str) -> None:
    """A deleted cron's series go with it."""
    for metric, label_sets in ((RUNS, RESULT_LABELS.values()), (LAST_RUN, RESULT_LABELS.values())):
        for result in label_sets:
            try:
                metric.remove(namespace, name, result)
            except KeyError:
                pass
    for metric in (CONSECUTIVE_FAILURES, MISSED_RUNS, PAUSED):
        try:
            metric.remove(namespace, name)
        except KeyError:
            pass
