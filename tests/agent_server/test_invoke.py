"""`lgcron invoke` as a real subprocess against the real Agent Server, with the request the operator
builds for the cronJob backend (`cronjob.run_request`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from langgraph_cron.cli.invoke import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_RUN_FAILED,
    EXIT_TERMINATED,
    EXIT_UNREACHABLE,
    INVOCATION_KEY,
    JOB_KEY,
)
from langgraph_cron.core.cronjob import run_request
from langgraph_cron.core.spec import Identity, parse_spec

from tests.agent_server.helpers import (
    UID_KEY,
    new_thread,
    runs_of,
    threads_with,
    wait_for,
)
from tests.agent_server_fixture import free_port
from tests.graphs.auth import VALID_KEY

pytestmark = pytest.mark.agent_server

SENTINEL_KEY = "lgcron-sentinel-key-4711"


@dataclass
class Invocation:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def output(self) -> str:
        return self.out + self.err


def request_for(uid: str, assistant: str = "agent", **spec) -> dict:
    """The run request the operator puts into the CronJob for this spec."""
    parsed = parse_spec({"schedule": "0 9 1 1 *", "assistantId": assistant, "input": {"text": uid}, **spec})
    return run_request(parsed, Identity(uid, "team-a", "digest"), datetime.now(UTC))


async def invoke(server_url: str, request: dict | None, *args: str, api_key: str | None = None,
                 job: str | None = None) -> Invocation:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    env["LGCRON_SERVER_URL"] = server_url
    if request is not None:
        env["LGCRON_RUN_REQUEST"] = json.dumps(request)
    if api_key:
        env["LGCRON_API_KEY"] = api_key
    if job:
        env["LGCRON_JOB_NAME"] = job
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "langgraph_cron.cli", "invoke", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return Invocation(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


@pytest.fixture
async def doomed_threads(raw):
    """Thread ids to delete at teardown (with their runs)."""
    ids: list[str] = []
    yield ids
    for thread_id in ids:
        await raw.delete(f"/threads/{thread_id}")


async def only_thread(raw, uid: str) -> str:
    threads = await threads_with(raw, {UID_KEY: uid})
    assert len(threads) == 1, threads
    return threads[0]["thread_id"]


async def test_stateless_run_executes_the_graph_and_keeps_its_thread(agent_server, raw, uid, doomed_threads):
    result = await invoke(agent_server.url, request_for(uid, onRunCompleted="keep"), job="digest-29001")
    assert result.code == EXIT_OK, result
    thread_id = await only_thread(raw, uid)
    doomed_threads.append(thread_id)
    [run] = await runs_of(raw, thread_id)
    assert run["status"] == "success"
    assert (await raw.get(f"/threads/{thread_id}")).json()["values"] == {"text": uid, "reply": f"echo: {uid}"}
    assert (await raw.get(f"/threads/{thread_id}/runs/{run['run_id']}/join")).json()["reply"] == f"echo: {uid}"
    assert {k: run["metadata"].get(k) for k in (UID_KEY, "lgcron.io/namespace", "lgcron.io/name",
                                                "lgcron.io/assistant", JOB_KEY)} == {
        UID_KEY: uid, "lgcron.io/namespace": "team-a", "lgcron.io/name": "digest", "lgcron.io/assistant": "agent",
        JOB_KEY: "digest-29001"}
    assert run["metadata"][INVOCATION_KEY]
    assert f"run {run['run_id']} on thread {thread_id} started" in result.err
    assert f"run {run['run_id']} on thread {thread_id} finished: success" in result.err
    assert result.out == ""


async def test_on_run_completed_delete_leaves_no_thread(agent_server, raw, uid):
    result = await invoke(agent_server.url, request_for(uid))
    assert result.code == EXIT_OK, result
    assert "finished: success" in result.err and "deleted" in result.err
    assert await threads_with(raw, {UID_KEY: uid}) == []


async def test_thread_run_executes_on_the_given_thread_with_its_multitask_strategy(agent_server, raw, uid,
                                                                                    doomed_threads):
    thread_id = await new_thread(raw)
    doomed_threads.append(thread_id)
    result = await invoke(agent_server.url, request_for(uid, threadId=thread_id, multitaskStrategy="rollback"))
    assert result.code == EXIT_OK, result
    [run] = await runs_of(raw, thread_id)
    assert (run["status"], run["multitask_strategy"], run["metadata"][UID_KEY]) == ("success", "rollback", uid)
    assert (await raw.get(f"/threads/{thread_id}")).json()["values"] == {"text": uid, "reply": f"echo: {uid}"}


async def test_thread_run_is_rejected_while_busy_under_multitask_reject(agent_server, raw, uid, doomed_threads):
    thread_id = await new_thread(raw)
    doomed_threads.append(thread_id)
    pending = {"assistant_id": "agent", "input": {}, "after_seconds": 60}
    busy = (await raw.post(f"/threads/{thread_id}/runs", json=pending)).raise_for_status()
    result = await invoke(agent_server.url, request_for(uid, threadId=thread_id, multitaskStrategy="reject"))
    assert result.code == EXIT_REJECTED, result
    assert "HTTP 409" in result.err
    assert [r["run_id"] for r in await runs_of(raw, thread_id)] == [busy.json()["run_id"]]


async def test_failed_run_exits_with_the_run_failed_code(agent_server, raw, uid):
    result = await invoke(agent_server.url, request_for(uid, "failing"))
    assert result.code == EXIT_RUN_FAILED, result
    assert f"finished: error (BoomError: boom: {uid})" in result.err
    assert await threads_with(raw, {UID_KEY: uid}) == []  # deleted after a failure too


@pytest.mark.parametrize("spec", [{"assistantId": "no-such-graph"}, {"assistantId": str(uuid.uuid4())},
                                  {"threadId": str(uuid.uuid4())}])
async def test_unknown_assistant_or_thread_is_rejected(agent_server, raw, uid, spec):
    result = await invoke(agent_server.url, request_for(uid, **spec))
    assert result.code == EXIT_REJECTED, result
    [line] = [line for line in result.err.splitlines() if "rejected:" in line]
    assert "HTTP 404" in line or "HTTP 422" in line
    assert "Traceback" not in result.output
    assert await threads_with(raw, {UID_KEY: uid}) == []  # the thread made for the run is gone again


async def test_wrong_api_key_is_rejected_and_never_printed(auth_server, uid):
    result = await invoke(auth_server.url, request_for(uid), "--log-format", "json", api_key=SENTINEL_KEY)
    assert result.code == EXIT_REJECTED, result
    assert "HTTP 401" in json.loads(result.err.splitlines()[-1])["message"]
    assert SENTINEL_KEY not in result.output


async def test_valid_api_key_works_and_is_never_printed(auth_server, uid):
    result = await invoke(auth_server.url, request_for(uid), "--log-format", "json", api_key=VALID_KEY)
    assert result.code == EXIT_OK, result
    events = [json.loads(line) for line in result.err.splitlines()]
    assert [e["event"] for e in events] == ["thread_created", "run_started", "run_finished", "thread_deleted"]
    assert events[2]["status"] == "success"
    assert VALID_KEY not in result.output


async def test_unreachable_server_exits_quickly_with_a_shrunk_retry_budget():
    closed = f"http://127.0.0.1:{free_port()}"
    result = await invoke(closed, request_for("unreachable"), "--retry-budget", "2", api_key=SENTINEL_KEY)
    assert result.code == EXIT_UNREACHABLE, result
    assert "retrying" in result.err and "server unreachable:" in result.err.splitlines()[-1]
    assert result.seconds < 20
    assert SENTINEL_KEY not in result.output and "Traceback" not in result.output


async def test_no_wait_exits_once_the_run_is_accepted(agent_server, raw, uid, doomed_threads):
    request = {**request_for(uid, onRunCompleted="keep"), "after_seconds": 60}  # keeps the run pending
    result = await invoke(agent_server.url, request, "--no-wait")
    assert result.code == EXIT_OK, result
    assert result.seconds < 30 and "finished" not in result.err
    thread_id = await only_thread(raw, uid)
    doomed_threads.append(thread_id)
    [run] = await runs_of(raw, thread_id)
    assert run["status"] == "pending" and f"run {run['run_id']} on thread {thread_id} started" in result.err


async def test_no_wait_with_delete_leaves_the_thread_to_the_server(agent_server, raw, uid):
    request = {**request_for(uid), "after_seconds": 5}
    result = await invoke(agent_server.url, request, "--no-wait")
    assert result.code == EXIT_OK, result
    thread_id = await only_thread(raw, uid)
    [run] = await runs_of(raw, thread_id)
    assert run["metadata"][UID_KEY] == uid
    await wait_for(lambda: _no_threads(raw, uid), timeout=30)  # deleted by the server once the run ended


async def _no_threads(raw, uid):
    return await threads_with(raw, {UID_KEY: uid}) == []


async def test_request_file_works_like_the_env_var(agent_server, raw, uid, tmp_path, doomed_threads):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_for(uid, onRunCompleted="keep")))
    result = await invoke(agent_server.url, None, "--request-file", str(path))
    assert result.code == EXIT_OK, result
    thread_id = await only_thread(raw, uid)
    doomed_threads.append(thread_id)
    assert (await raw.get(f"/threads/{thread_id}")).json()["values"]["reply"] == f"echo: {uid}"


async def test_timeout_cancels_the_run_and_fails(agent_server, raw, uid, doomed_threads):
    request = {**request_for(uid, onRunCompleted="keep"), "after_seconds": 60}
    result = await invoke(agent_server.url, request, "--timeout", "2")
    assert result.code == EXIT_RUN_FAILED, result
    assert "did not finish within 2s; cancelled" in result.err
    thread_id = await only_thread(raw, uid)
    doomed_threads.append(thread_id)
    await wait_for(lambda: _statuses_are(raw, thread_id, ["interrupted"]), timeout=10)


async def test_sigterm_while_waiting_cancels_the_run(agent_server, raw, uid, doomed_threads):
    # What Kubernetes sends the Pod at activeDeadlineSeconds, on eviction or on a node drain.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    env.update(LGCRON_SERVER_URL=agent_server.url,
               LGCRON_RUN_REQUEST=json.dumps({**request_for(uid, onRunCompleted="keep"), "after_seconds": 60}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "langgraph_cron.cli", "invoke", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def started_run():
        threads = await threads_with(raw, {UID_KEY: uid})
        return threads and await runs_of(raw, threads[0]["thread_id"])

    try:
        await wait_for(started_run, timeout=30, interval=0.2)
    finally:
        proc.terminate()
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    thread_id = await only_thread(raw, uid)
    doomed_threads.append(thread_id)
    assert proc.returncode == EXIT_TERMINATED, (out, err)
    assert "terminated while waiting for run" in err.decode() and "; cancelled" in err.decode()
    await wait_for(lambda: _statuses_are(raw, thread_id, ["interrupted"]), timeout=10)


async def _statuses_are(raw, thread_id, statuses):
    return [run["status"] for run in await runs_of(raw, thread_id)] == statuses


class ResponseDroppingProxy:
    """Forwards to the server, but closes the connection instead of answering the first run
    create: the server made the run and the client never heard of it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dropped = False

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc) -> None:
        self._server.close()

    async def _serve(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        drop = asyncio.Event()

        async def upstream():
            while data := await client_reader.read(65536):
                first_line = data.split(b"\r\n", 1)[0]
                is_run_create = first_line.startswith(b"POST /threads/") and first_line.endswith(b"/runs HTTP/1.1")
                if is_run_create and not self.dropped:
                    self.dropped = True
                    drop.set()
                server_writer.write(data)
                await server_writer.drain()

        async def downstream():
            while data := await server_reader.read(65536):
                if drop.is_set():
                    return
                client_writer.write(data)
                await client_writer.drain()

        try:
            await asyncio.wait([asyncio.create_task(upstream()), asyncio.create_task(downstream())],
                               return_when=asyncio.FIRST_COMPLETED)
        except ConnectionError:
            pass
        finally:
            client_writer.close()
            server_writer.close()


async def test_a_lost_create_response_does_not_make_a_second_run(agent_server, raw, uid, doomed_threads):
    proxy = ResponseDroppingProxy(agent_server.port)
    async with proxy as url:
        result = await invoke(url, request_for(uid, onRunCompleted="keep"))
    assert proxy.dropped and "creating the run failed, retrying" in result.err
    assert result.code == EXIT_OK, result
    thread_id = await only_thread(raw, uid)
    doomed_threads.append(thread_id)
    [run] = await runs_of(raw, thread_id)
    assert run["status"] == "success"
