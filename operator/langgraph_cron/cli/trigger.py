"""`lgcron trigger NAMESPACE/NAME [--wait]`: set the annotation the operator starts one run for, with
your kubeconfig; `--wait` then follows the run to its end (a Job of the cronJob backend, or a run on
the cron's Agent Server through the connector) and exits with its outcome."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from langgraph_cron.cli.cluster import (
    Cluster,
    CronServer,
    cron_server,
    cron_spec,
    split_ref,
)
from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_RUN_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    exit_codes_help,
    settings_from_env,
)
from langgraph_cron.clients.agent_server import AgentServerError, ServerUnavailable
from langgraph_cron.core.runcontrol import TRIGGER_ANNOTATION
from langgraph_cron.engine.backends.cronjob import CronJobBackend

POLL_SECONDS = 1.0


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    trigger = commands.add_parser(
        "trigger",
        help="start one run of a cron now",
        description=(
            "Set the lgcron.io/trigger annotation to the current time: the operator starts one run now with the "
            "cron's payload, assistant and thread (cronJob backend: a Job from the CronJob), exactly once per value. "
            "A suspended, expired, invalid or stopped cron refuses it. With --wait, follow the run to its end and "
            "exit with its outcome (as `lgcron invoke` does). Needs 'get' and 'patch' on langgraphcrons; --wait "
            "also reads the cron's server object and key Secret (or its Jobs)."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, 5, notes={
            EXIT_OK: "the trigger is set (with --wait: the run succeeded)",
            EXIT_RUN_FAILED: "--wait: the run failed (status error, timeout or interrupted; a failed Job)",
            EXIT_REJECTED: "refused: by the operator (a suspended, expired, invalid or stopped cron), the "
                           "Kubernetes API (RBAC), the Agent Server, or a key Secret you cannot read",
            EXIT_UNREACHABLE: "the Kubernetes API or the Agent Server did not answer, or --wait: the trigger was "
                              "not handled or the run did not end within --timeout",
        }),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trigger.add_argument("ref", metavar="NAMESPACE/NAME", help="the LangGraphCron")
    trigger.add_argument("--wait", action="store_true", help="wait for the run to end; exit with its outcome")
    trigger.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits (600)")
    trigger.set_defaults(func=command)
    return trigger


def command(args: argparse.Namespace) -> int:
    namespace, name = split_ref(args.ref)
    settings = settings_from_env() if args.wait else None
    return asyncio.run(_trigger(namespace, name, wait=args.wait, timeout=args.timeout, settings=settings))


async def _trigger(namespace: str, name: str, *, wait: bool, timeout: float, settings: Any) -> int:
    async with Cluster.open() as cluster:
        if not wait:
            await _set(cluster, namespace, name)
            return EXIT_OK
        body = await cluster.get_cron(namespace, name)
        if cron_spec(body).backend == CronJobBackend.name:
            return await _wait(cluster, namespace, name, None, timeout)
        # The server, its key and CA first: what cannot be read is said before a run is started.
        async with cron_server(cluster, body, settings) as server:
            return await _wait(cluster, namespace, name, server, timeout)


async def _set(cluster: Cluster, namespace: str, name: str) -> str:
    value = datetime.now(UTC).isoformat()
    await cluster.annotate(namespace, name, TRIGGER_ANNOTATION, value)
    print(f"{namespace}/{name}: {TRIGGER_ANNOTATION}={value} set", flush=True)
    return value


async def _wait(cluster: Cluster, namespace: str, name: str, server: CronServer | None, timeout: float) -> int:
    ref = f"{namespace}/{name}"
    value = await _set(cluster, namespace, name)
    deadline = time.monotonic() + timeout
    while True:
        body = await cluster.get_cron(namespace, name)
        trigger = (body.get("status") or {}).get("lastTrigger") or {}
        if trigger.get("value") == value:
            break
        if time.monotonic() > deadline:
            raise CliError(f"the operator did not handle the trigger within {timeout:g} s: is it running? "
                           f"`kubectl describe langgraphcron -n {namespace} {name}`", EXIT_UNREACHABLE)
        await asyncio.sleep(POLL_SECONDS)
    if trigger.get("refused"):
        raise CliError(f"refused: {trigger['refused']}", EXIT_REJECTED)
    if trigger.get("jobName"):
        print(f"{ref}: Job {trigger['jobName']} created; waiting for it to finish", flush=True)
        return await _follow_job(cluster, namespace, trigger["jobName"], deadline)
    if server is None or not trigger.get("runId"):
        raise CliError(f"the operator handled the trigger but recorded no run or Job: {trigger}", EXIT_REJECTED)
    print(f"{ref}: run {trigger.get('runId')} on thread {trigger.get('threadId')} started; "
          "waiting for it to finish", flush=True)
    return await _follow_run(server, trigger, deadline)


async def _follow_job(cluster: Cluster, namespace: str, job_name: str, deadline: float) -> int:
    while time.monotonic() < deadline:
        job = await cluster.call(cluster.kube.get_job(namespace, job_name), verb="get", resource="jobs",
                                 namespace=namespace)
        if job is None:
            raise CliError(f"Job {namespace}/{job_name} not found (deleted?)", EXIT_REJECTED)
        done = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
        if "Complete" in done or "SuccessCriteriaMet" in done:
            print(f"Job {job_name}: succeeded")
            return EXIT_OK
        failed = done.get("Failed") or done.get("FailureTarget")
        if failed is not None:
            print(f"Job {job_name}: failed: {failed.get('reason')}: {failed.get('message')}")
            return EXIT_RUN_FAILED
        await asyncio.sleep(POLL_SECONDS)
    raise CliError(f"Job {job_name} did not finish in time", EXIT_UNREACHABLE)


async def _follow_run(server: CronServer, trigger: dict[str, Any], deadline: float) -> int:
    unanswered: ServerUnavailable | None = None
    while time.monotonic() < deadline:
        try:
            run = await server.client.get_run(trigger["threadId"], trigger["runId"])
        except ServerUnavailable as exc:  # transient: ask again until the deadline
            unanswered = exc
            await asyncio.sleep(POLL_SECONDS)
            continue
        except AgentServerError as exc:
            raise server.error(exc) from None
        unanswered = None
        if run.status not in ("pending", "running"):
            print(f"run {run.run_id}: {run.status}")
            return EXIT_OK if run.status == "success" else EXIT_RUN_FAILED
        await asyncio.sleep(POLL_SECONDS)
    if unanswered is not None:
        raise server.error(unanswered)
    raise CliError(f"run {trigger['runId']} did not finish in time", EXIT_UNREACHABLE)
