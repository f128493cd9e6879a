"""`lgcron demo`: the product's main job on a laptop, with no cluster and no LangSmith account.

It starts the real in-memory Agent Server with a bundled graph, reconciles the example
LangGraphCron files through the same `CronService` the operator uses (file mode), prints their
status, waits for the first scheduled run and shows it, and removes everything on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    exit_codes_help,
)
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.clients.devserver import AgentServerProcess
from langgraph_cron.core.files import Document, load_documents, status_table
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import NAME_KEY, NAMESPACE_KEY
from langgraph_cron.engine.backends import DEFAULT_BACKEND
from langgraph_cron.engine.backends.agent_server import AgentServerBackend
from langgraph_cron.engine.files import apply, delete
from langgraph_cron.engine.service import CronService

# The graph's file, not the module: importing it would load langgraph into every `lgcron` command.
DEMO_GRAPH = Path(__file__).with_name("demo_graph.py")


async def first_run(server_url: str, document: Document, timeout: float) -> dict | None:
    """The first finished run of a cron that keeps its threads (onRunCompleted: keep), or None."""
    tags = {NAMESPACE_KEY: document.namespace, NAME_KEY: document.name}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
        while time.monotonic() < deadline:
            for thread in (await http.post("/threads/search", json={"metadata": tags})).json():
                for run in (await http.get(f"/threads/{thread['thread_id']}/runs")).json():
                    if run["status"] in ("success", "error"):
                        output = (await http.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}/join")).json()
                        return {"run_id": run["run_id"], "status": run["status"], "output": output}
            await asyncio.sleep(1)
    return None


async def run_demo(examples: Path, *, wait_seconds: float, say: Callable[[str], None] = print) -> int:
    local = []
    for document in load_documents([examples]):
        if (document.body.get("spec") or {}).get("backend", DEFAULT_BACKEND) == AgentServerBackend.name:
            local.append(document)
        else:
            say(f"skipping {document.where} ({document.name}): the cronJob backend needs a Kubernetes cluster")
    say("starting the in-memory Agent Server ...")
    server = AgentServerProcess({"agent": f"{DEMO_GRAPH}:graph"})
    await asyncio.to_thread(server.start)
    try:
        say(f"Agent Server ready at {server.url}\n")
        async with make_http_client() as http:
            service = CronService(Settings(server_url=server.url), http, kube=None)
            try:
                results = await apply(service, local)
                say(status_table(results) + "\n")
                watched = next((d for d in local if (d.body.get("spec") or {}).get("onRunCompleted") == "keep"), None)
                if watched is not None and wait_seconds > 0:
                    say(f"waiting up to {wait_seconds:.0f}s for the first scheduled run of {watched.name} ...")
                    run = await first_run(server.url, watched, wait_seconds)
                    if run is None:
                        say("no run finished in time")
                        return EXIT_RUN_FAILED
                    say(f"run {run['run_id']} finished: {run['status']}; output: {run['output']}")
                ready = all(r.status.condition("Ready").status == "True" for _, r in results)
                return EXIT_OK if ready else EXIT_RUN_FAILED
            finally:
                await delete(service, local)
                say("deleted the demo crons")
    finally:
        await asyncio.to_thread(server.close)
        say("stopped the Agent Server")


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = commands.add_parser(
        "demo",
        help="run the example crons on a local in-memory Agent Server",
        description=(
            "Start the real in-memory Agent Server (needs the `server` extra) with a bundled graph, apply the "
            "example LangGraphCron files, print their status, wait for the first scheduled run and show it, then "
            "delete everything. Ctrl-C stops it cleanly."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, 5, notes={
            EXIT_RUN_FAILED: "an example is not Ready, or no run finished within --wait",
            EXIT_USAGE: "bad arguments, an examples directory that cannot be read"}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--examples", default="examples", metavar="DIR", help="directory of LangGraphCron files")
    demo.add_argument("--wait", type=float, default=90, metavar="SECONDS", help="how long to wait for a run (0: don't)")
    demo.set_defaults(func=command)
    return demo


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo(Path(args.examples), wait_seconds=args.wait))
