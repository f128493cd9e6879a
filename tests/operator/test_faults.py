"""Fault injection: no cron is ever leaked or duplicated, whatever fails and whenever.

Every scenario ends with the same invariant (faults_helpers.invariant_violations): exactly one
cron per live LangGraphCron, found on the real Agent Server by {"lgcron.io/uid": uid}, zero crons
for deleted ones, every live one Ready at its current generation.

Run alone with `pytest -m faults`. The scenarios of section 3 need the kmock emulator (its opt-in
fault injection); everything else runs on a real cluster too (KUBEBUILDER_ASSETS or LGCRON_TEST_KUBECONFIG).

Sizes, by environment variable (the defaults are the issue's sizes and fit CI):

  LGCRON_FAULTS_RESOURCES          crash test: resources created in all (as many edits, 1/4 deleted)  200
  LGCRON_FAULTS_CYCLES             crash test: kill -9 / restart cycles                               10
  LGCRON_FAULTS_SEED               seed of the crash test's operations and kill times     random, printed
  LGCRON_FAULTS_RESTART_RESOURCES  Agent Server restart test: resources                               50
  LGCRON_FAULTS_OUTAGE_DELETES     deletion-during-outage test: resources                             50
  LGCRON_FAULTS_TRIGGER_RESOURCES  trigger test: resources triggered 4 times each, kills in between   10

A failing crash test names its seed: rerun it with LGCRON_FAULTS_SEED=<seed> (the operations repeat
exactly; the kill times too, though where they land depends on timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter

import pytest
from faults_helpers import (
    NAMESPACE_KEY,
    SCHEDULES,
    UID_KEY,
    LatencyProxy,
    OperatorProcess,
    Workload,
    assert_invariant_by_uid,
    env_int,
    env_seed,
    from_operator,
    invariant_violations,
    is_watch,
    kopf_patch_of,
    operator_env,
    tag_test_client,
    wait_for_invariant,
)
from kube_test_api import api_path
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    make_http_client,
)
from operator_helpers import (
    condition,
    crons_of,
    event_reasons,
    has_reason,
    is_ready,
    resource,
    wait_until,
)

from tests.graphs.auth import VALID_KEY

pytestmark = [pytest.mark.faults, pytest.mark.operator]

CRASH_RESOURCES = env_int("LGCRON_FAULTS_RESOURCES", 200)
CRASH_CYCLES = env_int("LGCRON_FAULTS_CYCLES", 10)
CRASH_SERVER_LATENCY = 0.05  # seconds added to every Agent Server answer the crashing operator gets

CRASH_SENTINEL_KEY = "sk-lgcron-faults-sentinel-91c3"
CRASH_KEY_SECRET = "lgcron-faults-api-key"


def operator_log(caplog: pytest.LogCaptureFixture, chars: int) -> str:
    # Not runner.output: that blocks until the operator has stopped (and kmock serves on this loop).
    return f"operator log (last {chars} characters):\n{caplog.text[-chars:]}"


def timings(**values: float) -> str:
    return " ".join(f"{k}={v:.1f}s" for k, v in values.items())


# ------------------------------------------------------------------ 1. the operator is killed at random points


@pytest.mark.timeout(150 + CRASH_RESOURCES * 1.5 + CRASH_CYCLES * 10)
async def test_kill_9_at_random_points_never_leaks_or_duplicates_a_cron(
    kube, kubeconfig_path, agent_server, server, tmp_path
):
    seed = env_seed()
    print(f"LGCRON_FAULTS_SEED={seed} resources={CRASH_RESOURCES} cycles={CRASH_CYCLES}")
    kill_rng = random.Random(seed ^ 0x5EED)
    await kube.create_secret(CRASH_KEY_SECRET, {"apiKey": CRASH_SENTINEL_KEY})
    # Slow server answers keep each reconcile in flight longer, so more kills land mid-reconcile.
    slow = await LatencyProxy(agent_server.url, delay=CRASH_SERVER_LATENCY).start()
    env = operator_env(kubeconfig_path, slow.url, LGCRON_RESYNC_INTERVAL="2", LGCRON_REQUEST_TIMEOUT="5",
                       LGCRON_API_KEY_SECRET=f"{CRASH_KEY_SECRET}:apiKey")
    operator = OperatorProcess(kube.namespace, env, tmp_path / "operator.log")
    workload = Workload(kube, seed, target=CRASH_RESOURCES, edits=CRASH_RESOURCES, deletes=CRASH_RESOURCES // 4)

    def context() -> str:
        return (f"LGCRON_FAULTS_SEED={seed}; operator starts={operator.starts} kills={operator.kills} "
                f"unexpected exits={operator.unexpected_exits}; last operations:\n  "
                + "\n  ".join(workload.log[-15:]) + f"\noperator log ({operator.log_path}):\n{operator.log_tail()}")

    async def kill_cycles(cycles: int, uptime: tuple[float, float], downtime: tuple[float, float]) -> None:
        for _ in range(cycles):
            await operator.start()
            await asyncio.sleep(kill_rng.uniform(*uptime))
            await operator.kill()
            await asyncio.sleep(kill_rng.uniform(*downtime))

    started = time.monotonic()
    try:
        # Applies, edits and deletes, paced over the kill cycles, so kills land in all of them.
        uptime, downtime = (1.0, 4.0), (0.1, 1.0)
        expected = CRASH_CYCLES * (sum(uptime) + sum(downtime)) / 2
        await asyncio.gather(kill_cycles(CRASH_CYCLES, uptime, downtime), workload.run(pace=expected / workload.total))
        chaos = time.monotonic() - started

        await operator.start()
        converged = await wait_for_invariant(kube, server, workload.deleted, timeout=60 + CRASH_RESOURCES * 0.5,
                                             context=context)
        await assert_invariant_by_uid(kube, server, workload.deleted)

        # Delete everything, with one more kill in the middle: not one cron may survive.
        mark = time.monotonic()
        names = sorted(workload.live)
        half = len(names) // 2
        for name in names[:half]:
            await workload.kube.delete(name)
            workload.deleted[workload.live.pop(name)] = name
        await operator.kill()
        for name in names[half:]:
            await workload.kube.delete(name)
            workload.deleted[workload.live.pop(name)] = name
        await operator.start()
        await wait_for_invariant(kube, server, workload.deleted, timeout=60 + CRASH_RESOURCES * 0.3, context=context)
        await assert_invariant_by_uid(kube, server, workload.deleted)
        teardown = time.monotonic() - mark
        assert operator.unexpected_exits == [], context()
    finally:
        await operator.stop()
        await slow.close()

    events = (await kube.call("GET", api_path("v1", "events", kube.namespace)))["items"]
    reasons = Counter(e["reason"] for e in events if e["involvedObject"].get("kind") == "LangGraphCron")
    # How often the crash-recovery paths ran (Adopted, DuplicateDeleted): evidence the kills landed mid-reconcile.
    print(f"seed={seed} kills={operator.kills} operations={workload.done} "
          + timings(chaos=chaos, converge=converged, delete_all=teardown, total=time.monotonic() - started)
          + f" events={dict(sorted(reasons.items()))}")
    written = [operator.log_text(), json.dumps(await kube.list()), json.dumps(events)]
    assert not [text for text in written if CRASH_SENTINEL_KEY in text], "the API key leaked into logs, Events, status"


TRIGGER_RESOURCES = env_int("LGCRON_FAULTS_TRIGGER_RESOURCES", 10)


@pytest.mark.timeout(240)
async def test_kill_9_while_triggers_are_handled_never_runs_one_twice(kube, kubeconfig_path, agent_server, server,
                                                                     tmp_path):
    """Every resource gets a trigger while the operator is killed at random moments: in the end each
    trigger has exactly one run (a retry finds the run a killed process started)."""
    from langgraph_cron.core.runcontrol import trigger_thread_id

    seed = env_seed()
    rng = random.Random(seed ^ 0x7216)
    print(f"LGCRON_FAULTS_SEED={seed} resources={TRIGGER_RESOURCES}")
    await kube.create_secret(CRASH_KEY_SECRET, {"apiKey": CRASH_SENTINEL_KEY})
    slow = await LatencyProxy(agent_server.url, delay=CRASH_SERVER_LATENCY).start()
    env = operator_env(kubeconfig_path, slow.url, LGCRON_RESYNC_INTERVAL="2", LGCRON_REQUEST_TIMEOUT="5",
                       LGCRON_API_KEY_SECRET=f"{CRASH_KEY_SECRET}:apiKey")
    operator = OperatorProcess(kube.namespace, env, tmp_path / "operator.log")
    names = [f"trig-{i:02d}" for i in range(TRIGGER_RESOURCES)]
    uids: dict[str, str] = {}
    try:
        await operator.start()
        for name in names:
            uids[name] = (await kube.create(resource(name)))["metadata"]["uid"]
        for name in names:
            await kube.wait_for(name, is_ready, timeout=60)
        for _ in range(4):
            for name in rng.sample(names, k=len(names)):
                with contextlib.suppress(Exception):  # an object may be mid-update: the last value counts
                    await kube.patch(name, {"metadata": {"annotations": {"lgcron.io/trigger": f"v-{name}-{_}"}}})
                if rng.random() < 0.15:
                    await operator.kill()
                    await asyncio.sleep(rng.uniform(0.1, 0.5))
                    await operator.start()
            await asyncio.sleep(rng.uniform(0.2, 1.5))
        await operator.kill()
        await operator.start()
        handled = {}
        for name in names:
            obj = await kube.wait_for(name, lambda o: (o["metadata"].get("annotations") or {}).get("lgcron.io/trigger")
                                      == (o["status"].get("lastTrigger") or {}).get("value"), timeout=90)
            handled[name] = obj["status"]["lastTrigger"]
        for name, trigger in handled.items():
            runs = await server.list_runs(trigger_thread_id(uids[name], trigger["value"]))
            assert [r.run_id for r in runs] == [trigger["runId"]], f"{name}: {trigger} ran {len(runs)} times"
            for cycle in range(4):  # a value superseded before it was handled never ran; none ran twice
                value = f"v-{name}-{cycle}"
                ran = await _runs_of(server, trigger_thread_id(uids[name], value))
                assert len(ran) <= 1, f"{name}: {value} ran {len(ran)} times"
        assert operator.unexpected_exits == []
        print(f"seed={seed} kills={operator.kills}")
    finally:
        await operator.stop()
        await slow.close()


async def _runs_of(server: AgentServerClient, thread_id: str) -> list:
    """The thread's runs; none when the thread does not exist (that trigger value never ran)."""
    try:
        return await server.list_runs(thread_id)
    except AgentServerError as exc:
        if exc.status_code == 404:
            return []
        raise


# ------------------------------------------------------------------ 2. the Agent Server restarts without its crons

RESTART_RESOURCES = env_int("LGCRON_FAULTS_RESTART_RESOURCES", 50)
RESYNC_INTERVAL = 2.0  # what the `operator` fixture sets


@pytest.mark.timeout(120 + RESTART_RESOURCES)
async def test_agent_server_restart_that_lost_every_cron_is_repaired_by_one_resync_pass(
    kube, operator, server, agent_server, caplog
):
    async with operator() as runner:
        for i in range(RESTART_RESOURCES):
            await kube.create(resource(f"lost-{i}", schedule=SCHEDULES[i % len(SCHEDULES)]))
        await wait_for_invariant(kube, server, set(), timeout=60 + RESTART_RESOURCES * 0.5)
        before = {o["metadata"]["name"]: o["status"]["cronId"] for o in await kube.list()}
        try:
            # Blocking calls, off the event loop: kmock serves the operator from this loop meanwhile.
            await asyncio.to_thread(agent_server.stop)
            await asyncio.to_thread(agent_server.start, fresh=True)  # no crons, threads or runs
        finally:
            if not agent_server.is_running:
                await asyncio.to_thread(agent_server.start)
        took = await wait_for_invariant(kube, server, set(), timeout=60 + RESTART_RESOURCES * 0.5,
                                        context=lambda: operator_log(caplog, 5000))
        objs = await assert_invariant_by_uid(kube, server, set())
        assert not runner.future.done(), "the operator stopped"

    recreated = {o["metadata"]["name"]: o["status"]["cronId"] for o in objs}
    assert not set(before.values()) & set(recreated.values()), "the fresh server cannot have kept a cron"
    print(f"resources={RESTART_RESOURCES} all crons recreated {took:.1f}s after the server was back")
    # One pass: it starts within one interval and recreates every missing cron in one go.
    assert took <= 2 * RESYNC_INTERVAL + 0.2 * RESTART_RESOURCES, f"took {took:.1f}s: more than one resync pass"
    assert "Recreated" in await event_reasons(kube, "lost-0")


# ------------------------------------------------------------------ 3. the Kubernetes API drops watches and fails


EMULATOR_ONLY = pytest.mark.emulator_only(
    reason="a real API server cannot be made to drop watches or fail requests on demand"
)


@EMULATOR_ONLY
@pytest.mark.timeout(150)
async def test_dropped_watch_streams_are_resumed_without_a_restart(kube, kube_emulator, operator, server, caplog):
    tag_test_client(kube)
    deleted: dict[str, str] = {}

    async def converged(timeout: float) -> None:
        await wait_for_invariant(kube, server, deleted, timeout=timeout, context=lambda: operator_log(caplog, 5000))
    async with operator() as runner:
        for i in range(3):
            await kube.create(resource(f"watched-{i}"))
        await converged(30)

        # The connection is reset: the operator resumes from the last resourceVersion it saw.
        for round_ in range(3):
            assert kube_emulator.drop_watches() >= 1, "the operator had no open watch to drop"
            await kube.create(resource(f"after-drop-{round_}"))
            await kube.patch(f"watched-{round_}", {"spec": {"schedule": SCHEDULES[round_ + 1]}})
            await converged(30)

        # The history is gone (410 Gone on every open and resuming watch): it has to list again.
        expired = kube_emulator.expired_watches
        kube_emulator.forget_history()
        await kube.create(resource("after-compaction"))
        await kube.patch("watched-0", {"spec": {"assistantId": "failing"}})
        deleted[(await kube.get("watched-1"))["metadata"]["uid"]] = "watched-1"
        await kube.delete("watched-1")
        await converged(30)
        assert kube_emulator.expired_watches > expired, "no watch got 410 Gone"

        # The watch cannot reconnect for a while (503), and changes pile up meanwhile.
        refused = kube_emulator.fail_requests(503, seconds=4, match=lambda r: from_operator(r) and is_watch(r))
        assert kube_emulator.drop_watches() >= 1
        await kube.create(resource("while-unwatched"))
        await kube.patch("watched-2", {"spec": {"metadata": {"during": "outage"}}})
        await converged(45)
        assert refused.hits >= 1, "no watch request hit the fault"
        assert not runner.future.done(), "the operator stopped"


@EMULATOR_ONLY
@pytest.mark.timeout(150)
async def test_kubernetes_api_errors_for_a_while_are_survived_without_a_restart(
    kube, kube_emulator, operator, server, caplog
):
    tag_test_client(kube)
    deleted: dict[str, str] = {}
    async with operator() as runner:
        for i in range(10):
            await kube.create(resource(f"steady-{i}"))
        await wait_for_invariant(kube, server, deleted, timeout=30)

        # Work in flight when the API starts failing every request of the operator: 500s, then 503s.
        for i in range(10):
            await kube.create(resource(f"during-{i}"))
        for i in range(4):
            await kube.patch(f"steady-{i}", {"spec": {"assistantId": "failing"}})  # a replace
        errors500 = kube_emulator.fail_requests(500, seconds=4, match=from_operator)
        for i in range(4, 7):
            await kube.patch(f"steady-{i}", {"spec": {"schedule": SCHEDULES[1]}})
        await asyncio.sleep(4)
        errors503 = kube_emulator.fail_requests(503, seconds=4, match=from_operator)
        # Only resources with the finalizer on: for a new one whose finalizer PATCH is failing, see
        # test_a_resource_deleted_before_kopf_could_add_its_finalizer_leaves_no_cron (a known bug).
        for name in ("steady-3", "steady-7"):
            deleted[(await kube.get(name))["metadata"]["uid"]] = name
            await kube.delete(name)
        await kube.patch("steady-8", {"spec": {"metadata": {"edited": "during-503"}}})
        await asyncio.sleep(4)

        # After the fault: new resources and edits are reconciled by the same operator.
        for i in range(3):
            await kube.create(resource(f"after-{i}"))
        await kube.patch("steady-9", {"spec": {"assistantId": "failing", "schedule": SCHEDULES[2]}})
        took = await wait_for_invariant(kube, server, deleted, timeout=90,
                                        context=lambda: operator_log(caplog, 8000))
        await assert_invariant_by_uid(kube, server, deleted)
        assert errors500.hits >= 1 and errors503.hits >= 1, (errors500.hits, errors503.hits)
        assert not runner.future.done(), "the operator stopped"
    print(f"converged {took:.1f}s after the API recovered; failed requests: "
          f"{errors500.hits} x 500, {errors503.hits} x 503")


# ------------------------------------------------------------------ 4. the API key Secret is rotated

ROTATING_SECRET = "rotating-api-key"
WRONG_KEYS = ("sk-lgcron-wrong-before-rotation", "sk-lgcron-revoked-after-rotation")


@pytest.mark.timeout(150)
async def test_rotating_the_api_key_secret_takes_effect_without_a_restart(kube, operator, auth_server, caplog):
    server_ref = {"url": auth_server.url, "apiKeySecretRef": {"name": ROTATING_SECRET, "key": "apiKey"}}
    names = [f"rotated-{i}" for i in range(3)]
    await kube.create_secret(ROTATING_SECRET, {"apiKey": WRONG_KEYS[0]})
    async with make_http_client(timeout=10) as http, operator() as runner:
        auth = AgentServerClient(http, auth_server.url, VALID_KEY)
        for name in names:
            await kube.create(resource(name, server=server_ref))
        for name in names:
            await kube.wait_for(name, has_reason("Unauthorized"))
        assert await invariant_violations(kube, auth, set()), "nothing can be scheduled with a wrong key"

        # The right key: Ready without restarting the operator (the resync pass retries them).
        await kube.patch_secret(ROTATING_SECRET, {"apiKey": VALID_KEY})
        await wait_for_invariant(kube, auth, set(), timeout=20)

        # The key is revoked: an edit shows Unauthorized at once, the others on the next resync.
        await kube.patch_secret(ROTATING_SECRET, {"apiKey": WRONG_KEYS[1]})
        await kube.patch(names[0], {"spec": {"schedule": SCHEDULES[1]}})
        for name in names:
            obj = await kube.wait_for(name, has_reason("Unauthorized"), timeout=4 * RESYNC_INTERVAL + 5)
            assert condition(obj)["status"] == "False"
            assert len(await crons_of(auth, obj)) == 1, "a rejected key must not cost a cron"

        # And back: everything Ready again, the edit made while the key was wrong applied.
        await kube.patch_secret(ROTATING_SECRET, {"apiKey": VALID_KEY})
        await wait_for_invariant(kube, auth, set(), timeout=20)
        objs = await assert_invariant_by_uid(kube, auth, set())
        deleted = {o["metadata"]["uid"]: o["metadata"]["name"] for o in objs}
        for name in names:
            await kube.delete(name)
        await wait_for_invariant(kube, auth, deleted, timeout=30)
        events = await kube.call("GET", api_path("v1", "events", kube.namespace))

    assert {"Unauthorized", "Created", "Deleted"} <= {e["reason"] for e in events["items"]}
    written = [runner.output, caplog.text, json.dumps(events), json.dumps(await kube.list())]
    assert not [t for t in written for key in (VALID_KEY, *WRONG_KEYS) if key in t], "an API key leaked"


# ------------------------------------------------------------------ 5. resources are deleted during an outage

OUTAGE_DELETES = env_int("LGCRON_FAULTS_OUTAGE_DELETES", 50)


@pytest.mark.timeout(120 + OUTAGE_DELETES)
async def test_deleting_during_an_agent_server_outage_holds_every_finalizer_until_its_cron_is_gone(
    kube, operator, proxy, server, caplog
):
    async with operator() as runner:
        for i in range(OUTAGE_DELETES):
            await kube.create(resource(f"held-{i}"))
        await wait_for_invariant(kube, server, set(), timeout=60 + OUTAGE_DELETES * 0.5)
        objs = await kube.list()
        deleted = {o["metadata"]["uid"]: o["metadata"]["name"] for o in objs}

        await proxy.cut()  # the server and its crons live on; the operator just cannot reach it
        for obj in objs:
            await kube.delete(obj["metadata"]["name"])

        def is_held(obj: dict) -> bool:
            try:
                ready = condition(obj)
            except (KeyError, StopIteration):
                return False
            return (bool(obj["metadata"].get("deletionTimestamp"))
                    and obj["metadata"].get("finalizers") == ["lgcron.io/cleanup"]
                    and ready["reason"] == "ServerUnavailable" and "cannot delete the cron yet" in ready["message"])

        async def all_held() -> bool:
            held = await kube.list()
            return len(held) == OUTAGE_DELETES and all(map(is_held, held))

        await wait_until(all_held, timeout=30 + OUTAGE_DELETES * 0.2, what="every deletion to be held")
        crons = await server.search_all(metadata={NAMESPACE_KEY: kube.namespace})
        assert len(crons) == OUTAGE_DELETES, "every cron must survive until it can really be deleted"

        await proxy.start()
        mark = time.monotonic()
        await wait_for_invariant(kube, server, deleted, timeout=60 + OUTAGE_DELETES * 0.5,
                                 context=lambda: operator_log(caplog, 5000))
        took = time.monotonic() - mark
        await assert_invariant_by_uid(kube, server, deleted)
        assert await kube.list() == []
        assert not runner.future.done(), "the operator stopped"
    print(f"{OUTAGE_DELETES} held deletions finished {took:.1f}s after the server was reachable again")


# ------------------------------------------------------------------ 2b. the Agent Server comes back with an older state


class CronLeaked(AssertionError):
    """The one failure the xfail below expects: anything else fails the test for real."""


@pytest.mark.xfail(strict=True, raises=CronLeaked, reason=(
    "known gap with the default settings: nothing garbage-collects a cron whose LangGraphCron is gone "
    "unless LGCRON_GC_INTERVAL is set (or `lgcron audit --delete` is run). When the Agent Server comes back "
    "from a crash with an older state, the cron of a resource deleted since then is resurrected"))
@pytest.mark.timeout(120)
async def test_agent_server_crash_that_restores_an_older_state_leaks_no_cron_of_a_deleted_resource(
    kube, operator, server, agent_server
):
    async with operator():
        await kube.create(resource("kept"))
        await kube.create(resource("gone"))
        await wait_for_invariant(kube, server, set(), timeout=30)
        try:
            # A graceful stop saves the server's state; a crash (kill -9) later restores exactly that.
            await asyncio.to_thread(agent_server.stop)
            await asyncio.to_thread(agent_server.start)
            gone = await kube.get("gone")
            deleted = {gone["metadata"]["uid"]: "gone"}
            await kube.delete("gone")
            await kube.wait_gone("gone")
            await kube.patch("kept", {"spec": {"assistantId": "failing"}})  # a replace: its old cron is deleted
            await wait_for_invariant(kube, server, deleted, timeout=30)
            await asyncio.to_thread(agent_server.stop, kill=True)
            await asyncio.to_thread(agent_server.start)
        finally:
            if not agent_server.is_running:
                await asyncio.to_thread(agent_server.start)
        resurrected = await server.search(metadata={UID_KEY: gone["metadata"]["uid"]})
        assert resurrected, "precondition: the crash restored the deleted resource's cron"
        try:
            # Live resources are repaired (the lost replacement recreated, the resurrected old cron
            # deleted as a duplicate); the deleted resource's cron must go too.
            deadline = time.monotonic() + 6 * RESYNC_INTERVAL
            while (problems := await invariant_violations(kube, server, deleted)) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
        finally:
            for cron in await server.search(metadata={UID_KEY: gone["metadata"]["uid"]}):
                await server.delete(cron.cron_id)  # do not leave it firing on the shared server
    assert all(p.startswith("deleted resource") for p in problems), problems  # the live ones: repaired
    if problems:
        raise CronLeaked("\n".join(problems))


# ------------------------------------------------------------------ 3b. deleted before kopf put its finalizer on


# Regression: the resync pass used to create the cron of an object kopf had not yet given its
# finalizer (while the API server failed kopf's finalizer PATCH); deleted in that window, the
# resource vanished at once and its cron leaked. The pass now skips objects without the finalizer.
@EMULATOR_ONLY
@pytest.mark.timeout(90)
async def test_a_resource_deleted_before_kopf_could_add_its_finalizer_leaves_no_cron(
    kube, kube_emulator, operator, server
):
    tag_test_client(kube)
    async with operator():
        # kopf's PATCH that adds the finalizer fails (503) for a while; everything else works.
        blocked = kube_emulator.fail_requests(503, seconds=60, match=kopf_patch_of("early"))
        uid = (await kube.create(resource("early")))["metadata"]["uid"]
        deleted = {uid: "early"}

        async def cron_made() -> list:
            return await server.search(metadata={UID_KEY: uid})

        with contextlib.suppress(AssertionError):  # a fixed operator makes none: then it just waits
            await wait_until(cron_made, timeout=3 * RESYNC_INTERVAL + 2, what="a cron")
        before = await kube.get("early")
        finalizers = before["metadata"].get("finalizers")
        await kube.delete("early")
        kube_emulator.heal()
        try:
            deadline = time.monotonic() + 5 * RESYNC_INTERVAL
            while (problems := await invariant_violations(kube, server, deleted)) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
        finally:
            leaked = await server.search(metadata={UID_KEY: uid})
            for cron in leaked:
                await server.delete(cron.cron_id)  # do not leave it on the shared server
    assert blocked.hits >= 1, "kopf's finalizer PATCH never hit the fault"
    assert all(p.startswith("deleted resource") for p in problems), problems
    if problems:
        raise CronLeaked(f"{problems}; finalizers when it was deleted: {finalizers}")
