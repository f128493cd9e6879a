"""manifests/argocd/health.lua, run in Lua 5.1 (what Argo CD's gopher-lua implements) through lupa."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.statuses import OUTCOMES, resource, status

lua51 = pytest.importorskip("lupa.lua51", reason="lupa (the `test` extra) is needed to run the Argo CD health Lua")

ARGOCD = Path(__file__).resolve().parents[2] / "manifests" / "argocd"
SCRIPT = (ARGOCD / "health.lua").read_text()


def health(obj: dict[str, Any]) -> dict[str, str]:
    """Run the script as Argo CD does: the live object in the global `obj`, the chunk returns `hs`."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return {key: result[key] for key in ("status", "message") if result[key] is not None}


def cr(generation: int = 1, **status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "lgcron.io/v1alpha1",
        "kind": "LangGraphCron",
        "metadata": {"name": "x", "generation": generation},
    }
    if status:
        obj["status"] = status
    return obj


def conditions(ready: tuple[str, str, str], reconciling: str = "False", stalled: str = "False") -> list[dict[str, Any]]:
    status_, reason, message = ready
    return [
        {"type": "Ready", "status": status_, "reason": reason, "message": message, "observedGeneration": 1},
        {
            "type": "Reconciling",
            "status": reconciling,
            "reason": reason if reconciling == "True" else "Reconciled",
            "message": f"retrying: {message}" if reconciling == "True" else "",
            "observedGeneration": 1,
        },
        {
            "type": "Stalled",
            "status": stalled,
            "reason": reason if stalled == "True" else "NotStalled",
            "message": f"{message}; fix the spec to retry" if stalled == "True" else "",
            "observedGeneration": 1,
        },
    ]


WAITING = {"status": "Progressing", "message": "waiting for the operator"}


def test_missing_status_waits_for_the_operator():
    assert health(cr()) == WAITING
    assert health(cr(observedGeneration=1)) == WAITING  # no conditions yet


def test_status_of_an_older_generation_waits_for_the_operator():
    obj = cr(generation=2, observedGeneration=1, conditions=conditions(("True", "Scheduled", "scheduled")))
    assert health(obj) == WAITING


def test_scheduled_is_healthy():
    obj = cr(
        observedGeneration=1, conditions=conditions(("True", "Scheduled", "the cron is scheduled on the Agent Server"))
    )
    assert health(obj) == {"status": "Healthy", "message": "the cron is scheduled on the Agent Server"}


def test_suspended_is_suspended():
    obj = cr(
        observedGeneration=1,
        conditions=conditions(("True", "Suspended", "spec.enabled is false; the cron is disabled")),
    )
    assert health(obj) == {"status": "Suspended", "message": "spec.enabled is false; the cron is disabled"}


def test_expired_is_healthy_with_its_message():
    message = "endTime 2026-01-01T00:00:00Z has passed; the cron is disabled"
    assert health(cr(observedGeneration=1, conditions=conditions(("True", "Expired", message)))) == {
        "status": "Healthy",
        "message": message,
    }


def test_stalled_is_degraded_with_the_ready_message():
    obj = cr(
        observedGeneration=1, conditions=conditions(("False", "InvalidSpec", "spec.schedule: bad"), stalled="True")
    )
    assert health(obj) == {"status": "Degraded", "message": "spec.schedule: bad"}


def test_reconciling_is_progressing_with_its_message():
    obj = cr(
        observedGeneration=1, conditions=conditions(("False", "ServerUnavailable", "timed out"), reconciling="True")
    )
    assert health(obj) == {"status": "Progressing", "message": "retrying: timed out"}


def test_not_ready_otherwise_is_degraded():
    obj = cr(observedGeneration=1, conditions=conditions(("False", "Unauthorized", "401 from the server")))
    assert health(obj) == {"status": "Degraded", "message": "401 from the server"}


def test_without_generation_the_conditions_decide():
    obj = cr(observedGeneration=1, conditions=conditions(("True", "Scheduled", "ok")))
    del obj["metadata"]["generation"]
    assert health(obj)["status"] == "Healthy"


EXPECTED = {"ready": "Healthy", "retrying": "Progressing", "stalled": "Degraded"}


@pytest.mark.parametrize("outcome", [o for _, o in OUTCOMES], ids=[name for name, _ in OUTCOMES])
def test_statuses_the_operator_writes(outcome):
    result = health(resource(status(outcome, generation=3), generation=3))
    expected = "Suspended" if outcome.reason == "Suspended" else EXPECTED[outcome.kind]
    assert result["status"] == expected
    assert outcome.message in result["message"]


def test_configmap_patch_carries_the_same_script():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert (patch["apiVersion"], patch["kind"], patch["metadata"]["name"]) == ("v1", "ConfigMap", "argocd-cm")
    assert patch["data"] == {"resource.customizations.health.lgcron.io_LangGraphCron": SCRIPT}
