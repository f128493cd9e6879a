"""Upgrade from the previous release (v0.1.0) on a private control plane of the test's own: its CRDs
(kept in tests/upgrade/v0.1.0/, `git show v0.1.0:crds/...`: CI checks out no tags) and 20 objects as its
users wrote them (a variety of fields), then the current CRDs and the current operator. Every object is
still valid (a write of each passes the current schema and CEL rules) and Ready, and no spec field is lost.

Two things 0.1.0 accepted are refused since, so a 0.1.0 user's object may hold neither and they are not
here: a 7-field schedule (seconds or years), and `cronJob` options with the agentServer backend."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from install_helpers import (
    apply_crds,
    kubectl,
    own_control_plane_kubeconfig,
    requires_private_control_plane,
)
from kube_test_api import LGCRON_API_VERSION, api_path
from operator_helpers import FAR_AWAY, is_ready, lgcron, wait_until

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180), requires_private_control_plane]

PREVIOUS = Path(__file__).resolve().parents[1] / "upgrade" / "v0.1.0"


@pytest.fixture
def kubeconfig_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with own_control_plane_kubeconfig(monkeypatch, crds=PREVIOUS) as path:
        yield path


def _crons(server_url: str) -> dict[str, dict[str, Any]]:
    """18 LangGraphCrons as 0.1.0 users wrote them: every field of its schema appears in at least one, except
    server.apiKeySecretRef, cronJob.image and cronJob.serviceAccountName."""
    base = {"schedule": FAR_AWAY, "assistantId": "agent"}
    specs: dict[str, dict[str, Any]] = {
        "minimal": {},
        "timezone": {"schedule": "30 6 * * 1-5", "timezone": "Europe/Berlin"},
        "input": {"input": {"text": "hello", "items": [1, 2, {"nested": True}], "count": 3}},
        "metadata": {"metadata": {"team": "a", "owner": "b"}},
        "config": {"config": {"tags": ["nightly", "report"], "recursionLimit": 42,
                              "configurable": {"model": "gpt", "depth": 2}}},
        "context": {"context": {"locale": "de", "flags": {"x": 1}}},
        "thread": {"threadId": str(uuid.uuid4())},
        "interrupts": {"interruptBefore": ["tools"], "interruptAfter": "*"},
        "multitask": {"multitaskStrategy": "enqueue", "streamMode": ["values", "updates"],
                      "streamSubgraphs": True, "streamResumable": False, "durability": "async"},
        "keep-runs": {"onRunCompleted": "keep", "runHistory": {"successfulRunsLimit": 5, "failedRunsLimit": 2}},
        "end-time": {"endTime": "2099-01-01T00:00:00Z"},
        "failure-policy": {"failurePolicy": {"pauseAfterConsecutiveFailures": 3}, "maxRuns": 100,
                           "runTimeoutSeconds": 600},
        "orphan": {"deletionPolicy": "Orphan", "webhook": "https://93.184.216.34/hook"},
        "inline-server": {"server": {"url": server_url}},
        "server-ref": {"serverRef": {"name": "team-server"}},
        "cluster-server-ref": {"serverRef": {"kind": "ClusterLangGraphServer", "name": "shared-server"}},
        "step-list": {"schedule": "*/15 8-18 * * MON-FRI", "timezone": "America/New_York", "enabled": False},
        "cronjob-backend": {"backend": "cronJob", "streamMode": "values", "cronJob": {
            "concurrencyPolicy": "Replace", "startingDeadlineSeconds": 120, "successfulJobsHistoryLimit": 2,
            "failedJobsHistoryLimit": 1, "activeDeadlineSeconds": 300, "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}, "podLabels": {"app": "report"},
            "podAnnotations": {"team": "a"}}},
    }
    return {name: {**base, **spec} for name, spec in specs.items()}


async def test_objects_of_v0_1_0_stay_valid_and_ready_and_keep_every_field(kube, operator, proxy, server,
                                                                           kubeconfig_path):
    cluster_server = f"shared-server-{kube.namespace}"
    servers = [
        (api_path(LGCRON_API_VERSION, "langgraphservers", kube.namespace),
         {"kind": "LangGraphServer", "metadata": {"name": "team-server"},
          "spec": {"url": proxy.url, "requestTimeoutSeconds": 10, "maxConcurrentRequests": 4}}),
        (api_path(LGCRON_API_VERSION, "clusterlanggraphservers"),
         {"kind": "ClusterLangGraphServer", "metadata": {"name": cluster_server},
          "spec": {"url": proxy.url, "conditions": [{"namespaces": [kube.namespace]},
                                                     {"namespaceRegexes": ["^team-.*$"]}]}}),
    ]
    crons = _crons(proxy.url)
    await server.create_thread(crons["thread"]["threadId"])  # a 0.1.0 user's cron on a thread of theirs
    crons["cluster-server-ref"]["serverRef"]["name"] = cluster_server

    # 0.1.0: its CRDs (the fixture applied them), its users' objects; no operator yet.
    before: dict[str, dict[str, Any]] = {}
    for path, body in servers:
        created = await kube.call("POST", path, {"apiVersion": LGCRON_API_VERSION, **body})
        before[f"{body['kind']}/{body['metadata']['name']}"] = created["spec"]
    for name, spec in crons.items():
        created = await kube.create({"metadata": {"name": name}, "spec": copy.deepcopy(spec)})
        before[f"LangGraphCron/{name}"] = created["spec"]  # with 0.1.0's defaults, as stored
    assert len(before) == 20

    # The upgrade: the current CRDs, then the current operator.
    apply_crds(kubeconfig_path)
    async with operator():
        for name in crons:
            await kube.wait_for(name, is_ready, timeout=60)
        for path, body in servers:
            await wait_until(lambda path=path, body=body: _server_ready(kube, path, body["metadata"]["name"]),
                             timeout=60, what=f"{body['kind']} {body['metadata']['name']} Ready")

        after: dict[str, dict[str, Any]] = {}
        for path, body in servers:
            after[f"{body['kind']}/{body['metadata']['name']}"] = (await kube.call(
                "GET", f"{path}/{body['metadata']['name']}"))["spec"]
        for name in crons:
            after[f"LangGraphCron/{name}"] = (await kube.get(name))["spec"]
            # Still valid: a write is checked against the current schema and CEL rules (no ratcheting on 1.28).
            await kube.patch(name, {"metadata": {"labels": {"upgraded": "yes"}}})
        for path, body in servers:
            await kube.call("PATCH", f"{path}/{body['metadata']['name']}",
                            {"metadata": {"labels": {"upgraded": "yes"}}}, content_type="application/merge-patch+json")

    lost = {key: _missing(before[key], after[key]) for key in before if _missing(before[key], after[key])}
    assert not lost, f"fields lost or changed by the upgrade: {lost}"
    # And `lgcron validate` (the current rules, offline) accepts them as stored.
    dump = kubeconfig_path.parent / "upgraded.yaml"
    dump.write_text(kubectl(kubeconfig_path, "get", "-n", kube.namespace, "langgraphcrons,langgraphservers", "-o", "yaml"))
    code, out, err = await lgcron("validate", "-f", str(dump))
    assert code == 0, out + err
    await kube.call("DELETE", api_path(LGCRON_API_VERSION, "clusterlanggraphservers", name=cluster_server))


async def _server_ready(kube, path: str, name: str) -> bool:
    body = await kube.call("GET", f"{path}/{name}")
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _missing(before: Any, after: Any, where: str = "spec") -> list[str]:
    """Paths of `before` that `after` lacks or holds with another value (new defaults in `after` are fine)."""
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return [where]
        return [p for key, value in before.items() for p in _missing(value, after.get(key, _ABSENT), f"{where}.{key}")]
    return [] if before == after else [where]


_ABSENT = object()
