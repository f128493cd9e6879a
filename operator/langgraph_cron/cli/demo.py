"""`lgcron demo`: the product's main job on a laptop, with no cluster and no LangSmith account.

It starts the real in-memory Agent Server with a bundled graph, reconciles the example
LangGraphCron files through the same `CronService` the operator uses (file mode), prints their
status, waits for the first scheduled run and shows it, and removes everything on exit, on Ctrl-C
(SIGINT) and on SIGTERM, at any moment: the crons, the Agent Server process and its temp dir.

The examples it runs by default are packaged (`langgraph_cron/examples/`, package-data), so an
installed `lgcron demo` works from any directory. They are the subset of the repository's
`examples/` that file mode can run, byte for byte: tests/unit/test_demo_examples.py fails when a
packaged file differs from its namesake in `examples/`, so the two cannot drift. (Not a symlink
nor the whole of `examples/`: that folder also holds what needs a cluster, e.g. server objects.)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.resources
import importlib.util
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from langgraph_cron.cli.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_TERMINATED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
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
# Spec fields that the operator's run-history pass enforces; file mode has no such pass.
OPERATOR_ONLY = ("failurePolicy", "maxRuns", "runTimeoutSeconds")
# Flushed at once: a person (or a test) reading through a pipe sees each step as it happens.
say_flushed = functools.partial(print, flush=True)


def bundled_examples() -> Path:
    """The example files installed with the package (the demo's default)."""
    return Path(str(importlib.resources.files("langgraph_cron").joinpath("examples")))


def runnable(documents: list[Document], say: Callable[[str], None]) -> list[Document]:
    """The documents the demo can run on its local server; a line for each one it skips."""
    local = []
    for document in documents:
        spec = document.body.get("spec") or {}
        if spec.get("backend", DEFAULT_BACKEND) != AgentServerBackend.name:
            why = "the cronJob backend needs a Kubernetes cluster"
        elif spec.get("serverRef"):
            why = "server objects (spec.serverRef) live in Kubernetes, which the demo does not use"
        elif spec.get("server"):
            why = "it names its own Agent Server (spec.server); the demo runs crons on its local server only"
        else:
            why = None
        if why:
            say(f"skipping {document.where} ({document.name}): {why}")
            continue
        if fields := [field for field in OPERATOR_ONLY if field in spec]:
            say(f"note: {document.where} ({document.name}): {', '.join(fields)} is enforced by the operator's "
                "run-history pass, not by the demo")
        local.append(document)
    return local


class Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM while the demo runs.

    The first one cancels the step in progress (`run`), the Agent Server's start-up included; the
    cleanup that follows it is not a step, so it runs to its end whatever comes next, and a further
    signal only says so. Installed on the loop, so a signal lands at an await, never in between.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.received: int | None = None
        self._step: asyncio.Future | None = None
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        if self.received is not None:
            self.say("still cleaning up: the Agent Server and its temp dir are being removed ...")
            return
        self.received = signum
        self.say(f"\n{signal.Signals(signum).name}: stopping; cleaning up first ...")
        if self._step is not None:
            self._step.cancel()

    async def run(self, step: Coroutine[Any, Any, int]) -> int | None:
        """The step's result, or None when a signal cancelled it."""
        if self.received is not None:
            step.close()
            return None
        self._step = asyncio.ensure_future(step)
        try:
            return await self._step
        except asyncio.CancelledError:
            if self.received is None:
                raise  # cancelled from outside, not by a signal
            return None
        finally:
            self._step = None

    @property
    def exit_code(self) -> int | None:
        return {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}.get(self.received)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            loop.remove_signal_handler(signum)


async def start(server: AgentServerProcess) -> None:
    """`server.start()` in a worker thread. Cancelled, it stops the process being started and waits
    for the thread to end before it lets the cancellation through: a thread cannot be cancelled, and
    one left running would start uvicorn after the cleanup (reparented, still listening)."""
    starting = asyncio.ensure_future(asyncio.to_thread(server.start))
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        while not starting.done():
            # Gives up a start() in progress; one that has not begun yet is caught by the next round.
            await asyncio.to_thread(server.stop)
            await asyncio.wait([starting], timeout=0.5)
        if not starting.cancelled():
            starting.exception()  # retrieved: StartAborted is the expected end here
        raise
    except RuntimeError as exc:  # it exited, or did not answer in time: its log goes with its temp dir
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise CliError(f"{lines[0]} ... {lines[-1]}" if len(lines) > 1 else str(exc), EXIT_UNREACHABLE) from None


async def create_threads(server_url: str, documents: list[Document]) -> None:
    """A thread cron's thread must exist before the cron: on its throwaway server the demo makes it."""
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
        for document in documents:
            if thread_id := (document.body.get("spec") or {}).get("threadId"):
                tags = {NAMESPACE_KEY: document.namespace, NAME_KEY: document.name}
                body = {"thread_id": str(thread_id), "if_exists": "do_nothing", "metadata": tags}
                (await http.post("/threads", json=body)).raise_for_status()


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


async def show(server: AgentServerProcess, service: CronService, local: list[Document], *, wait_seconds: float,
               say: Callable[[str], None]) -> int:
    """Start the server, apply the crons, print their status, wait for the first run."""
    await start(server)
    say(f"Agent Server ready at {server.url}\n")
    await create_threads(server.url, local)
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


async def run_demo(examples: Path | None = None, *, wait_seconds: float,
                   say: Callable[[str], None] = say_flushed) -> int:
    source = examples or bundled_examples()
    local = runnable(load_documents([source]), say)
    if not local:
        raise CliError(f"{source}: no LangGraphCron that the demo can run (see the lines above)", EXIT_USAGE)
    interrupts = Interrupts(say)
    code: int | None = None
    try:
        say("starting the in-memory Agent Server ...")
        server = AgentServerProcess({"agent": f"{DEMO_GRAPH}:graph"})  # makes its temp dir: close() removes it
        try:
            async with make_http_client() as http:
                service = CronService(Settings(server_url=server.url), http, kube=None)
                try:
                    code = await interrupts.run(show(server, service, local, wait_seconds=wait_seconds, say=say))
                finally:
                    if server.is_running:
                        await delete(service, local)
                        say("deleted the demo crons")
        finally:
            await asyncio.to_thread(server.close)
            say("stopped the Agent Server")
    finally:
        interrupts.close()
    return interrupts.exit_code if code is None else code


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = commands.add_parser(
        "demo",
        help="run the example crons on a local in-memory Agent Server",
        description=(
            "Start the real in-memory Agent Server (needs the `server` extra) with a bundled graph, apply the "
            "example LangGraphCron files, print their status, wait for the first scheduled run and show it, then "
            "delete everything. Ctrl-C (or SIGTERM) at any moment stops it cleanly: no Agent Server process and "
            "no temp dir is left behind. Examples it cannot run without a cluster (the cronJob backend, server "
            "objects) are skipped with a line saying so."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, 5, EXIT_INTERRUPTED, EXIT_TERMINATED, notes={
            EXIT_RUN_FAILED: "an example is not Ready, or no run finished within --wait",
            EXIT_USAGE: "bad arguments, an examples directory that cannot be read or holds nothing to run, "
                        "no `server` extra",
            EXIT_UNREACHABLE: "the in-memory Agent Server did not start (the last line of its log is printed)",
            EXIT_INTERRUPTED: "interrupted (Ctrl-C), after removing the crons, the Agent Server and its temp dir",
            EXIT_TERMINATED: "terminated (SIGTERM), after the same cleanup"}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--examples", type=Path, metavar="DIR",
                      help="directory (or file) of LangGraphCron YAML (default: the examples installed with lgcron, "
                           "the file-mode ones of the repository's examples/)")
    demo.add_argument("--wait", type=float, default=90, metavar="SECONDS", help="how long to wait for a run (0: don't)")
    demo.set_defaults(func=command)
    return demo


def command(args: argparse.Namespace) -> int:
    missing = [name for name in ("uvicorn", "langgraph_api", "langgraph_runtime_inmem") if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(f"the demo needs the in-memory Agent Server ({', '.join(missing)} not installed): "
                       "pip install 'langgraph-cron-operator[server]'", EXIT_USAGE)
    return asyncio.run(run_demo(args.examples, wait_seconds=args.wait))
