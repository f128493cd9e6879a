"""Shared helpers of the operator tests: resource bodies, condition checks, server lookups."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph_cron.clients import metrics
from langgraph_cron.clients.agent_server import AgentServerClient, Cron

FAR_AWAY = "0 9 1 1 *"  # never fires during a test
UID_KEY = "lgcron.io/uid"


def resource(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"schedule": FAR_AWAY, "assistantId": "agent", "input": {"text": name}, **spec},
    }


def condition(obj: dict[str, Any], type_: str = "Ready") -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def is_ready(obj: dict[str, Any]) -> bool:
    return condition(obj)["status"] == "True" and obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def has_reason(reason: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: condition(obj)["reason"] == reason


async def crons_of(server: AgentServerClient, obj: dict[str, Any]) -> list[Cron]:
    return await server.search(metadata={UID_KEY: obj["metadata"]["uid"]})


async def event_reasons(kube, name: str) -> list[str]:
    return [e["reason"] for e in await kube.events(name)]


async def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def lgcron_command() -> list[str]:
    """The `lgcron` console script of this interpreter's environment, as users run it."""
    script = Path(sys.executable).with_name("lgcron")
    if script.exists():
        return [str(script)]
    found = shutil.which("lgcron")
    return [found] if found else [sys.executable, "-m", "langgraph_cron.cli"]


async def lgcron(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """`python -m langgraph_cron.cli ARGS` as a process of its own (KUBECONFIG and LGCRON_* from the
    test's environment): (exit code, stdout, stderr). kmock serves on the test's event loop, so the
    process is awaited, never waited for in a blocking call."""
    env = dict(os.environ)
    if admin := env.pop("LGCRON_TEST_ADMIN_KUBECONFIG", None):  # the operator runs as its ServiceAccount
        env["KUBECONFIG"] = admin
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "langgraph_cron.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    return process.returncode, out.decode(), err.decode()


def server_requests() -> Counter:
    """Agent Server requests the operator (running in this process) has made so far, by (method, endpoint);
    `after - before` is what happened in between."""
    counts: Counter = Counter()
    for family in metrics.SERVER_REQUESTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):  # one per status code: summed
                counts[sample.labels["method"], sample.labels["endpoint"]] += int(sample.value)
    return counts
