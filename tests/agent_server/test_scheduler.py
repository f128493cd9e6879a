"""Measured: crons really fire on the in-memory server (CRON_SCHEDULER_SLEEP_TIME=1).

A 6-field schedule (seconds last, croniter style) fires every few seconds, so none of these waits
for a minute boundary. How to observe runs:
  * stateless cron with on_run_completed="keep": every run gets a new thread whose metadata is
    {graph_id, assistant_id, **cron.metadata}: find it with POST /threads/search {"metadata": ...};
  * stateless cron with the default "delete": the thread is deleted after the run; nothing remains;
  * thread cron: GET /threads/{thread_id}/runs; the thread's own metadata is not touched.
Run metadata is {**cron.metadata, created_by: "system", assistant_id}; the run's
kwargs.config.configurable.cron_id is the cron id. There is no POST /runs/search on this server.
"""

import asyncio
import contextlib

import pytest
from langgraph_cron.clients.agent_server import CronNotFound

from tests.agent_server.helpers import (
    FAST,
    UID_KEY,
    cron_body,
    new_thread,
    runs_of,
    threads_with,
    wait_for,
)

pytestmark = [pytest.mark.agent_server, pytest.mark.timeout(60)]


async def finished_runs(raw, metadata):
    """(thread, run) for runs in threads tagged with `metadata` that reached a final status; the
    thread is read after its run finished, so its values are final."""
    runs = []
    for thread in await threads_with(raw, metadata):
        for run in await runs_of(raw, thread["thread_id"]):
            if run["status"] in ("success", "error", "interrupted", "timeout"):
                runs.append(((await raw.get(f"/threads/{thread['thread_id']}")).json(), run))
    return runs


async def _at_least(n, coro):
    result = await coro
    return result if len(result) >= n else None


async def _none(coro):
    return not await coro


async def test_six_field_schedule_fires_a_run_that_succeeds_with_the_graph_output(client, raw, uid, cleanup):
    cron = await client.create(cron_body(uid, schedule=FAST, on_run_completed="keep"))
    cleanup.append(cron.cron_id)
    thread, run = (await wait_for(lambda: finished_runs(raw, {UID_KEY: uid})))[0]
    assert run["status"] == "success"
    assert thread["values"] == {"text": uid, "reply": f"echo: {uid}"}
    joined = await raw.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}/join")
    assert joined.json() == {"text": uid, "reply": f"echo: {uid}"}


async def test_fired_run_carries_cron_metadata_and_cron_id(client, raw, uid, cleanup):
    cron = await client.create(cron_body(uid, schedule=FAST, on_run_completed="keep"))
    cleanup.append(cron.cron_id)
    thread, run = (await wait_for(lambda: finished_runs(raw, {UID_KEY: uid})))[0]
    assert run["metadata"] == {UID_KEY: uid, "created_by": "system", "assistant_id": cron.assistant_id}
    assert run["kwargs"]["config"]["configurable"]["cron_id"] == cron.cron_id
    assert thread["metadata"] == {UID_KEY: uid, "graph_id": "agent", "assistant_id": cron.assistant_id}


async def test_each_stateless_fire_gets_a_new_thread(client, raw, uid, cleanup):
    cron = await client.create(cron_body(uid, schedule=FAST, on_run_completed="keep"))
    cleanup.append(cron.cron_id)
    runs = await wait_for(lambda: _at_least(2, finished_runs(raw, {UID_KEY: uid})), timeout=25)
    assert len({thread["thread_id"] for thread, _ in runs}) == len(runs)


async def test_default_on_run_completed_delete_removes_each_thread_after_its_run(client, raw, uid, cleanup):
    kept = await client.create(cron_body(f"{uid}-keep", schedule=FAST, on_run_completed="keep"))
    deleted = await client.create(cron_body(uid, schedule=FAST))
    cleanup += [kept.cron_id, deleted.cron_id]
    await wait_for(lambda: _at_least(2, finished_runs(raw, {UID_KEY: f"{uid}-keep"})), timeout=25)
    assert (await client.get(deleted.cron_id)).next_run_date > deleted.next_run_date  # it did fire
    await client.delete(deleted.cron_id)
    # A thread exists while its run is in flight, then goes away with it.
    await wait_for(lambda: _none(threads_with(raw, {UID_KEY: uid})), timeout=10)


async def test_thread_cron_runs_on_its_thread_and_leaves_thread_metadata_alone(client, raw, uid, cleanup):
    thread_id = await new_thread(raw, owner="test")
    cron = await client.create_for_thread(thread_id, cron_body(uid, schedule=FAST))
    cleanup.append(cron.cron_id)

    async def done():
        return [r for r in await runs_of(raw, thread_id) if r["status"] == "success"]

    run = (await wait_for(done))[0]
    assert run["metadata"][UID_KEY] == uid and run["metadata"]["owner"] == "test"  # thread metadata too
    thread = (await raw.get(f"/threads/{thread_id}")).json()
    assert thread["metadata"] == {"owner": "test", "graph_id": "agent", "assistant_id": cron.assistant_id}
    assert thread["values"] == {"text": uid, "reply": f"echo: {uid}"}


async def test_cron_without_input_fires_runs_that_fail_with_empty_input_error(client, raw, uid, cleanup):
    body = cron_body(uid, schedule=FAST, on_run_completed="keep")
    del body["input"]
    cleanup.append((await client.create(body)).cron_id)
    thread, run = (await wait_for(lambda: finished_runs(raw, {UID_KEY: uid})))[0]
    assert run["status"] == "error"
    joined = await raw.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}/join")
    assert joined.json() == {"__error__": {"error": "EmptyInputError", "message": "Received no input for __start__"}}


async def test_cron_with_empty_input_runs_fine(client, raw, uid, cleanup):
    cleanup.append((await client.create(cron_body(uid, schedule=FAST, on_run_completed="keep", input={}))).cron_id)
    thread, run = (await wait_for(lambda: finished_runs(raw, {UID_KEY: uid})))[0]
    assert run["status"] == "success" and thread["values"] == {"reply": "echo: "}


async def test_failing_graph_run_ends_in_error_with_the_exception(client, raw, uid, cleanup):
    body = cron_body(uid, schedule=FAST, on_run_completed="keep", assistant_id="failing")
    cleanup.append((await client.create(body)).cron_id)
    thread, run = (await wait_for(lambda: finished_runs(raw, {UID_KEY: uid})))[0]
    assert run["status"] == "error" and thread["status"] == "error"
    joined = await raw.get(f"/threads/{thread['thread_id']}/runs/{run['run_id']}/join")
    assert joined.json() == {"__error__": {"error": "BoomError", "message": f"boom: {uid}"}}


async def test_disabled_cron_does_not_fire_until_enabled(client, raw, uid, cleanup):
    cron = await client.create(cron_body(uid, schedule=FAST, on_run_completed="keep", enabled=False))
    cleanup.append(cron.cron_id)
    await asyncio.sleep(3)
    assert await threads_with(raw, {UID_KEY: uid}) == []
    await client.patch(cron.cron_id, {"enabled": True})
    await wait_for(lambda: finished_runs(raw, {UID_KEY: uid}))


async def test_patched_multitask_strategy_applies_to_later_runs(client, raw, uid, cleanup):
    thread_id = await new_thread(raw)
    cron = await client.create_for_thread(thread_id, cron_body(uid, schedule=FAST))
    cleanup.append(cron.cron_id)
    first = await wait_for(lambda: runs_of(raw, thread_id))
    assert first[0]["multitask_strategy"] == "enqueue"  # the default
    await client.patch(cron.cron_id, {"multitask_strategy": "interrupt"})

    async def patched_runs():
        return [r for r in await runs_of(raw, thread_id) if r["multitask_strategy"] == "interrupt"]

    await wait_for(patched_runs)


async def test_enabled_cron_with_end_time_stops_the_scheduler_for_crons_created_after_it(client, raw, uid, cleanup):
    # Server bug: end_time is stored as the request string and compared with a datetime, so every
    # scheduler poll raises TypeError when it reaches that cron; crons stored before it still fire.
    poison = await client.create(cron_body(f"{uid}-poison", end_time="2099-01-01T00:00:00Z"))
    cleanup.append(poison.cron_id)
    try:
        victim = await client.create(cron_body(uid, schedule=FAST, on_run_completed="keep"))
        cleanup.append(victim.cron_id)
        await asyncio.sleep(3)
        assert await threads_with(raw, {UID_KEY: uid}) == []
        if (await client.features()).has("clear_end_time"):
            await client.patch(poison.cron_id, {"end_time": None})
        else:  # before langgraph-api 0.12 end_time cannot be cleared: deleting the cron unpoisons too
            await client.delete(poison.cron_id)
        await wait_for(lambda: finished_runs(raw, {UID_KEY: uid}))
    finally:
        with contextlib.suppress(CronNotFound):
            await client.delete(poison.cron_id)  # never leave the shared server poisoned
