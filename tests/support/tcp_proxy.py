"""A loopback TCP proxy for fault tests: forwards bytes both ways and, when told, resets the
connection after the server has sent N more bytes (a link dropped in the middle of a reply),
adds latency to every chunk (a slow link), or resets every open connection at once."""

from __future__ import annotations

import asyncio
import contextlib
import socket


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.cut_after: int | None = None  # bytes server -> client, then reset
        self.cuts = 0
        self.delay_s = 0.0  # added before each chunk is forwarded, both ways
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def reset_all(self) -> int:
        """RST every open connection (clients reconnect through the proxy)."""
        writers = list(self._writers)
        for writer in writers:
            _reset(writer)
        return len(writers)

    def drop_after(self, nbytes: int) -> None:
        """The next connection is reset after the server sent `nbytes` more bytes."""
        self.cut_after = nbytes

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        budget, self.cut_after = self.cut_after, None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, None),
                self._pipe(up_reader, writer, budget),
            )
        except (ConnectionError, _Cut, OSError):
            pass
        finally:
            for w in (writer, up_writer):
                _reset(w)
                self._writers.discard(w)
            self._tasks.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: int | None
    ) -> None:
        while data := await reader.read(65536):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if budget is not None:
                if len(data) >= budget:
                    writer.write(data[:budget])
                    await writer.drain()
                    self.cuts += 1
                    raise _Cut
                budget -= len(data)
            writer.write(data)
            await writer.drain()
        raise _Cut  # one side closed: close both


class _Cut(Exception):
    pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), like a broken link, not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
    writer.close()
