"""The shared HTTP client of the Agent Server client (httpx on aiohttp, see transport.py), and how long
to wait before trying again (backoff, Retry-After)."""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from langgraph_cron.clients.transport import AiohttpTransport

USER_AGENT = "langgraph-cron-operator"
_MAX_DETAIL = 1000


def make_http_client(
    *, verify: bool | str | ssl.SSLContext = True, timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None, hooks: dict[str, list[Any]] | None = None,
) -> httpx.AsyncClient:
    """The one shared client. `verify` may be a CA bundle path or an SSL context; redirects are not
    followed so the key header never travels to another host. The network goes through aiohttp (see
    transport.py); `transport` replaces it (tests)."""
    if isinstance(verify, ssl.SSLContext):
        tls = verify
    elif isinstance(verify, str):
        tls = ssl.create_default_context(cafile=verify)
    else:
        tls = httpx.create_ssl_context(verify=verify)
    return httpx.AsyncClient(
        transport=transport or AiohttpTransport(ssl_context=tls),
        verify=tls,  # for httpx's own proxy transports (HTTPS_PROXY), which bypass `transport`
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        headers={"user-agent": USER_AGENT},
        event_hooks=hooks,
    )


def backoff_delay(attempt: int, retry_after: float | None = None, *, base: float = 1.0, cap: float = 300.0,
                  rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)). A server
    `Retry-After` is a floor, itself limited to `cap` so a bogus header cannot stall for hours.
    """
    ceiling = min(cap, base * 2 ** min(max(attempt, 0), 62))
    delay = rand() * ceiling
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, cap))
    return delay


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date. None if absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _detail(response: httpx.Response) -> str:
    """The server's error `detail` (a string, or a FastAPI-style list), else the body text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail: Any = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    if detail is None or detail == "":
        detail = response.text.strip() or response.reason_phrase
    detail = str(detail)
    return detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL] + "..."
