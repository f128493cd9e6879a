"""What every scenario of the bench shares: the resources it creates, the graph its Agent Server serves,
how it prints, and how it runs many calls at once."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable

from bench import ROOT

SPEC = {"schedule": "0 9 1 1 *", "assistantId": "agent"}  # 09:00 on 1 January: nothing fires during the run
GRAPHS = {"agent": f"{ROOT / 'tests' / 'graphs' / 'echo.py'}:graph"}


def say(text: str = "") -> None:
    print(text, flush=True)


async def bounded(concurrency: int, items: Iterable, fn: Callable[..., Awaitable], rate: float | None = None) -> None:
    """fn(item) for every item, at most `concurrency` at a time (workers sharing one iterator), and
    with `rate`, the i-th call starts no sooner than i/rate seconds after the first."""
    it, started = enumerate(items), time.monotonic()

    async def worker() -> None:
        for i, item in it:
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            await fn(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]  # nearest rank
