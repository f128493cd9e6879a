"""kopf's Kubernetes API session, with its requests through a gate.

kopf's own session has no connection limit (aiohttp's `limit=0`), and kopf starts a worker per object:
on a cold start with a backlog, 1,000 objects make 1,000 concurrent requests (the finalizer patches,
then the status patches), and so 1,000 TLS connections, each with its buffers (~50 KB), kept open in
the pool afterwards. Measured with tracemalloc on the bench's --cold-start at N=1,000: 52 MB of the
operator's heap was connection state. Here at most REQUEST_SLOTS requests are in flight, and so about
that many connections plus the watch streams, which are never gated (each holds its connection for as
long as it runs; gating them could starve the rest). A request's body is read inside the gate, so its
connection is back in the pool before the next request takes the slot.

Everything else is kopf's own session: the same credentials (`ConnectionInfo`), headers, TLS, proxy.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import aiohttp
import kopf

REQUEST_SLOTS = 32


def _is_watch(request: aiohttp.ClientRequest) -> bool:
    return request.url.query.get("watch") in ("true", "1")


def request_gate(slots: int = REQUEST_SLOTS) -> Any:
    gate: asyncio.Semaphore | None = None

    async def middleware(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        nonlocal gate
        if _is_watch(request):
            return await handler(request)
        if gate is None:  # created on the loop that uses it
            gate = asyncio.Semaphore(slots)
        async with gate:
            response = await handler(request)
            await response.read()
            return response

    return middleware


def gated_session(info: kopf.ConnectionInfo, slots: int = REQUEST_SLOTS) -> kopf.AiohttpSession:
    with warnings.catch_warnings():  # as kopf does: its own deprecation warning of basic auth
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="kopf")
        auth = info.as_aiohttp_basic_auth()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        auth=auth,
        proxy=info.proxy_url,
        trust_env=info.trust_env,
        middlewares=(request_gate(slots),),
    )
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               expiration=info.expiration, priority=info.priority, aiohttp_session=session)
