"""Plain helpers and constants for tests against the real Agent Server."""

from __future__ import annotations

import asyncio
import time

import httpx

UID_KEY = "lgcron.io/uid"
FAST = "* * * * * *"  # croniter reads a 6th field as seconds: fires on every scheduler poll (1 s)
NEVER_SOON = "0 9 1 1 *"


def cron_body(uid: str, schedule: str = NEVER_SOON, **extra) -> dict:
    return {"assistant_id": "agent", "schedule": schedule, "input": {"text": uid},
            "metadata": {UID_KEY: uid}, **extra}


async def new_thread(raw: httpx.AsyncClient, **metadata) -> str:
    r = await raw.post("/threads", json={"metadata": metadata})
    r.raise_for_status()
    return r.json()["thread_id"]


async def threads_with(raw: httpx.AsyncClient, metadata: dict) -> list[dict]:
    r = await raw.post("/threads/search", json={"metadata": metadata, "limit": 100})
    r.raise_for_status()
    return r.json()


async def runs_of(raw: httpx.AsyncClient, thread_id: str) -> list[dict]:
    r = await raw.get(f"/threads/{thread_id}/runs")
    r.raise_for_status()
    return r.json()


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.5):
    """Poll an async predicate until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
