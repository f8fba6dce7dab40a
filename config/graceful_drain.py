"""A drain period on SIGTERM, before uvicorn's graceful shutdown.

Why: on SIGTERM uvicorn stops accepting and at once closes every idle keep-alive connection. A
proxy that keeps connections to the replica open (nginx's upstream ``keepalive``, most load
balancers) may be writing a request into one of them at that very moment: the request meets a
connection reset, and since it is a POST the proxy must not re-send it (it cannot know whether
it ran), so the client gets a 502. This is the keep-alive race every HTTP server has when it
closes an idle connection; seen in ``tests/cluster`` about twice in twelve stops.

What the drain does, for ``LOAN_OFFERS_SHUTDOWN_DRAIN_S`` seconds before uvicorn's own shutdown:

* stops accepting at once: a proxy's new connection is refused, which it may safely retry on
  another replica (nothing was sent);
* answers every request still arriving on an open connection, with ``Connection: close``, so
  the proxy retires each connection it uses instead of the replica closing it under it;
* ends early once no HTTP connection is left; then uvicorn closes what remains (idle
  connections the proxy did not use for the whole drain, WebSockets with 1012), lets in-flight
  requests finish (``LOAN_OFFERS_SHUTDOWN_GRACE_S``) and runs the lifespan shutdown.

A second SIGTERM, and SIGINT (Ctrl+C in development), go straight to uvicorn. This reaches into
uvicorn's server object (the signal handler it installs is its bound ``handle_exit``; its
``servers`` and ``server_state.connections``; an HTTP protocol's ``app`` and ``cycle``), checked
in ``tests/e2e/test_graceful_drain.py`` against the pinned uvicorn range.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("loan_offers.serving")

#: How often the watcher looks for a SIGTERM. A signal handler only records it: the drain
#: itself must run on the event loop, not inside a handler that interrupted arbitrary code.
POLL_S = 0.05


class GracefulDrain:
    """Installed from the app's lifespan (inside uvicorn's signal capture); ``stop()`` at
    lifespan shutdown. Does nothing when not served by uvicorn (in-process tests) or with a
    drain of 0 seconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._signal: int | None = None
        self._watcher: asyncio.Task[None] | None = None

    def install(self, server: Any | None) -> bool:
        """``server``: :func:`uvicorn_server`, looked up before (this replaces the handler
        that function finds it by)."""
        if self.seconds <= 0 or server is None:
            return False
        signal.signal(signal.SIGTERM, self._record)
        self._watcher = asyncio.create_task(self._watch(server, server.handle_exit))
        return True

    async def stop(self) -> None:
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    def _record(self, sig: int, _frame: object) -> None:
        self._signal = sig

    async def _watch(self, server: Any, uvicorn_exit: Callable[[int, Any], None]) -> None:
        while self._signal is None:
            await asyncio.sleep(POLL_S)
        signal.signal(signal.SIGTERM, uvicorn_exit)  # a second SIGTERM: no more waiting
        try:
            await self._drain(server)
        finally:
            uvicorn_exit(self._signal, None)

    async def _drain(self, server: Any) -> None:
        for listener in getattr(server, "servers", ()):
            listener.close()  # new connections are refused from now on
        http = [c for c in server.server_state.connections if hasattr(c, "cycle")]
        log.info("SIGTERM: draining %d open HTTP connection(s) for up to %.1f s before the "
                 "shutdown (answers now carry Connection: close)", len(http), self.seconds)
        for connection in http:
            connection.app = _closing(connection.app)
            cycle = connection.cycle
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False  # in flight: its answer closes the connection
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        while loop.time() < deadline and any(
                hasattr(c, "cycle") for c in server.server_state.connections):
            await asyncio.sleep(POLL_S)


def uvicorn_server() -> Any | None:
    """The uvicorn server running this process, found through the SIGTERM handler it installs
    while it serves (its bound ``handle_exit``); None in-process (tests) or under another
    server. Its listeners (``servers``) do not exist yet during the lifespan's start-up."""
    candidate = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    if all(hasattr(candidate, name) for name in ("server_state", "should_exit", "startup")):
        return candidate
    return None


def _closing(app: ASGIApp) -> ASGIApp:
    """``app`` whose HTTP answers say ``Connection: close`` (uvicorn then closes the connection
    once the answer is out)."""

    async def closing_app(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"connection", b"close")]}
            await send(message)

        await app(scope, receive, send_closing if scope["type"] == "http" else send)

    return closing_app
