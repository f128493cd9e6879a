"""`lgcron invoke`: one run of a LangGraphCron on the Agent Server, for the cronJob backend's Pods.

The request is the create-cron body the operator would send for a server cron (plus `thread_id`
for a thread cron); its scheduling fields are ignored. The pure parts (request -> `RunPlan`, run
status / error -> exit code) are plain functions; `invoke()` does the I/O through
`AgentServerClient`.

Stateless runs do not use the server's stateless endpoint while waiting: a client-chosen thread is
created first (idempotent with `if_exists: do_nothing`) and the run made on it, so a retried create
can find a run whose response was lost instead of starting a second one, and the outcome stays
readable after the run ends (the server deletes a stateless run's thread, run record included).
Only `--no-wait` with `on_run_completed: delete` uses that endpoint, since nobody stays to delete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

# The one exit-code table of every lgcron command (cli/errors.py), as invoke uses it:
# 0 ok; 1 the run ended in error, timeout or interrupted, or outlived --timeout; 2 argparse's own code,
# also a missing/invalid request or server URL; 3 the server refused the request (4xx); 4 connection
# errors, timeouts, 429, 5xx that outlasted the retries; 5 a bug; 143 SIGTERM (the run was cancelled).
from langgraph_cron.cli.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_RUN_FAILED,
    EXIT_TERMINATED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    Rejected,
    Run,
    ServerUnavailable,
    backoff_delay,
    make_http_client,
)
from langgraph_cron.core.cronjob import REQUEST_ENV
from langgraph_cron.core.runcontrol import NOT_RUN_FIELDS

# Seconds to cancel the run after SIGTERM: well inside Kubernetes' default 30 s grace period.
TERMINATION_CANCEL_BUDGET = 10.0

SERVER_ENV = "LGCRON_SERVER_URL"
API_KEY_ENV = "LGCRON_API_KEY"
JOB_ENV = "LGCRON_JOB_NAME"
CA_BUNDLE_ENV = "LGCRON_CA_BUNDLE"
JOB_KEY = "lgcron.io/job"
# Unique per invocation: how a retried create recognises its own run after a lost response.
INVOCATION_KEY = "lgcron.io/invocation"
ACTIVE_STATUSES = ("pending", "running")
DEFAULT_RETRY_BUDGET = 60.0

EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK}  the run succeeded (with --no-wait: it was accepted)
  {EXIT_RUN_FAILED}  the run failed (status error, timeout or interrupted) or outlived --timeout (then it is cancelled)
  {EXIT_USAGE}  bad arguments, or a missing or invalid run request or server URL
  {EXIT_REJECTED}  the server rejected the request (bad request, assistant or thread not found, unauthorized)
  {EXIT_UNREACHABLE}  the server stayed unreachable (connection errors, timeouts, 429, 5xx) through the retries
  {EXIT_INTERNAL}  internal error
  {EXIT_TERMINATED}  terminated (SIGTERM) while waiting: the run was cancelled

environment:
  {REQUEST_ENV}  the run request (JSON), unless --request-file is given
  {SERVER_ENV}   the Agent Server URL, unless --server is given
  {API_KEY_ENV}      API key, sent as the x-api-key header (never logged)
  {JOB_ENV}     recorded in the run's metadata as {JOB_KEY}
  {CA_BUNDLE_ENV}    PEM file of CAs to trust for TLS
"""


class InvalidRequest(ValueError):
    pass


@dataclass(frozen=True)
class RunPlan:
    body: dict[str, Any]  # the run-create body
    thread_id: str | None  # None: a stateless run on a new thread
    delete_thread: bool  # stateless with on_run_completed=delete
    invocation_id: str


def parse_request(text: str, *, invocation_id: str, job_name: str | None = None) -> RunPlan:
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"the run request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise InvalidRequest("the run request must be a JSON object")
    if not isinstance(request.get("assistant_id"), str) or not request["assistant_id"].strip():
        raise InvalidRequest("the run request has no assistant_id")
    thread_id = request.get("thread_id")
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id.strip()):
        raise InvalidRequest("thread_id in the run request must be a non-empty string")
    on_run_completed = request.get("on_run_completed") or "delete"
    if on_run_completed not in ("delete", "keep"):
        raise InvalidRequest(f"on_run_completed must be delete or keep, not {on_run_completed!r}")
    metadata = request.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata in the run request must be an object")
    body = {k: v for k, v in request.items() if k not in NOT_RUN_FIELDS}
    # As the operator does for crons: a run without input fails with EmptyInputError.
    body.setdefault("input", {})
    body["metadata"] = {**metadata, **({JOB_KEY: job_name} if job_name else {}), INVOCATION_KEY: invocation_id}
    return RunPlan(body=body, thread_id=thread_id, delete_thread=thread_id is None and on_run_completed == "delete",
                   invocation_id=invocation_id)


def exit_code_for_status(status: str) -> int:
    return EXIT_OK if status == "success" else EXIT_RUN_FAILED


def exit_code_for_error(exc: AgentServerError) -> int:
    return EXIT_UNREACHABLE if isinstance(exc, ServerUnavailable) else EXIT_REJECTED


def failure_detail(join_result: Any) -> str | None:
    """`BoomError: boom` from a join result of a failed run, if it says."""
    error = join_result.get("__error__") if isinstance(join_result, dict) else None
    if not isinstance(error, dict):
        return None
    return ": ".join(str(error[k]) for k in ("error", "message") if error.get(k)) or None


class EventLog:
    """One line per event on stderr, plain or JSON. Redacts the secrets again as a last line of defence."""

    def __init__(self, fmt: str = "plain", *, secrets: tuple[str | None, ...] = (), stream: TextIO | None = None):
        self.fmt = fmt
        self.secrets = tuple(s for s in secrets if s)
        self.stream = stream or sys.stderr

    def __call__(self, event: str, message: str, *, level: str = "info", **fields: Any) -> None:
        message = " ".join(message.split())  # server details can span lines; an event is one line
        if self.fmt == "json":
            line = json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                               "level": level, "event": event, "message": message, **fields})
        else:
            line = f"lgcron invoke: {message}"
        for secret in self.secrets:
            line = line.replace(secret, "***")
        print(line, file=self.stream, flush=True)


T = TypeVar("T")


async def retry_transient(call: Callable[[], Awaitable[T]], *, what: str, budget: float, log: EventLog,
                          recover: Callable[[], Awaitable[T | None]] | None = None) -> T:
    """`call` until it works, a non-transient error, or `budget` seconds would be exceeded.
    `recover` runs before each retry: a create whose response was lost may have worked."""
    deadline = time.monotonic() + budget
    attempt = 0
    while True:
        try:
            if attempt and recover is not None and (found := await recover()) is not None:
                return found
            return await call()
        except ServerUnavailable as exc:
            delay = backoff_delay(attempt, exc.retry_after, cap=budget)
            if time.monotonic() + delay > deadline:
                raise
            log("retry", f"{what} failed, retrying in {delay:.1f}s: {exc}", level="warning")
            await asyncio.sleep(delay)
            attempt += 1


async def invoke(client: AgentServerClient, plan: RunPlan, *, log: EventLog, wait: bool = True,
                 timeout: float | None = None, retry_budget: float = DEFAULT_RETRY_BUDGET) -> int:
    """One run of `plan`; returns the exit code. AgentServerErrors propagate (see exit_code_for_error)."""

    def retrying(call, what, recover=None):
        return retry_transient(call, what=what, budget=retry_budget, log=log, recover=recover)

    async def own_run_on(thread_id: str) -> Run | None:
        runs = await client.list_runs(thread_id)
        return next((r for r in runs if r.metadata.get(INVOCATION_KEY) == plan.invocation_id), None)

    if plan.delete_thread and not wait:
        # Nobody stays to delete the thread, so let the server do it, as for a stateless cron.
        async def own_stateless_run() -> Run | None:
            for thread_id in await client.search_threads(metadata={INVOCATION_KEY: plan.invocation_id}):
                try:
                    return await own_run_on(thread_id)
                except Rejected:  # deleted meanwhile: the run is over
                    pass
            return None

        run = await retrying(lambda: client.create_stateless_run({**plan.body, "on_completion": "delete"}),
                             "creating the run", own_stateless_run)
        log("run_started", f"run {run.run_id} on thread {run.thread_id} started", run_id=run.run_id,
            thread_id=run.thread_id)
        return EXIT_OK

    thread_id = plan.thread_id
    if thread_id is None:
        thread_id = str(uuid.uuid4())
        await retrying(lambda: client.create_thread(thread_id, metadata=plan.body["metadata"]), "creating the thread")
        log("thread_created", f"thread {thread_id} created", thread_id=thread_id)
    run: Run | None = None
    try:
        run = await retrying(lambda: client.create_run(thread_id, plan.body), "creating the run",
                             lambda: own_run_on(thread_id))
        log("run_started", f"run {run.run_id} on thread {thread_id} started", run_id=run.run_id, thread_id=thread_id)
        if not wait:
            return EXIT_OK
        return await _await_outcome(client, run, log=log, timeout=timeout, retrying=retrying)
    finally:
        # A fresh thread without our run is litter whatever on_run_completed says.
        if plan.thread_id is None and (run is None or (wait and plan.delete_thread)):
            await _delete_thread(client, thread_id, log=log, retrying=retrying)


async def _await_outcome(client: AgentServerClient, run: Run, *, log: EventLog, timeout: float | None,
                         retrying: Callable[..., Awaitable[Any]]) -> int:
    ids = {"run_id": run.run_id, "thread_id": run.thread_id}
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await retrying(lambda: client.join_run(run.thread_id, run.run_id), "waiting for the run")
                # The join body cannot tell an unknown run from a failed one: ask for the run itself.
                final = await retrying(lambda: client.get_run(run.thread_id, run.run_id), "reading the run")
                if final.status not in ACTIVE_STATUSES:
                    break
                await asyncio.sleep(1.0)  # a join cut short (e.g. by a proxy): join again
    except TimeoutError:
        cancelled = await _cancel(client, run, retrying)
        log("run_timeout", f"run {run.run_id} on thread {run.thread_id} did not finish within {timeout:g}s; "
            f"{cancelled}", level="error", exit_code=EXIT_RUN_FAILED, **ids)
        return EXIT_RUN_FAILED
    except asyncio.CancelledError:
        # SIGTERM: the Pod is being stopped (activeDeadlineSeconds, eviction, a drain). A run left
        # going would keep calling the LLM unwatched, and a retried Job would start a second one.
        asyncio.current_task().uncancel()
        cancelled = await _cancel(client, run, retrying, budget=TERMINATION_CANCEL_BUDGET)
        log("run_terminated", f"terminated while waiting for run {run.run_id} on thread {run.thread_id}; "
            f"{cancelled}", level="error", exit_code=EXIT_TERMINATED, **ids)
        return EXIT_TERMINATED
    code = exit_code_for_status(final.status)
    detail = failure_detail(result) if code else None
    log("run_finished", f"run {run.run_id} on thread {run.thread_id} finished: {final.status}"
        + (f" ({detail})" if detail else ""), level="info" if code == EXIT_OK else "error",
        status=final.status, exit_code=code, **ids)
    return code


async def _cancel(client: AgentServerClient, run: Run, retrying: Callable[..., Awaitable[Any]],
                  budget: float | None = None) -> str:
    """Cancel the run; returns what happened, for the log line."""
    try:
        call = lambda: client.cancel_run(run.thread_id, run.run_id)  # noqa: E731
        await (retrying(call, "cancelling the run") if budget is None
               else asyncio.wait_for(retrying(call, "cancelling the run"), budget))
    except (AgentServerError, TimeoutError) as exc:
        return f"cancelling it failed: {exc or 'no answer in time'}"
    return "cancelled"


async def _delete_thread(client: AgentServerClient, thread_id: str, *, log: EventLog,
                         retrying: Callable[..., Awaitable[Any]]) -> None:
    try:
        await retrying(lambda: client.delete_thread(thread_id, missing_ok=True), "deleting the thread")
    except AgentServerError as exc:
        # The run's outcome stands; a leftover thread costs nothing.
        log("thread_not_deleted", f"thread {thread_id} was not deleted: {exc}", level="warning", thread_id=thread_id)
    else:
        log("thread_deleted", f"thread {thread_id} deleted", thread_id=thread_id)


# ---------------------------------------------------------------- command line


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "invoke",
        help="perform one run of a cron on the Agent Server (the cronJob backend's Pods)",
        description=(
            "Perform ONE run of a cron on the Agent Server and, by default, wait for it, so that the\n"
            "exit code is the run's outcome. The run request is the create-cron JSON the operator builds\n"
            f"(with thread_id for a thread cron), from ${REQUEST_ENV} or --request-file. Transient\n"
            "errors are retried with backoff. One log line per event on stderr."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--request-file", metavar="PATH",
                        help=f"read the run request from this file instead of ${REQUEST_ENV}")
    parser.add_argument("--server", metavar="URL", help=f"Agent Server URL (default ${SERVER_ENV})")
    parser.add_argument("--no-wait", action="store_true",
                        help="exit 0 once the run is accepted, without waiting for it")
    parser.add_argument("--timeout", type=_positive, metavar="SECONDS",
                        help="cancel the run and fail if it has not finished after this long (default: no limit)")
    parser.add_argument("--retry-budget", type=_positive, default=DEFAULT_RETRY_BUDGET, metavar="SECONDS",
                        help="how long to keep retrying each transient failure (default %(default)g)")
    parser.add_argument("--log-format", choices=["plain", "json"], default="plain", help="log line format")
    parser.set_defaults(func=run_command)
    return parser


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return number


def run_command(args: argparse.Namespace) -> int:
    api_key = (os.environ.get(API_KEY_ENV) or "").strip() or None
    log = EventLog(args.log_format, secrets=(api_key,))
    try:
        plan = parse_request(_request_text(args.request_file), invocation_id=uuid.uuid4().hex,
                             job_name=os.environ.get(JOB_ENV) or None)
        server = (args.server or os.environ.get(SERVER_ENV) or "").strip()
        if not server.startswith(("http://", "https://")):
            raise InvalidRequest(f"no Agent Server URL: pass --server or set ${SERVER_ENV} (http:// or https://)"
                                 if not server else "the Agent Server URL must start with http:// or https://")
        return asyncio.run(_main(plan, server, api_key, args, log))
    except InvalidRequest as exc:
        log("error", f"error: {exc}", level="error", exit_code=EXIT_USAGE)
        return EXIT_USAGE
    except AgentServerError as exc:
        code = exit_code_for_error(exc)
        outcome = "server unreachable" if code == EXIT_UNREACHABLE else "rejected"
        log("error", f"{outcome}: {exc}", level="error", exit_code=code)
        return code
    except KeyboardInterrupt:
        log("error", "interrupted", level="error")
        return 130
    except Exception as exc:  # noqa: BLE001  one line, never a traceback (it could carry request headers)
        log("error", f"internal error: {type(exc).__name__}: {exc}", level="error", exit_code=EXIT_INTERNAL)
        return EXIT_INTERNAL


def _request_text(path: str | None) -> str:
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise InvalidRequest(f"cannot read --request-file {path}: {exc.strerror or exc}") from None
    text = os.environ.get(REQUEST_ENV)
    if not text:
        raise InvalidRequest(f"no run request: set ${REQUEST_ENV} or pass --request-file")
    return text


async def _main(plan: RunPlan, server: str, api_key: str | None, args: argparse.Namespace, log: EventLog) -> int:
    try:
        http = make_http_client(verify=os.environ.get(CA_BUNDLE_ENV) or True)
    except OSError as exc:
        raise InvalidRequest(f"${CA_BUNDLE_ENV}: {exc}") from None
    # SIGTERM cancels the work in progress; waiting for a run, that cancels the run too.
    main = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    async with http:
        client = AgentServerClient(http, server, api_key)
        try:
            return await invoke(client, plan, log=log, wait=not args.no_wait, timeout=args.timeout,
                                retry_budget=args.retry_budget)
        except asyncio.CancelledError:
            main.uncancel()
            log("terminated", "terminated (SIGTERM) before waiting for a run", level="error",
                exit_code=EXIT_TERMINATED)
            return EXIT_TERMINATED
