"""manifests/argocd/*.lua, run in Lua 5.1 (what Argo CD's gopher-lua implements) through lupa.

health.lua is LangGraphCron's; server-health.lua is LangGraphServer's and ClusterLangGraphServer's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.statuses import NOW, OUTCOMES, resource, status

lua51 = pytest.importorskip("lupa.lua51", reason="lupa (the `test` extra) is needed to run the Argo CD health Lua")

ARGOCD = Path(__file__).resolve().parents[2] / "manifests" / "argocd"
SCRIPT = (ARGOCD / "health.lua").read_text()
SERVER_SCRIPT = (ARGOCD / "server-health.lua").read_text()
# Argo CD's health statuses; a script returning anything else is shown as Unknown.
ARGOCD_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def health(obj: dict[str, Any], script: str = SCRIPT) -> dict[str, str]:
    """Run the script as Argo CD does: the live object in the global `obj`, the chunk returns `hs`."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    found = {key: result[key] for key in ("status", "message") if result[key] is not None}
    assert found["status"] in ARGOCD_STATUSES and isinstance(found.get("message", ""), str), found
    return found


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


def test_configmap_patch_carries_the_same_scripts():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert (patch["apiVersion"], patch["kind"], patch["metadata"]["name"]) == ("v1", "ConfigMap", "argocd-cm")
    assert patch["data"] == {
        "resource.customizations.health.lgcron.io_LangGraphCron": SCRIPT,
        "resource.customizations.health.lgcron.io_LangGraphServer": SERVER_SCRIPT,
        "resource.customizations.health.lgcron.io_ClusterLangGraphServer": SERVER_SCRIPT,
    }


# ---------------------------------------------------------------- LangGraphServer and ClusterLangGraphServer

SERVER_KINDS = ["LangGraphServer", "ClusterLangGraphServer"]


def server(kind: str, generation: int | None = 1, **status: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "agents"} | ({"namespace": "team-a"} if kind == "LangGraphServer" else {})
    if generation is not None:
        metadata["generation"] = generation
    obj: dict[str, Any] = {
        "apiVersion": "lgcron.io/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": {"url": "https://agents.example.com"},
    }
    if status:
        obj["status"] = status
    return obj


def ready(status_: str, reason: str, message: str, generation: int = 1) -> dict[str, Any]:
    return {"type": "Ready", "status": status_, "reason": reason, "message": message, "observedGeneration": generation}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_without_status_or_conditions_waits_for_the_operator(kind):
    assert health(server(kind), SERVER_SCRIPT) == WAITING
    assert health(server(kind, observedGeneration=1), SERVER_SCRIPT) == WAITING
    assert health(server(kind, observedGeneration=1, conditions=[]), SERVER_SCRIPT) == WAITING


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_status_of_an_older_generation_waits_for_the_operator(kind):
    """A new URL or key is not checked yet: neither the old Ready nor the old failure counts."""
    for condition in (ready("True", "Connected", "ok"), ready("False", "Unreachable", "connection refused")):
        obj = server(kind, generation=2, observedGeneration=1, conditions=[condition])
        assert health(obj, SERVER_SCRIPT) == WAITING


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_ready_server_of_the_current_generation_is_healthy(kind):
    message = "GET /ok and an authenticated POST /runs/crons/count succeeded"
    obj = server(kind, generation=3, observedGeneration=3, conditions=[ready("True", "Connected", message, 3)])
    assert health(obj, SERVER_SCRIPT) == {"status": "Healthy", "message": message}


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("ServerError", "GET /ok answered 503"),
        ("Unreachable", "connection refused"),
        ("Unauthorized", "401 from https://agents.example.com"),
        ("Forbidden", "403 from https://agents.example.com"),
        ("SecretNotFound", "Secret admin/agent-key not found"),
        ("TLSError", "certificate verify failed"),
    ],
)
def test_not_ready_server_is_degraded_with_the_conditions_message(kind, reason, message):
    obj = server(kind, observedGeneration=1, conditions=[ready("False", reason, message)])
    assert health(obj, SERVER_SCRIPT) == {"status": "Degraded", "message": message}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_condition_without_a_message_reports_its_reason(kind):
    obj = server(kind, observedGeneration=1, conditions=[ready("False", "Unreachable", "")])
    assert health(obj, SERVER_SCRIPT) == {"status": "Degraded", "message": "Unreachable"}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_held_in_deletion_is_progressing_with_why(kind):
    held = "deletion held: 2 LangGraphCron(s) still refer to it; it completes when none does"
    conditions = [
        ready("True", "Connected", "ok"),
        {"type": "Terminating", "status": "True", "reason": "InUse", "message": held, "observedGeneration": 1},
    ]
    assert health(server(kind, observedGeneration=1, conditions=conditions), SERVER_SCRIPT) == {
        "status": "Progressing",
        "message": held,
    }


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_server_without_generation_the_conditions_decide(kind):
    obj = server(kind, generation=None, observedGeneration=4, conditions=[ready("True", "Connected", "ok", 4)])
    assert health(obj, SERVER_SCRIPT)["status"] == "Healthy"


def _written(kind: str, generation: int, ready_: bool, reason: str, message: str, **kwargs: Any) -> dict[str, Any]:
    """A server object with the status patch the operator itself writes after a check (connections.py)."""
    from langgraph_cron.core.connections import ServerHealth
    from langgraph_cron.core.server_status import server_status_patch

    obj = server(kind, generation=generation)
    checked = ServerHealth(generation, "https://agents.example.com", ready_, reason, message, "0.4.1", 3)
    obj["status"] = server_status_patch(obj, checked, now=NOW, **{"in_use": 0, **kwargs})
    return obj


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_statuses_the_operator_writes_for_server_objects(kind):
    written = _written(kind, 5, True, "Connected", "GET /ok and an authenticated POST /runs/crons/count succeeded")
    assert health(written, SERVER_SCRIPT)["status"] == "Healthy"
    written = _written(kind, 5, False, "Unauthorized", "401: invalid API key")
    assert health(written, SERVER_SCRIPT) == {"status": "Degraded", "message": "401: invalid API key"}
    written["metadata"]["generation"] = 6  # the spec changed since
    assert health(written, SERVER_SCRIPT) == WAITING
    held = _written(kind, 5, True, "Connected", "ok", in_use=2, deleting=True)
    assert health(held, SERVER_SCRIPT)["status"] == "Progressing"
    assert "2 LangGraphCron(s) still refer to it" in health(held, SERVER_SCRIPT)["message"]
