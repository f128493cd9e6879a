"""kopf's Kubernetes session through the request gate (controller/kube_session.py): at most N requests
in flight, each body read inside the gate, watch streams never gated."""

from __future__ import annotations

import asyncio

import aiohttp
import aiohttp.web
import kopf
from langgraph_cron.controller.kube_session import gated_session


async def _server(in_flight: list[int], peak: list[int], release: asyncio.Event) -> aiohttp.web.AppRunner:
    async def handle(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        if request.query.get("watch") == "true":
            response = aiohttp.web.StreamResponse()
            await response.prepare(request)
            await release.wait()  # a watch holds its connection for as long as it runs
            return response
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await asyncio.sleep(0.02)
        in_flight[0] -= 1
        return aiohttp.web.json_response({"ok": True})

    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def test_at_most_the_slots_are_in_flight_and_watches_are_never_gated():
    in_flight, peak, release = [0], [0], asyncio.Event()
    runner = await _server(in_flight, peak, release)
    port = runner.addresses[0][1]
    context = gated_session(kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}"), slots=4)
    session = context.aiohttp_session
    try:
        # More watches than slots: if they were gated, the requests below would never run.
        watches = [await session.get(f"http://127.0.0.1:{port}/w{i}", params={"watch": "true"}) for i in range(6)]

        async def one(i: int) -> dict:
            async with session.patch(f"http://127.0.0.1:{port}/objects/{i}") as response:
                return await response.json()

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(40))), timeout=10)
        assert results == [{"ok": True}] * 40
        assert peak[0] == 4, peak  # the server saw at most 4 at once, and the 6 watches did not count
        release.set()
        for watch in watches:
            watch.close()
    finally:
        await session.close()
        await runner.cleanup()
    assert context.server == f"http://127.0.0.1:{port}"
