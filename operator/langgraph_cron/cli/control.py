"""`lgcron trigger` and `lgcron resume`: set the annotation the operator acts on, with your kubeconfig.

`trigger --wait` then follows the run to its end and exits as `lgcron invoke` does: 0 success,
1 the run failed (or timed out), 3 refused (the cron is suspended, expired, invalid or stopped),
4 the server or cluster stayed unreachable, 2 usage errors.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

from langgraph_cron.cli.invoke import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_RUN_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from langgraph_cron.core.models import GROUP, PLURAL, VERSION
from langgraph_cron.core.runcontrol import RESUME_ANNOTATION, TRIGGER_ANNOTATION

POLL_SECONDS = 1.0


def _api() -> Any:
    from langgraph_cron.cli.audit import load_api_client

    return load_api_client()


def _split(ref: str) -> tuple[str, str]:
    if ref.count("/") != 1 or not all(ref.split("/")):
        raise ValueError(f"{ref!r}: name the cron as NAMESPACE/NAME")
    namespace, name = ref.split("/")
    return namespace, name


def _annotate(api: Any, namespace: str, name: str, key: str, value: str) -> dict[str, Any]:
    import kubernetes

    objects = kubernetes.client.CustomObjectsApi(api)
    return objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                  {"metadata": {"annotations": {key: value}}})


def _get(api: Any, namespace: str, name: str) -> dict[str, Any]:
    import kubernetes

    return kubernetes.client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def resume_command(ref: str) -> int:
    import kubernetes

    try:
        namespace, name = _split(ref)
        value = datetime.now(UTC).isoformat()
        _annotate(_api(), namespace, name, RESUME_ANNOTATION, value)
    except ValueError as exc:
        return _fail("resume", str(exc), EXIT_USAGE)
    except kubernetes.client.ApiException as exc:
        return _fail("resume", f"cannot annotate LangGraphCron {ref}: HTTP {exc.status}", EXIT_REJECTED)
    print(f"{ref}: {RESUME_ANNOTATION}={value} set; a paused cron resumes (consecutive failures reset to 0)")
    return EXIT_OK


def trigger_command(ref: str, *, wait: bool, timeout: float) -> int:
    import kubernetes

    try:
        namespace, name = _split(ref)
        api = _api()
        value = datetime.now(UTC).isoformat()
        _annotate(api, namespace, name, TRIGGER_ANNOTATION, value)
        print(f"{ref}: {TRIGGER_ANNOTATION}={value} set")
        if not wait:
            return EXIT_OK
        deadline = time.monotonic() + timeout
        while True:
            trigger = ((_get(api, namespace, name).get("status") or {}).get("lastTrigger")) or {}
            if trigger.get("value") == value:
                break
            if time.monotonic() > deadline:
                return _fail("trigger", f"the operator did not handle the trigger within {timeout:g} s", EXIT_UNREACHABLE)
            time.sleep(POLL_SECONDS)
        if trigger.get("refused"):
            return _fail("trigger", f"refused: {trigger['refused']}", EXIT_REJECTED)
        if trigger.get("jobName"):
            print(f"{ref}: Job {trigger['jobName']} created; waiting for it to finish")
            return _follow_job(api, namespace, trigger["jobName"], deadline)
        print(f"{ref}: run {trigger.get('runId')} on thread {trigger.get('threadId')} started; waiting for it to finish")
        return asyncio.run(_follow_run(api, namespace, name, trigger, deadline))
    except ValueError as exc:
        return _fail("trigger", str(exc), EXIT_USAGE)
    except kubernetes.client.ApiException as exc:
        return _fail("trigger", f"LangGraphCron {ref}: HTTP {exc.status}", EXIT_REJECTED)


def _follow_job(api: Any, namespace: str, job_name: str, deadline: float) -> int:
    import kubernetes

    jobs = kubernetes.client.BatchV1Api(api)
    while time.monotonic() < deadline:
        status = jobs.read_namespaced_job_status(job_name, namespace).status
        done = {c.type: c for c in status.conditions or [] if c.status == "True"}
        if "Complete" in done or "SuccessCriteriaMet" in done:
            print(f"Job {job_name}: succeeded")
            return EXIT_OK
        failed = done.get("Failed") or done.get("FailureTarget")
        if failed is not None:
            print(f"Job {job_name}: failed: {failed.reason}: {failed.message}")
            return EXIT_RUN_FAILED
        time.sleep(POLL_SECONDS)
    return _fail("trigger", f"Job {job_name} did not finish in time", EXIT_UNREACHABLE)


async def _follow_run(api: Any, namespace: str, name: str, trigger: dict[str, Any], deadline: float) -> int:
    from langgraph_cron.cli.history import client_for_resource
    from langgraph_cron.clients.agent_server import (
        AgentServerError,
        ServerUnavailable,
        make_http_client,
    )

    settings, connection, key = client_for_resource(api, namespace, name)
    async with make_http_client(verify=settings.tls_verify, timeout=settings.request_timeout) as http:
        from langgraph_cron.clients.agent_server import AgentServerClient

        client = AgentServerClient(http, connection.url, key)
        while time.monotonic() < deadline:
            try:
                run = await client.get_run(trigger["threadId"], trigger["runId"])
            except ServerUnavailable:
                await asyncio.sleep(POLL_SECONDS)
                continue
            except AgentServerError as exc:
                return _fail("trigger", str(exc), EXIT_REJECTED)
            if run.status not in ("pending", "running"):
                print(f"run {run.run_id}: {run.status}")
                return EXIT_OK if run.status == "success" else EXIT_RUN_FAILED
            await asyncio.sleep(POLL_SECONDS)
    return _fail("trigger", f"run {trigger['runId']} did not finish in time", EXIT_UNREACHABLE)


def _fail(command: str, message: str, code: int) -> int:
    print(f"lgcron {command}: error: {message}", file=sys.stderr)
    return code
