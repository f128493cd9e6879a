"""Helpers of the fault tests (test_faults.py): the operator as a killable process, a seeded random
workload of applies, edits and deletes, and the invariant every fault scenario ends with:

    exactly one cron per live LangGraphCron (the one its status names, matching its spec), zero crons
    for deleted ones, and every live one Ready at its current generation.

Everything here talks to Kubernetes through `KubeTestApi` and to the Agent Server through its HTTP
API, so it works the same against kmock and against a real cluster (KUBEBUILDER_ASSETS or LGCRON_TEST_KUBECONFIG).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
from langgraph_cron.clients.agent_server import AgentServerClient, Cron
from operator_helpers import condition, lgcron_command, resource

UID_KEY = "lgcron.io/uid"
NAMESPACE_KEY = "lgcron.io/namespace"
ASSISTANT_KEY = "lgcron.io/assistant"
RESERVED_PREFIX = "lgcron.io/"

# Schedules that never fire during a test (no runs of the `failing` graph pile up on the server).
SCHEDULES = ("0 9 1 1 *", "0 3 1 1 *", "30 4 2 2 *", "15 6 3 3 *", "45 23 4 4 *")
ASSISTANTS = ("agent", "failing")  # a swap cannot be patched in place: the cron is replaced


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_seed(name: str = "LGCRON_FAULTS_SEED") -> int:
    value = os.environ.get(name)
    return int(value) if value else random.SystemRandom().randrange(1, 2**31)


# ---------------------------------------------------------------- the operator as a process


class OperatorProcess:
    """`lgcron run --namespace NS` as users start it, that a test can SIGKILL at any moment.

    All runs append to one log file, each after a `===== start N =====` line.
    """

    def __init__(self, namespace: str, env: dict[str, str], log_path: Path) -> None:
        self.namespace = namespace
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []  # exit codes of runs that ended without being told to

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        assert not self.running
        self._note_unexpected_exit()
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *lgcron_command(), "run", "--namespace", self.namespace,
                env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
            )

    async def kill(self) -> None:
        """kill -9: no cleanup handlers, no graceful close of anything."""
        self._note_unexpected_exit()
        if self.running:
            assert self.process is not None
            self.process.kill()
            await self.process.wait()
            self.kills += 1
        self.process = None
        with self.log_path.open("ab") as log:
            log.write(f"===== killed (SIGKILL) at {time.strftime('%H:%M:%S')} =====\n".encode())

    async def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL when it does not end in time. Returns the exit code."""
        self._note_unexpected_exit()
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
        return process.returncode

    def _note_unexpected_exit(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            self.unexpected_exits.append(self.process.returncode)
            self.process = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def operator_env(kubeconfig: Path, server_url: str, **settings: str) -> dict[str, str]:
    """The environment of an `lgcron run` process: only what users would set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    env.update(KUBECONFIG=str(kubeconfig), LGCRON_SERVER_URL=server_url, PYTHONUNBUFFERED="1", **settings)
    return env


class LatencyProxy:
    """A loopback TCP proxy that holds every chunk of the server's answers for `delay` seconds.

    Slow answers widen the windows a crash test aims at (a cron created, its id not yet written;
    a replacement created, the old cron not yet deleted), so random kills land in them often.
    """

    def __init__(self, target_url: str, delay: float) -> None:
        self.target = ("127.0.0.1", int(target_url.rsplit(":", 1)[1]))
        self.delay = delay
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.url = ""

    async def start(self) -> LatencyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        pipes = [asyncio.create_task(self._pipe(client_reader, server_writer, 0.0)),
                 asyncio.create_task(self._pipe(server_reader, client_writer, self.delay))]
        self._tasks.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._tasks.difference_update(pipes)
            for writer in (client_writer, server_writer):
                writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


# ---------------------------------------------------------------- telling the test's own requests apart

# The fault tests make the emulator fail only the operator's requests: the test's own client (the
# `kube` fixture's) carries this User-Agent, which no operator request does.
TEST_USER_AGENT = "lgcron-fault-tests"


def tag_test_client(kube: Any) -> None:
    """Mark every request of this KubeTestApi, so injected faults can spare it."""
    kube._client.user_agent = TEST_USER_AGENT


def from_operator(request: Any) -> bool:
    """A `match` for KubeEmulator.fail_requests: any request not made by the test itself."""
    return not user_agent(request).startswith(TEST_USER_AGENT)


def is_watch(request: Any) -> bool:
    return request.params.get("watch") in ("true", "1")


def user_agent(request: Any) -> str:
    return next((v for k, v in request.headers.items() if k.lower() == "user-agent"), "")


def kopf_patch_of(name: str) -> Callable[[Any], bool]:
    """A `match` for kopf's own PATCHes of one object (finalizer, annotations; not its /status)."""
    def match(request: Any) -> bool:
        return (getattr(request.method, "value", request.method) == "PATCH" and request.name == name
                and request.subresource is None and user_agent(request).startswith("kopf/"))
    return match


# ---------------------------------------------------------------- the invariant


def spec_problems(spec: dict[str, Any], cron: Cron) -> list[str]:
    """Where the cron differs from the fields the fault workload edits."""
    problems = []
    if cron.schedule != spec["schedule"]:
        problems.append(f"schedule {cron.schedule!r} != {spec['schedule']!r}")
    if cron.metadata.get(ASSISTANT_KEY) != spec["assistantId"]:
        problems.append(f"assistant {cron.metadata.get(ASSISTANT_KEY)!r} != {spec['assistantId']!r}")
    user_metadata = {k: v for k, v in cron.metadata.items() if not k.startswith(RESERVED_PREFIX)}
    if user_metadata != (spec.get("metadata") or {}):
        problems.append(f"metadata {user_metadata} != {spec.get('metadata') or {}}")
    return problems


async def invariant_violations(
    kube: Any, server: AgentServerClient, deleted_uids: set[str] | dict[str, str], *, check_spec: bool = True
) -> list[str]:
    """Everything that breaks the invariant right now, as readable lines (empty: it holds).

    One paged search of the namespace's crons (cheap enough to poll); `assert_invariant_by_uid`
    is the final check, one search per uid.
    """
    problems: list[str] = []
    crons = await server.search_all(metadata={NAMESPACE_KEY: kube.namespace})
    by_uid: dict[str, list[Cron]] = {}
    for cron in crons:
        by_uid.setdefault(cron.metadata.get(UID_KEY, ""), []).append(cron)
    live: set[str] = set()
    for obj in await kube.list():
        name, uid = obj["metadata"]["name"], obj["metadata"]["uid"]
        if obj["metadata"].get("deletionTimestamp"):
            problems.append(f"{name}: deleted but still held ({len(by_uid.pop(uid, []))} cron(s)): {_ready_text(obj)}")
            continue
        live.add(uid)
        problems.extend(f"{name}: {p}" for p in _live_problems(obj, by_uid.get(uid, []), check_spec=check_spec))
    for uid in deleted_uids:
        if by_uid.get(uid):
            problems.append(f"deleted resource {uid}: {len(by_uid[uid])} cron(s) leaked: {_ids(by_uid[uid])}")
    for uid, owned in by_uid.items():
        if uid not in live and uid not in deleted_uids:
            problems.append(f"crons of an unknown uid {uid!r}: {_ids(owned)}")
    return problems


def _live_problems(obj: dict[str, Any], crons: list[Cron], *, check_spec: bool) -> list[str]:
    problems = []
    status = obj.get("status") or {}
    try:
        ready = condition(obj)
        if ready["status"] != "True" or status.get("observedGeneration") != obj["metadata"]["generation"]:
            problems.append(f"not Ready at generation {obj['metadata']['generation']}: {_ready_text(obj)}")
    except (KeyError, StopIteration):
        problems.append("no Ready condition yet")
    if len(crons) != 1:
        problems.append(f"{len(crons)} crons instead of 1: {_ids(crons)}")
    elif crons[0].cron_id != status.get("cronId"):
        problems.append(f"status.cronId {status.get('cronId')} but the server has {crons[0].cron_id}")
    elif check_spec and (diff := spec_problems(obj["spec"], crons[0])):
        problems.append(f"cron {crons[0].cron_id} does not match the spec: {'; '.join(diff)}")
    return problems


def _ready_text(obj: dict[str, Any]) -> str:
    try:
        ready = condition(obj)
    except (KeyError, StopIteration):
        return "no Ready condition"
    return (f"Ready={ready['status']} {ready.get('reason')} (observedGeneration "
            f"{(obj.get('status') or {}).get('observedGeneration')}): {ready.get('message', '')[:200]}")


def _ids(crons: list[Cron]) -> list[str]:
    return [c.cron_id for c in crons]


async def wait_for_invariant(
    kube: Any, server: AgentServerClient, deleted_uids: set[str] | dict[str, str], *, timeout: float,
    context: Callable[[], str] = lambda: "", check_spec: bool = True,
) -> float:
    """Poll until the invariant holds; returns the seconds it took. On timeout, fail with every
    violation (at most 40 lines) and `context()` (e.g. the seed and the operator's log tail)."""
    started = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - started < timeout:
        problems = await invariant_violations(kube, server, deleted_uids, check_spec=check_spec)
        if not problems:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    shown = "\n  ".join(problems[:40]) + (f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else "")
    raise AssertionError(f"the invariant does not hold after {timeout:.0f}s ({len(problems)} problems):\n  "
                         f"{shown}\n{context()}")


async def assert_invariant_by_uid(kube: Any, server: AgentServerClient, deleted_uids: set[str] | dict[str, str],
                                  *, check_spec: bool = True) -> list[dict[str, Any]]:
    """The final check, searching the server by {"lgcron.io/uid": uid} for every resource."""
    objs = await kube.list()
    problems = []
    for obj in objs:
        found = await server.search(metadata={UID_KEY: obj["metadata"]["uid"]})
        if obj["metadata"].get("deletionTimestamp"):
            problems.append(f"{obj['metadata']['name']}: still being deleted")
        problems.extend(f"{obj['metadata']['name']}: {p}" for p in _live_problems(obj, found, check_spec=check_spec))
    for uid in deleted_uids:
        if leaked := await server.search(metadata={UID_KEY: uid}):
            problems.append(f"deleted resource {uid}: {len(leaked)} cron(s) leaked: {_ids(leaked)}")
    assert not problems, "\n".join(problems)
    return objs


# ---------------------------------------------------------------- a seeded random workload


@dataclass
class Workload:
    """Applies, edits and deletes LangGraphCrons in a seeded random order.

    Which operation comes next depends only on the seed (not on timing), so a failing sequence can
    be replayed with the same seed. The kill times of the crash test come from another generator.
    """

    kube: Any
    seed: int
    prefix: str = "chaos"
    target: int = 50  # resources to create in all
    edits: int = 50
    deletes: int = 12
    rng: random.Random = field(init=False)
    live: dict[str, str] = field(default_factory=dict)  # name -> uid
    deleted: dict[str, str] = field(default_factory=dict)  # uid -> name
    created: int = 0
    done_edits: int = 0
    done_deletes: int = 0
    log: list[str] = field(default_factory=list)
    _specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def total(self) -> int:
        return self.target + self.edits + self.deletes

    @property
    def done(self) -> int:
        return self.created + self.done_edits + self.done_deletes

    async def step(self) -> None:
        """One operation: create while resources are left to create (mixed with the others)."""
        choices: list[tuple[Callable[[], Awaitable[None]], int]] = []
        if self.created < self.target:
            choices.append((self.create, 3))
        if self.live and self.done_edits < self.edits:
            choices.append((self.edit, 3))
        # Deletes only after a few creates, and never of the last few live resources.
        if len(self.live) > 5 and self.done_deletes < self.deletes:
            choices.append((self.delete, 1))
        if not choices:
            return
        operation = self.rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]
        await operation()

    async def run(self, pace: float) -> None:
        """All operations, `pace` seconds apart (on average)."""
        while self.done < self.total:
            before = self.done
            await self.step()
            if self.done == before:
                break
            await asyncio.sleep(self.rng.uniform(0, 2 * pace))

    async def create(self) -> None:
        name = f"{self.prefix}-{self.created}"
        spec = {
            "schedule": self.rng.choice(SCHEDULES),
            "assistantId": self.rng.choice(ASSISTANTS),
            "metadata": {"team": self.rng.choice(["a", "b"]), **({"tier": "gold"} if self.rng.random() < 0.5 else {})},
        }
        self.created += 1
        obj = await self.kube.create(resource(name, **spec))
        self.live[name] = obj["metadata"]["uid"]
        self._specs[name] = spec
        self.log.append(f"create {name} {spec}")

    async def edit(self) -> None:
        name = self.rng.choice(sorted(self.live))
        spec = self._specs[name]
        kind = self.rng.choice(["schedule", "assistant", "metadata", "metadata-key", "label"])
        if kind == "schedule":
            patch = {"spec": {"schedule": self.rng.choice([s for s in SCHEDULES if s != spec["schedule"]])}}
        elif kind == "assistant":
            patch = {"spec": {"assistantId": "failing" if spec["assistantId"] == "agent" else "agent"}}
        elif kind == "metadata":
            patch = {"spec": {"metadata": {"team": "b" if spec["metadata"].get("team") == "a" else "a"}}}
        elif kind == "metadata-key":  # a removed metadata key cannot be patched away: a replace
            patch = {"spec": {"metadata": {"tier": None if "tier" in spec["metadata"] else "silver"}}}
        else:  # Kubernetes metadata only: no new generation, nothing to change on the server
            patch = {"metadata": {"labels": {"touched": str(self.done_edits)}}}
        self.done_edits += 1
        await self.kube.patch(name, patch)
        if "spec" in patch:
            for key, value in patch["spec"].items():
                if isinstance(value, dict):
                    merged = {**spec[key], **value}
                    spec[key] = {k: v for k, v in merged.items() if v is not None}
                else:
                    spec[key] = value
        self.log.append(f"edit {name} {kind} {patch}")

    async def delete(self) -> None:
        name = self.rng.choice(sorted(self.live))
        uid = self.live.pop(name)
        self.done_deletes += 1
        self.deleted[uid] = name
        try:
            await self.kube.delete(name)
        except kubernetes.client.ApiException as exc:  # never expected; say so clearly
            raise AssertionError(f"deleting {name} failed: {exc}") from None
        self.log.append(f"delete {name} ({uid})")
