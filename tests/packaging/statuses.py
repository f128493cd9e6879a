"""LangGraphCron objects whose status comes from the operator's own status code (reconcile.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph_cron.core.models import LangGraphCronSpec, LangGraphCronStatus
from langgraph_cron.core.runcontrol import apply_controls
from langgraph_cron.core.status import Outcome, build_status

NOW = datetime(2026, 11, 22, 3, 10, tzinfo=UTC)


def spec(**fields: Any) -> LangGraphCronSpec:
    return LangGraphCronSpec.model_validate({"schedule": "0 7 * * 1-5", "assistantId": "agent", **fields})


def _stopped(spec_fields: dict[str, Any], runs: dict[str, int]) -> Outcome:
    """The outcome runcontrol decides for a cron whose runs paused it or used its budget."""
    previous = LangGraphCronStatus.model_validate({"runs": runs})
    control = apply_controls(spec(**spec_fields), previous, generation=1, annotations={}, now=NOW)
    assert control.stopped is not None
    return control.stopped


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
    # Argo CD: a cron paused after failures is Degraded (a person must act); a used budget is Healthy.
    ("paused-after-failures", _stopped({"failurePolicy": {"pauseAfterConsecutiveFailures": 2}},
                                       {"failed": 2, "consecutiveFailures": 2})),
    ("run-budget-exhausted", _stopped({"maxRuns": 3}, {"succeeded": 2, "failed": 1})),
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
