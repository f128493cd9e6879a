"""LangGraphCron objects whose status comes from the operator's own status code (reconcile.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph_cron.models import LangGraphCronSpec, LangGraphCronStatus
from langgraph_cron.reconcile import Outcome, build_status

NOW = datetime(2026, 11, 22, 3, 10, tzinfo=UTC)


def spec(**fields: Any) -> LangGraphCronSpec:
    return LangGraphCronSpec.model_validate({"schedule": "0 7 * * 1-5", "assistantId": "agent", **fields})


# (id, outcome, kind): every Ready reason, and a retrying and a stalled reason of each source.
OUTCOMES = [
    ("scheduled", Outcome.ready(spec(), NOW)),
    ("suspended", Outcome.ready(spec(enabled=False), NOW)),
    ("expired", Outcome.ready(spec(endTime="2026-01-01T00:00:00Z"), NOW)),
    ("server-unavailable", Outcome("ServerUnavailable", "connection refused", "retrying")),
    ("secret-not-found", Outcome("SecretNotFound", "Secret team/key not found", "retrying")),
    ("kubernetes-error", Outcome("KubernetesError", "forbidden", "retrying")),
    ("invalid-spec", Outcome("InvalidSpec", "spec.schedule: bad cron expression", "stalled")),
    ("rejected", Outcome("Rejected", "422: bad input", "stalled")),
]


def status(outcome: Outcome, generation: int = 1, previous: LangGraphCronStatus | None = None) -> LangGraphCronStatus:
    return build_status(previous or LangGraphCronStatus(), outcome=outcome, generation=generation, now=NOW)


def resource(written: LangGraphCronStatus | None, generation: int = 1) -> dict[str, Any]:
    """The object as a client (Argo CD, Flux) reads it: status as the JSON the operator patches in."""
    obj: dict[str, Any] = {
        "apiVersion": "lgcron.io/v1alpha1",
        "kind": "LangGraphCron",
        "metadata": {"name": "nightly-digest", "namespace": "support", "generation": generation},
        "spec": {"schedule": "0 7 * * 1-5", "assistantId": "agent"},
    }
    if written is not None:
        obj["status"] = written.model_dump(by_alias=True, exclude_none=True, mode="json")
    return obj
