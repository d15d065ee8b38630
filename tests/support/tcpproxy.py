"""A TCP proxy a test can break: cut live connections, refuse new ones, restore.

``TcpProxy(target_port)`` listens on a free 127.0.0.1 port and pipes bytes to
127.0.0.1:target_port (TLS passes through untouched, so IMAPS works and the server's
certificate for 127.0.0.1 still verifies). While ``down()``, every new connection is
accepted and closed at once (a server that is not there), and its time is recorded in
``refused``; ``cut()`` closes every live connection; ``up()`` forwards again.

Example::

    with TcpProxy(stack.imaps_port) as proxy:
        proxy.down(); proxy.cut()   # the IMAP server "crashed"
        ...
        proxy.up()                  # and is back
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.accepted: list[float] = []  # times of connections that were forwarded
        self.refused: list[float] = []  # times of connections closed because the proxy was down
        self._down = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcpproxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> TcpProxy:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self.port = fut.result(timeout=10)
        return self

    async def _serve(self) -> int:
        self._server = await asyncio.start_server(self._client, self.host, 0, family=socket.AF_INET)
        return int(self._server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            self.refused.append(time.time())
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.refused.append(time.time())
            writer.close()
            return
        self.accepted.append(time.time())
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except RuntimeError:  # loop shutting down
                pass

    def _call(self, fn) -> None:  # type: ignore[no-untyped-def]
        async def run() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def down(self) -> None:
        """New connections are closed at once, as if nothing listened behind the proxy."""
        self._down = True

    def up(self) -> None:
        self._down = False

    def cut(self) -> None:
        """Close every live connection (both directions)."""

        def close_all() -> None:
            for w in list(self._writers):
                transport = w.transport
                transport.abort()  # no TLS close_notify, no FIN handshake: as if the server died

        self._call(close_all)

    @property
    def live(self) -> int:
        return len(self._writers) // 2

    def stop(self) -> None:
        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.transport.abort()

        self._call(shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
