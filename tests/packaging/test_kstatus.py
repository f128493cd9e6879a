"""Flux (and anything else using kstatus) reads the operator's status as Current / InProgress / Failed.

`kstatus` below implements sigs.k8s.io/cli-utils kstatus' rules for custom resources, plus the
Ready condition Flux's health checks wait for; the statuses come from reconcile.build_status.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_cron.core.status import Outcome, build_conditions

from tests.packaging.statuses import NOW, OUTCOMES, resource, status


def kstatus(obj: dict[str, Any]) -> str:
    state = obj.get("status") or {}
    conditions = {c["type"]: c for c in state.get("conditions") or []}

    def is_true(kind: str) -> bool:
        return conditions.get(kind, {}).get("status") == "True"

    generation = obj["metadata"].get("generation")
    if generation is not None and state.get("observedGeneration") != generation:
        return "InProgress"  # the controller has not seen the latest spec yet
    if is_true("Reconciling"):
        return "InProgress"
    if is_true("Stalled"):
        return "Failed"
    if is_true("Ready"):
        return "Current"
    return "InProgress"


def test_kstatus_helper_rules():
    def obj(generation, observed, **conditions):
        items = [{"type": t, "status": s} for t, s in conditions.items()]
        return {"metadata": {"generation": generation}, "status": {"observedGeneration": observed, "conditions": items}}

    assert kstatus({"metadata": {"generation": 1}}) == "InProgress"
    assert kstatus(obj(2, 1, Ready="True")) == "InProgress"
    assert kstatus(obj(1, 1, Ready="True", Reconciling="False", Stalled="False")) == "Current"
    assert kstatus(obj(1, 1, Ready="False", Reconciling="True")) == "InProgress"
    assert kstatus(obj(1, 1, Ready="False", Stalled="True")) == "Failed"


EXPECTED = {"ready": "Current", "retrying": "InProgress", "stalled": "Failed"}


@pytest.mark.parametrize("outcome", [o for _, o in OUTCOMES], ids=[name for name, _ in OUTCOMES])
def test_each_outcome_maps_to_its_kstatus(outcome):
    assert kstatus(resource(status(outcome, generation=4), generation=4)) == EXPECTED[outcome.kind]


@pytest.mark.parametrize("outcome", [o for _, o in OUTCOMES], ids=[name for name, _ in OUTCOMES])
def test_conditions_alone_carry_the_kind(outcome):
    conditions = [c.model_dump(by_alias=True, mode="json") for c in build_conditions(outcome, [], 2, NOW)]
    obj = {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": conditions}}
    assert kstatus(obj) == EXPECTED[outcome.kind]
    assert {c["type"] for c in conditions} == {"Ready", "Reconciling", "Stalled"}
    assert all(c["observedGeneration"] == 2 for c in conditions)


def test_a_status_for_an_older_generation_is_in_progress_whatever_it_says():
    ready = status(OUTCOMES[0][1], generation=1)
    assert kstatus(resource(ready, generation=2)) == "InProgress"
    assert kstatus(resource(None)) == "InProgress"


def test_recovery_after_retrying_is_current_again():
    retrying = status(Outcome("ServerUnavailable", "down", "retrying"), generation=3)
    recovered = status(OUTCOMES[0][1], generation=3, previous=retrying)
    assert kstatus(resource(retrying, generation=3)) == "InProgress"
    assert kstatus(resource(recovered, generation=3)) == "Current"
