"""Async client for the cron endpoints of a LangGraph Agent Server.

One shared `httpx.AsyncClient` (see `make_http_client`) carries the connection pool; an
`AgentServerClient` is a cheap per-(url, api key) view over it, so a rotated key takes effect on
the next call. Every failure is raised as an `AgentServerError` subclass whose `reason` is a
Kubernetes condition reason. The API key is sent only as the `x-api-key` header and is redacted
from every message this module produces; httpx exceptions are never chained (their `request`
carries the headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from langgraph_cron.clients.agent_server_types import (  # noqa: F401  (re-exported: the client's own vocabulary)
    AgentServerError,
    AssistantNotFound,
    Cron,
    CronNotFound,
    Rejected,
    Run,
    ServerUnavailable,
    ThreadNotFound,
    Unauthorized,
    error_for,
)
from langgraph_cron.clients.agent_server_versions import (
    ServerFeatures,
    find_cron,
    matches,
)
from langgraph_cron.clients.http import (  # noqa: F401  (re-exported)
    USER_AGENT,
    _detail,
    backoff_delay,
    make_http_client,
    parse_retry_after,
)

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000  # the server rejects search limits above this with 422


def _thread_path(thread_id: str) -> str:
    return f"/threads/{quote(str(thread_id), safe='')}"


def _run_path(thread_id: str, run_id: str) -> str:
    return f"{_thread_path(thread_id)}/runs/{quote(str(run_id), safe='')}"


def _cron_path(cron_id: str) -> str:
    return f"/runs/crons/{quote(str(cron_id), safe='')}"


def _filters(metadata: dict | None, assistant_id: str | None, thread_id: str | None) -> dict:
    body: dict[str, Any] = {}
    if metadata:
        body["metadata"] = metadata
    if assistant_id:
        body["assistant_id"] = assistant_id
    if thread_id:
        body["thread_id"] = thread_id
    return body


class AgentServerClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None = None,
        *,
        gate: asyncio.Semaphore | None = None,
        timeout: float | None = None,
    ) -> None:
        self._http = http
        # Per-request timeout (a server object's requestTimeoutSeconds); None: the HTTP client's own.
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0)) if timeout else None
        # Bounds this server's requests in flight. Without it, 1000 objects handled at once queue
        # 1000 requests inside httpcore's pool, which rescans its whole queue on every state change.
        self._gate = gate or contextlib.nullcontext()
        self.base_url = base_url.rstrip("/")
        # Keys read from files often carry a trailing newline, which httpx would reject (and echo).
        self._api_key = (api_key or "").strip() or None
        url = httpx.URL(self.base_url)
        # Names the server in messages without any credentials embedded in the URL.
        self._display_url = str(url.copy_with(username=None, password=None)) if url.userinfo else self.base_url
        # What this server's release lacks (agent_server_versions.py): known after the first GET /info.
        self._features: ServerFeatures | None = None
        self._evidence: frozenset[str] = frozenset()  # what a request found missing (a 405)

    def __repr__(self) -> str:
        return f"AgentServerClient({self._display_url!r}, api_key={'set' if self._api_key else 'unset'})"

    # ---------------------------------------------------------------- health
    async def ok(self) -> None:
        """GET /ok: the server is up (needs no key on the servers measured)."""
        await self._request("GET", "/ok", op="ok")

    async def version(self) -> str | None:
        """The server's version from GET /info (langgraph-api's `version`), None when it offers none.
        Also what `features()` answers from then on (logged once when the server lacks something)."""
        try:
            data = await self._request("GET", "/info", op="info")
        except (Rejected, Unauthorized):  # 404 on servers without it; some deployments protect it
            data = None
        version = data.get("version") if isinstance(data, dict) else None
        version = str(version)[:64] if version else None
        features = ServerFeatures.of(version, evidence=self._evidence)
        if features != self._features and (features.lacks or not features.supported):
            logger.info("%s is langgraph-api %s: %s", self._display_url, version, features.describe())
        self._features = features
        return version

    async def features(self) -> ServerFeatures:
        """What this server has, by its release (one GET /info per client, then remembered)."""
        if self._features is None:
            await self.version()
        assert self._features is not None
        return self._features

    # ---------------------------------------------------------------- crons
    async def create(self, payload: dict) -> Cron:
        return await self._cron("POST", "/runs/crons", op="create", json=payload)

    async def create_for_thread(self, thread_id: str, payload: dict) -> Cron:
        return await self._cron("POST", f"/threads/{quote(str(thread_id), safe='')}/runs/crons",
                                op="create_for_thread", json=payload)

    async def get(self, cron_id: str) -> Cron:
        """One cron; on a server without GET /runs/crons/{id} (405: langgraph-api before 0.10), found by
        paging through every cron, as CronNotFound (404) or Rejected (422, not a UUID) as a GET says."""
        if "get_cron" not in self._evidence and (self._features is None or self._features.has("get_cron")):
            try:
                return await self._cron("GET", _cron_path(cron_id), op="cron")
            except Rejected as exc:
                if exc.status_code != 405:
                    raise
                self._evidence |= {"get_cron"}
                if self._features is not None:
                    self._features = ServerFeatures.of(self._features.version, evidence=self._evidence)
        return await find_cron(self, cron_id, f"GET {self._display_url}{_cron_path(cron_id)}")

    async def patch(self, cron_id: str, fields: dict) -> Cron:
        """Measured semantics (inmem 0.16.7): the body is shallow-merged into the stored payload;
        top-level `metadata` merges (keys cannot be removed); `assistant_id` is ignored."""
        return await self._cron("PATCH", _cron_path(cron_id), op="cron", json=fields)

    async def delete(self, cron_id: str) -> None:
        await self._request("DELETE", _cron_path(cron_id), op="cron")

    async def search(self, *, metadata: dict | None = None, assistant_id: str | None = None,
                     thread_id: str | None = None, limit: int = MAX_PAGE_SIZE, offset: int = 0,
                     sort_by: str = "created_at", sort_order: str = "asc") -> list[Cron]:
        """One page. `metadata` filters by containment; `assistant_id` must be a UUID (a graph
        name is rejected with 422). Oldest first by default so paging is stable under inserts. A server
        that ignores `metadata` (before 0.9) returns a page of all crons: what passes the filter of it."""
        data = await self._search_page(metadata, assistant_id, thread_id, limit, offset, sort_by, sort_order)
        return [self.parse(item) for item in data if matches(item, metadata, assistant_id, thread_id)]

    async def _search_page(self, metadata: dict | None, assistant_id: str | None, thread_id: str | None,
                           limit: int, offset: int, sort_by: str = "created_at", sort_order: str = "asc") -> list:
        body = _filters(metadata, assistant_id, thread_id)
        body.update(limit=limit, offset=offset, sort_by=sort_by, sort_order=sort_order)
        data = await self._request("POST", "/runs/crons/search", json=body, op="search")
        if not isinstance(data, list):
            raise ServerUnavailable(f"POST {self._display_url}/runs/crons/search: expected a JSON list")
        return data

    async def search_pages(self, *, metadata: dict | None = None, assistant_id: str | None = None,
                           thread_id: str | None = None,
                           page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[list[dict[str, Any]]]:
        """Every matching cron as the server's raw JSON objects, a page at a time (oldest first):
        for a caller that looks at most crons only briefly, so neither the models nor all pages
        need to exist at once. `parse` makes a Cron of one. A cron deleted between pages can make
        a later one be skipped (offset paging); callers reconcile periodically, so that heals on
        the next pass. The filters are checked here too: a server before 0.9 ignores `metadata` and
        returns every cron on it, so a search there pages through all of them."""
        offset = 0
        while True:
            data = await self._search_page(metadata, assistant_id, thread_id, page_size, offset)
            if not all(isinstance(item, dict) and "cron_id" in item for item in data):
                raise ServerUnavailable(f"POST {self._display_url}/runs/crons/search: expected a JSON list of crons")
            yield [item for item in data if matches(item, metadata, assistant_id, thread_id)]
            if len(data) < page_size:
                return
            offset += len(data)

    def parse(self, data: Any) -> Cron:
        """A cron of a search result (see `search_pages`)."""
        return self._parse(data, "POST /runs/crons/search")

    async def search_all(self, *, metadata: dict | None = None, assistant_id: str | None = None,
                         thread_id: str | None = None, page_size: int = MAX_PAGE_SIZE) -> list[Cron]:
        """Every matching cron, each once (see `search_pages`)."""
        seen: dict[str, Cron] = {}
        async for page in self.search_pages(metadata=metadata, assistant_id=assistant_id, thread_id=thread_id,
                                            page_size=page_size):
            for item in page:
                cron = self.parse(item)
                seen.setdefault(cron.cron_id, cron)
        return list(seen.values())

    async def count(self, *, metadata: dict | None = None, assistant_id: str | None = None,
                    thread_id: str | None = None) -> int:
        """A server that ignores `metadata` (before 0.9) would count every cron: there, the matching
        crons are paged through and counted here."""
        if metadata and not (await self.features()).has("metadata_filter"):
            return sum([len(page) async for page in self.search_pages(
                metadata=metadata, assistant_id=assistant_id, thread_id=thread_id)])
        data = await self._request("POST", "/runs/crons/count", json=_filters(metadata, assistant_id, thread_id),
                                   op="count")
        if isinstance(data, bool) or not isinstance(data, int):
            raise ServerUnavailable(f"POST {self._display_url}/runs/crons/count: expected an integer")
        return data

    # ---------------------------------------------------------------- threads and runs
    # Measured on inmem 0.16.7. A run's metadata is the thread's metadata merged with its own.
    # 404s here are plain `Rejected`: the server says "Thread or assistant not found." for both.

    async def create_thread(self, thread_id: str, *, metadata: dict | None = None) -> str:
        """Idempotent for a client-chosen id: `if_exists: do_nothing` answers 200 with the existing
        thread (its metadata unchanged), so a create whose response was lost can simply be retried."""
        data = await self._request("POST", "/threads", op="thread", json={
            "thread_id": thread_id, "metadata": metadata or {}, "if_exists": "do_nothing"})
        return self._thread_id_of(data, "POST /threads")

    async def delete_thread(self, thread_id: str, *, missing_ok: bool = False) -> None:
        """Deletes the thread with all its runs, pending or running ones included."""
        try:
            await self._request("DELETE", _thread_path(thread_id), op="thread")
        except Rejected as exc:
            if not (missing_ok and exc.status_code == 404):
                raise

    async def search_threads(self, *, metadata: dict, limit: int = 10) -> list[str]:
        """Ids of the threads whose metadata contains `metadata`."""
        data = await self.search_threads_raw(metadata=metadata, limit=limit, select=["thread_id"])
        return [self._thread_id_of(item, "POST /threads/search") for item in data]

    async def search_threads_raw(self, *, metadata: dict, limit: int, offset: int = 0,
                                 select: list[str] | None = None) -> list[dict[str, Any]]:
        """One page of threads whose metadata contains `metadata`, oldest first, as the server's JSON
        (only the `select`ed fields: a thread's values can be as large as the graph's state)."""
        body: dict[str, Any] = {"metadata": metadata, "limit": limit, "offset": offset,
                                "sort_by": "created_at", "sort_order": "asc"}
        if select:
            body["select"] = select
        data = await self._request("POST", "/threads/search", op="search_threads", json=body)
        if not isinstance(data, list) or not all(isinstance(item, dict) and "thread_id" in item for item in data):
            raise ServerUnavailable(f"POST {self._display_url}/threads/search: expected a JSON list of threads")
        return data

    async def get_thread_raw(self, thread_id: str) -> dict[str, Any]:
        """One thread as the server's JSON (with its `error` when its last run failed)."""
        data = await self._request("GET", _thread_path(thread_id), op="thread")
        if not isinstance(data, dict):
            raise ServerUnavailable(f"GET {self._display_url}{_thread_path(thread_id)}: expected a JSON object")
        return data

    async def thread_runs_raw(self, thread_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """A thread's runs as the server's JSON, newest first."""
        path = f"{_thread_path(thread_id)}/runs?limit={int(limit)}"
        data = await self._request("GET", path, op="run")
        if not isinstance(data, list) or not all(isinstance(item, dict) and "run_id" in item for item in data):
            raise ServerUnavailable(f"GET {self._display_url}{path}: expected a JSON list of runs")
        return data

    @property
    def secret_values(self) -> tuple[str, ...]:
        """What must never appear in text this client's server returns to us (its key)."""
        return (self._api_key,) if self._api_key else ()

    async def create_run(self, thread_id: str, payload: dict) -> Run:
        """A run on an existing thread (`on_completion` is ignored here: only stateless runs honour it)."""
        path = f"{_thread_path(thread_id)}/runs"
        return self._parse_run(await self._request("POST", path, op="run", json=payload), f"POST {path}")

    async def create_stateless_run(self, payload: dict) -> Run:
        """A run on a new server-chosen thread; `on_completion: delete` (the default) deletes that
        thread when the run ends, as a stateless server cron does."""
        return self._parse_run(await self._request("POST", "/runs", op="run", json=payload), "POST /runs")

    async def get_run(self, thread_id: str, run_id: str) -> Run:
        path = _run_path(thread_id, run_id)
        return self._parse_run(await self._request("GET", path, op="run"), f"GET {path}")

    async def list_runs(self, thread_id: str, *, limit: int = 100) -> list[Run]:
        """The thread's runs, newest first."""
        where = f"GET {_thread_path(thread_id)}/runs"
        return [self._parse_run(item, where) for item in await self.thread_runs_raw(thread_id, limit=limit)]

    async def join_run(self, thread_id: str, run_id: str) -> Any:
        """Blocks until the run ends (the server keeps the response alive with whitespace every 5 s).
        Returns the thread's values, or `{"__error__": {...}}` when the run failed - also 200 when
        the run is unknown, so the outcome must be read with `get_run`."""
        return await self._request("GET", f"{_run_path(thread_id, run_id)}/join", op="run")

    async def cancel_run(self, thread_id: str, run_id: str) -> None:
        """Answered 202; the run ends with status `interrupted`."""
        await self._request("POST", f"{_run_path(thread_id, run_id)}/cancel", op="run")

    def _parse_run(self, data: Any, where: str) -> Run:
        try:
            return Run.model_validate(data)
        except ValidationError as exc:
            raise ServerUnavailable(f"{where} on {self._display_url}: unexpected run object "
                                    f"({exc.error_count()} validation errors)") from None

    def _thread_id_of(self, data: Any, where: str) -> str:
        value = data.get("thread_id") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise ServerUnavailable(f"{where} on {self._display_url}: response without a thread_id")
        return value

    # ---------------------------------------------------------------- plumbing
    async def _cron(self, method: str, path: str, *, op: str, json: Any = None) -> Cron:
        return self._parse(await self._request(method, path, op=op, json=json), f"{method} {path}")

    def _parse(self, data: Any, where: str) -> Cron:
        try:
            return Cron.model_validate(data)
        except ValidationError as exc:
            # Not the server we expect (or a proxy page): transient from our point of view.
            raise ServerUnavailable(f"{where} on {self._display_url}: unexpected cron object "
                                    f"({exc.error_count()} validation errors)") from None

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def _request(self, method: str, path: str, *, op: str, json: Any = None) -> Any:
        where = f"{method} {self._display_url}{path}"
        headers = {}
        if self._api_key:
            # httpx would raise with the raw header value in its message.
            if not (self._api_key.isascii() and self._api_key.isprintable()):
                raise Unauthorized(f"{where}: the API key contains characters not allowed in an HTTP header")
            headers["x-api-key"] = self._api_key
        try:
            async with self._gate:
                response = await self._http.request(
                    method, self.base_url + path, json=json, headers=headers,
                    timeout=self._timeout or httpx.USE_CLIENT_DEFAULT,
                )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise Rejected(self._redact(f"{where}: invalid Agent Server URL: {exc}")) from None
        except httpx.HTTPError as exc:
            # `from None`: the httpx exception holds the request and its headers.
            raise ServerUnavailable(self._redact(f"{where}: {type(exc).__name__}: {exc}".rstrip(": "))) from None
        logger.debug("%s -> %s", where, response.status_code)
        if response.is_success:
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ServerUnavailable(f"{where}: HTTP {response.status_code} with a body that is not JSON") from None
        raise error_for(response.status_code, self._redact(_detail(response)), where, op,
                        retry_after=parse_retry_after(response.headers.get("retry-after")))


__all__ = [
    "AgentServerClient", "AgentServerError", "AssistantNotFound", "Cron", "CronNotFound", "Rejected", "Run",
    "ServerUnavailable", "ThreadNotFound", "Unauthorized", "backoff_delay", "make_http_client",
    "parse_retry_after",
]
