"""A loopback TCP proxy in front of the Agent Server, to cut it off without losing its state.

Stopping the in-memory Agent Server would also wipe its crons, which hides exactly the bugs an
outage test is for (a cron deleted "successfully" because the restart lost it). Cutting the
proxy keeps the server and its crons alive while the operator sees connection errors.
It also counts connections, which proves that an invalid spec made no server call at all, and
can swallow the responses to one kind of request (`hold_responses_to`), which freezes a client
after the server acted but before it heard back: the window a crash test needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        # Once a request starting with these bytes passes, its connection gets no more responses.
        self.hold_responses_to: bytes | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def started_for(cls, url: str) -> TcpProxy:
        """A running proxy in front of http://127.0.0.1:PORT."""
        proxy = cls("127.0.0.1", int(url.rsplit(":", 1)[1]))
        await proxy.start()
        return proxy

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        """Refuse new connections and drop open ones, as a dead server or network would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._pipes):
            task.cancel()

    async def close(self) -> None:
        await self.cut()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, server_writer))
        held = asyncio.Event()
        pipes = [
            asyncio.create_task(self._pipe(client_reader, server_writer, watch=held)),
            asyncio.create_task(self._pipe(server_reader, client_writer, muted=held)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        watch: asyncio.Event | None = None,
        muted: asyncio.Event | None = None,
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if watch is not None and self.hold_responses_to and data.startswith(self.hold_responses_to):
                    watch.set()
                if muted is not None and muted.is_set():
                    continue
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()
