"""`lgcron trigger` and `lgcron resume` from a laptop: a cron of the operator's default server, with
no LGCRON_* in the user's environment; writes carry the field manager `lgcron`."""

from __future__ import annotations

import json

import pytest
from kube_test_api import REAL_CLUSTER
from operator_helpers import is_ready, resource
from test_cli_errors import cli, write_status

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]


def manager_of(obj, annotation: str) -> set[str]:
    """Who wrote this annotation, by the object's managedFields (the test itself creates objects as
    OpenAPI-Generator, the official client's default)."""
    return {entry["manager"] for entry in obj["metadata"].get("managedFields") or []
            if f"f:{annotation}" in json.dumps(entry.get("fieldsV1") or {})}


async def test_trigger_wait_on_a_default_server_cron_follows_the_run_to_its_end(kube, operator):
    async with operator():
        await kube.create(resource("on-demand"))
        obj = await kube.wait_for("on-demand", is_ready)
        assert obj["status"]["serverUrl"] and not obj["status"].get("serverRef")  # the default server
        code, out, err = await cli("trigger", f"{kube.namespace}/on-demand", "--wait", "--timeout", "60", timeout=90)
        assert (code, err) == (0, ""), out + err
        assert "started" in out and out.strip().endswith(": success")
        obj = await kube.get("on-demand")
        await kube.delete("on-demand")
        await kube.wait_gone("on-demand")
    if REAL_CLUSTER:  # the emulator keeps no managedFields
        assert manager_of(obj, "lgcron.io/trigger") == {"lgcron"}


async def test_resume_of_a_cron_that_is_not_paused_writes_nothing(kube):
    await kube.create(resource("running"))
    code, out, err = await cli("resume", f"{kube.namespace}/running")
    assert (code, err) == (0, "") and "not paused" in out, out + err
    assert "lgcron.io/resume" not in ((await kube.get("running"))["metadata"].get("annotations") or {})


async def test_resume_of_a_paused_cron_sets_the_annotation_as_lgcron(kube):
    await kube.create(resource("paused"))
    await write_status(kube, "paused", {"paused": {"since": "2026-01-01T00:00:00Z", "consecutiveFailures": 3}})
    code, out, err = await cli("resume", f"{kube.namespace}/paused")
    assert (code, err) == (0, ""), out + err
    obj = await kube.get("paused")
    assert "lgcron.io/resume" in obj["metadata"]["annotations"]
    if REAL_CLUSTER:
        assert manager_of(obj, "lgcron.io/resume") == {"lgcron"}
