"""An asyncio TCP fault proxy for resilience tests (loopback only, bounded).

``FaultProxy(upstream_port)`` listens on a free 127.0.0.1 port and forwards every connection to
``127.0.0.1:upstream_port`` on its own event loop in a background thread, so tests of any kind
(sync or async, in-process or a server subprocess) can point a client at ``proxy.port`` and
change the network under it:

* ``latency_s``: each chunk of bytes, either direction, waits this long before it is forwarded
  (one round trip costs about twice that);
* ``drop = True``: bytes are read and discarded (a black hole: clients wait for their timeout);
  new connections are accepted and go nowhere;
* ``reset()``: every open connection is aborted with a TCP RST (both sides);
* ``refuse = True``: new connections are reset at once (a server that is down).

Faults apply immediately, also to connections already open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

from tests.servers import free_port


class FaultProxy:
    def __init__(self, upstream_port: int, port: int | None = None,
                 upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.latency_s = 0.0
        self.drop = False
        self.refuse = False
        self.connections_seen = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def heal(self) -> None:
        """No faults: no latency, no drops, connections accepted."""
        self.latency_s, self.drop, self.refuse = 0.0, False, False

    def reset(self) -> int:
        """Abort every open connection with an RST; returns how many were aborted."""
        return asyncio.run_coroutine_threadsafe(self._reset_all(), self._loop).result(timeout=10)

    @contextlib.contextmanager
    def faults(self, *, latency_s: float = 0.0, drop: bool = False,
               refuse: bool = False) -> Iterator[FaultProxy]:
        self.latency_s, self.drop, self.refuse = latency_s, drop, refuse
        try:
            yield self
        finally:
            self.heal()

    # --- the event loop side ---------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  reuse_address=True)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()

    async def _reset_all(self) -> int:
        writers = list(self._open)
        for writer in writers:
            _abort(writer)
        self._open.clear()
        return len(writers)

    async def _accept(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        self.connections_seen += 1
        if self.refuse:
            _abort(client_writer)
            return
        self._open.add(client_writer)
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), timeout=10)
        except (OSError, TimeoutError):
            self._open.discard(client_writer)
            _abort(client_writer)
            return
        self._open.add(upstream_writer)
        pair = (client_writer, upstream_writer)
        await asyncio.gather(self._pipe(client_reader, upstream_writer),
                             self._pipe(upstream_reader, client_writer),
                             return_exceptions=True)
        for writer in pair:
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.drop:
                    continue
                if self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)
                if writer not in self._open:
                    break  # reset while we slept
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side finished or failed: close the other side too, which ends the opposite
            # pipe (its reader sees the connection go), so nothing hangs half-open.
            with contextlib.suppress(Exception):
                writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
