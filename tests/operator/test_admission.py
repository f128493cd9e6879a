"""The validating admission webhook, called by a real kube-apiserver over TLS on loopback.

Every case of the bad-input catalogue (tests/bad_inputs.py) is checked at the levels that refuse a
bad spec before it exists: `lgcron validate` (offline) and `kubectl apply --dry-run=server` (the CRD's
schema and CEL rules, then the webhook). A case the webhook refuses is refused with exactly the
sentence its InvalidSpec condition carries (test_bad_input.py checks that condition, webhook off).
Then what happens when the webhook is down (Ignore vs Fail), and with two replicas.

kmock has no admission chain (nothing calls a webhook), so these run only on a real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kube_test_api import OPERATOR_RBAC, REAL_CLUSTER, api_path, ensure_crds
from langgraph_cron.clients.devserver import free_port
from langgraph_cron.core import rules
from langgraph_cron.core.files import validate
from langgraph_cron.core.connections import parse_server_spec
from langgraph_cron.core.spec import InvalidSpec, parse_spec
from operator_helpers import condition, wait_until

from tests.bad_inputs import CASES, SERVER_CASES, Case

pytestmark = [
    pytest.mark.operator,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not REAL_CLUSTER, reason="kmock has no admission chain: only a real kube-apiserver calls webhooks"),
]

RULE_MESSAGES = [r.message for r in (*rules.SPEC_RULES, *rules.SCHEDULE_RULES, *rules.URL_RULES, rules.TIMEZONE_SHAPE)]
PEERING_CRDS = Path(__file__).resolve().parents[2] / "charts" / "langgraph-cron-operator" / "crds" / "kopf-peering.yaml"
WEBHOOK_CONFIGURATIONS = api_path("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations")


# ---------------------------------------------------------------- the operator's webhook, on loopback


@pytest.fixture
def webhook(kube, monkeypatch) -> dict[str, str]:
    """The webhook's settings for an operator of this test: its own configuration (reviewing only this
    test's namespace, so nothing else in the cluster is affected), port and TLS Secret."""
    env = {
        "LGCRON_WEBHOOK_HOST": "127.0.0.1",
        "LGCRON_WEBHOOK_PORT": str(free_port()),
        "LGCRON_WEBHOOK_CONFIGURATION": f"{kube.namespace}.validation.lgcron.io",
        "LGCRON_WEBHOOK_TLS_SECRET": f"{kube.namespace}/lgcron-webhook-tls",
        "LGCRON_WEBHOOK_NAMESPACES": kube.namespace,
    }
    if OPERATOR_RBAC:  # the names the shipped RBAC grants by name (manifests/rbac.yaml)
        env["LGCRON_WEBHOOK_CONFIGURATION"] = "validation.lgcron.io"
        env["LGCRON_WEBHOOK_TLS_SECRET"] = "lgcron-system/lgcron-webhook-tls"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
    with contextlib.suppress(kubernetes.client.ApiException):
        kube.call_blocking("DELETE", f"{WEBHOOK_CONFIGURATIONS}/{env['LGCRON_WEBHOOK_CONFIGURATION']}")


async def _wait_for_configuration(kube, webhook: dict[str, str]) -> dict[str, Any]:
    path = f"{WEBHOOK_CONFIGURATIONS}/{webhook['LGCRON_WEBHOOK_CONFIGURATION']}"

    async def configured() -> dict[str, Any] | None:
        try:
            found = await kube.call("GET", path)
        except kubernetes.client.ApiException:
            return None
        return found if len(found.get("webhooks") or []) == 3 else None

    return await wait_until(configured, timeout=30, what="the ValidatingWebhookConfiguration")


async def _dry_run(kube, body: dict[str, Any]) -> tuple[int, str]:
    """(HTTP status, message) of a `kubectl apply --dry-run=server`-like create: 201 when admitted."""
    body = {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron", **body}
    try:
        # As kubectl apply sends it: unknown fields are refused (strict decoding), not pruned.
        await kube.call("POST", kube.path(), body, query={"dryRun": "All", "fieldValidation": "Strict"})
    except kubernetes.client.ApiException as exc:
        try:
            return exc.status, json.loads(exc.body)["message"]
        except (ValueError, KeyError, TypeError):
            return exc.status, exc.body or ""
    return 201, ""


async def _until_admission_answers(kube) -> None:
    """The webhook serves once kopf has scanned the cluster's resources: wait for its first refusal."""
    probe = {"metadata": {"name": "probe"}, "spec": {"schedule": "61 7 * * *", "assistantId": "agent"}}

    async def refused() -> bool:
        status, message = await _dry_run(kube, probe)
        return "denied the request" in message

    await wait_until(refused, timeout=30, what="the webhook's first answer")


def _parse_error(case: Case) -> str | None:
    try:
        parse_spec(case.full_spec())
    except InvalidSpec as exc:
        return str(exc)
    return None


def _validate_errors(tmp_path: Path, case: Case, namespace: str) -> list[str]:
    path = tmp_path / f"{case.name}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron",
                                    "metadata": {"name": case.name, "namespace": namespace},
                                    "spec": case.full_spec()}))
    return validate([path])[1]


# ---------------------------------------------------------------- the catalogue, at apply time


async def test_every_catalogued_case_is_refused_at_apply_with_the_reason_lgcron_validate_gives(
        kube, operator, webhook, tmp_path):
    problems: dict[str, str] = {}
    async with operator():
        await _wait_for_configuration(kube, webhook)
        await _until_admission_answers(kube)
        for case in CASES:
            if case.known_problem:
                continue
            status, message = await _dry_run(kube, {"metadata": {"name": case.name}, "spec": case.full_spec()})
            expected = _parse_error(case)
            offline = _validate_errors(tmp_path, case, kube.namespace)
            if case.schema_prunes:
                # kubectl's strict field validation refuses an unknown field by its path.
                if status != 400 or f'unknown field "{case.field}"' not in message:
                    problems[case.name] = f"want 400 naming unknown field {case.field}, got {status}: {message[:300]}"
                if not any(case.field in line for line in offline):
                    problems[case.name] = f"lgcron validate does not name the unknown field: {offline}"
            elif case.rejected_by_crd:
                # The CRD answers first (schema, then CEL): the webhook is not called.
                # 422 Invalid, or 400 when strict decoding meets a field inside a value of the wrong type.
                if status not in (400, 422) or case.field not in message:
                    problems[case.name] = f"want the CRD's refusal naming {case.field}, got {status}: {message[:300]}"
                elif case.cel_rejects and not any(m in message and m in (expected or "") for m in RULE_MESSAGES):
                    problems[case.name] = f"the CEL message is not the rule's words of {expected!r}: {message[:300]}"
                if not offline:
                    problems[case.name] = "lgcron validate accepts what the CRD refuses"
            elif case.reason in ("InvalidSpec", "ServerNotAllowed") and not case.ready:
                denied = f"denied the request: {expected}"
                if denied not in message:
                    problems[case.name] = f"want the webhook's refusal {expected!r}, got {status}: {message[:300]}"
                if not any(expected in line for line in offline):
                    problems[case.name] = f"lgcron validate does not say {expected!r}: {offline}"
            else:
                # Valid, pruned, or a problem that heals by itself (a missing Secret or server object).
                if status != 201:
                    problems[case.name] = f"want admitted, got {status}: {message[:300]}"
                if offline:
                    problems[case.name] = f"lgcron validate refuses an admitted case: {offline}"
    assert not problems, "\n".join(f"{name}: {text}" for name, text in problems.items())


async def test_every_catalogued_server_object_is_refused_at_apply(kube, operator, webhook):
    problems: dict[str, str] = {}
    async with operator():
        await _wait_for_configuration(kube, webhook)
        await _until_admission_answers(kube)
        for case in SERVER_CASES:
            cluster = case.kind == "ClusterLangGraphServer"
            plural = "clusterlanggraphservers" if cluster else "langgraphservers"
            body = {"apiVersion": "lgcron.io/v1alpha1", "kind": case.kind, "spec": case.spec,
                    "metadata": {"name": f"{kube.namespace}-{case.name}" if cluster else case.name}}
            path = api_path("lgcron.io/v1alpha1", plural, None if cluster else kube.namespace)
            try:
                await kube.call("POST", path, body, query={"dryRun": "All", "fieldValidation": "Strict"})
                status, message = 201, ""
            except kubernetes.client.ApiException as exc:
                status, message = exc.status, exc.body or ""
            try:
                parse_server_spec(body)
                expected = None
            except InvalidSpec as exc:
                expected = str(exc)
            if case.schema_rejects or case.cel_rejects:
                if status not in (400, 422) or case.field.removeprefix("spec.").split("[")[0] not in message:
                    problems[case.name] = f"want the CRD's refusal naming {case.field}, got {status}: {message[:300]}"
            elif expected is None or f"denied the request: {expected}" not in message:
                problems[case.name] = f"want the webhook's refusal {expected!r}, got {status}: {message[:300]}"
    assert not problems, "\n".join(f"{name}: {text}" for name, text in problems.items())


async def test_a_server_object_the_namespace_may_not_use_is_refused_and_a_missing_one_admitted(
        kube, operator, webhook, monkeypatch):
    monkeypatch.setenv("LGCRON_ALLOWED_SERVER_URLS", "https://allowed.example.com/")
    cluster_server = f"{kube.namespace}-elsewhere"
    body = {"apiVersion": "lgcron.io/v1alpha1", "kind": "ClusterLangGraphServer", "metadata": {"name": cluster_server},
            "spec": {"url": "https://allowed.example.com", "conditions": [{"namespaces": ["someone-else"]}]}}
    cluster_path = api_path("lgcron.io/v1alpha1", "clusterlanggraphservers")
    await kube.call("POST", cluster_path, body)
    try:
        async with operator():
            await _wait_for_configuration(kube, webhook)
            await _until_admission_answers(kube)
            spec = {"schedule": "0 9 1 1 *", "assistantId": "agent"}
            status, message = await _dry_run(kube, {"metadata": {"name": "not-allowed"}, "spec": {
                **spec, "serverRef": {"kind": "ClusterLangGraphServer", "name": cluster_server}}})
            assert status == 422 and (
                f"denied the request: spec.serverRef: ClusterLangGraphServer {cluster_server} does not allow "
                f"namespace '{kube.namespace}' (its spec.conditions); no request was sent") in message, message
            status, message = await _dry_run(kube, {"metadata": {"name": "outside-allowlist"}, "spec": {
                **spec, "server": {"url": "https://tenant-chose.example.com"}}})
            assert status == 422 and "denied the request: spec.server.url: this Agent Server is not in the " \
                "operator's LGCRON_ALLOWED_SERVER_URLS" in message, message
            status, message = await _dry_run(kube, {"metadata": {"name": "not-there-yet"}, "spec": {
                **spec, "serverRef": {"name": "applied-later"}}})
            assert status == 201, message  # GitOps applies in any order: the cron waits for its server
            # The server kinds are reviewed too: a port out of range passes the schema, not the webhook.
            bad_server = {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphServer",
                          "metadata": {"name": "bad-port"}, "spec": {"url": "https://a.example.com:99999"}}
            with pytest.raises(kubernetes.client.ApiException) as raised:
                await kube.call("POST", api_path("lgcron.io/v1alpha1", "langgraphservers", kube.namespace),
                                bad_server, query={"dryRun": "All"})
            assert "denied the request: spec.url: 'https://a.example.com:99999' has an invalid port" in raised.value.body
    finally:
        await kube.call("PATCH", f"{cluster_path}/{cluster_server}", {"metadata": {"finalizers": None}},
                        content_type="application/merge-patch+json")
        with contextlib.suppress(kubernetes.client.ApiException):
            await kube.call("DELETE", f"{cluster_path}/{cluster_server}")


# ---------------------------------------------------------------- the webhook down


async def test_webhook_down_with_ignore_admits_and_reconcile_still_reports_invalid_spec(kube, operator, webhook):
    bad = {"metadata": {"name": "minute-61"}, "spec": {"schedule": "61 7 * * *", "assistantId": "agent"}}
    async with operator():
        configuration = await _wait_for_configuration(kube, webhook)
        assert {hook["failurePolicy"] for hook in configuration["webhooks"]} == {"Ignore"}
        assert {hook["timeoutSeconds"] for hook in configuration["webhooks"]} == {5}
        await _until_admission_answers(kube)
    # Stopped: its configuration stays (persistent), and nothing answers at its URL.
    await kube.create(bad)
    async with operator():
        obj = await kube.wait_for("minute-61", lambda o: condition(o).get("reason") == "InvalidSpec")
    assert condition(obj)["message"] == _parse_error_of(bad["spec"])


def _parse_error_of(spec: dict[str, Any]) -> str:
    try:
        parse_spec(spec)
    except InvalidSpec as exc:
        return str(exc)
    raise AssertionError(f"valid: {spec}")


async def test_webhook_down_with_fail_refuses_applies_with_the_apiservers_message(kube, operator, webhook,
                                                                                     monkeypatch):
    monkeypatch.setenv("LGCRON_WEBHOOK_FAILURE_POLICY", "Fail")
    async with operator():
        configuration = await _wait_for_configuration(kube, webhook)
        assert {hook["failurePolicy"] for hook in configuration["webhooks"]} == {"Fail"}
        await _until_admission_answers(kube)
    good = {"metadata": {"name": "good"}, "spec": {"schedule": "0 9 1 1 *", "assistantId": "agent"}}
    status, message = await _dry_run(kube, good)
    assert status == 500 and 'failed calling webhook "langgraphcron.' in message, (status, message)
    assert "connection refused" in message, message


# ---------------------------------------------------------------- two replicas


async def test_the_standby_replica_answers_while_it_is_the_only_one_up(kube, kubeconfig_path, webhook, tmp_path):
    """Two replicas under kopf peering listen on the same port (kopf's server sets SO_REUSEPORT, as a
    Service spreads over Pods). The active one is killed: the paused one answers at once."""
    await asyncio.to_thread(ensure_crds, kube, PEERING_CRDS)
    peering = f"{kube.namespace}-peering"
    await kube.call("POST", api_path("kopf.dev/v1", "kopfpeerings", kube.namespace),
                    {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": peering}})
    env = {**os.environ, **webhook, "KUBECONFIG": str(kubeconfig_path), "LGCRON_SERVER_URL": "http://127.0.0.1:9"}
    replicas: dict[str, asyncio.subprocess.Process] = {}
    logs: dict[str, Path] = {}

    async def start(name: str, priority: int) -> None:
        logs[name] = tmp_path / f"{name}.log"
        replicas[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kopf", "run", "-m", "langgraph_cron.controller", "--namespace", kube.namespace,
            "--peering", peering, "--priority", str(priority), "--verbose",
            env=env, stdout=logs[name].open("wb"), stderr=asyncio.subprocess.STDOUT)

    try:
        await start("active", 200)
        await _wait_for_configuration(kube, webhook)
        await _until_admission_answers(kube)
        await start("standby", 100)
        async def standby_says(text: str) -> bool:
            return text in logs["standby"].read_text(errors="replace")

        await wait_until(lambda: standby_says("Pausing the watch-stream for langgraphcrons"), timeout=60,
                         what="the standby to pause in favour of the active replica")
        await wait_until(lambda: standby_says("Listening for webhooks"), timeout=30, what="the standby's webhook server")
        replicas["active"].send_signal(signal.SIGKILL)
        await replicas["active"].wait()
        bad = {"metadata": {"name": "minute-61"}, "spec": {"schedule": "61 7 * * *", "assistantId": "agent"}}
        answers = [await _dry_run(kube, bad) for _ in range(6)]
        # The apiserver may have held a connection to the killed replica: its first call can fail once.
        refused = [message for _, message in answers[1:] if "denied the request: spec.schedule" in message]
        assert len(refused) == 5, answers
        assert "Resuming the watch-stream for langgraphcrons" not in logs["standby"].read_text(errors="replace"), \
            "the standby took over already: this would not prove that a paused replica answers"
    finally:
        for process in replicas.values():
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()
