"""Admission control: at most ``max_in_flight`` GraphQL requests of a worker run at once.

Why: under overload (1,000 connections on two cores) every request that arrives starts at once,
and thousands of them then share one event loop, one database pool and the CPU: each gets
slower, pool waits run out (``UNAVAILABLE``), and much of the work is for clients that already
gave up (timed out and closed the connection). Bounded, the same CPU finishes the requests it
started. The others wait their turn in arrival order, and a request whose client has gone by
the time its turn comes is dropped without running (counted in
``loan_offers_http_requests_abandoned_total``): nobody would read its answer, and for a
``loanOffers`` nobody would see the offers it would have stored either.

Only ``POST /graphql`` is admitted this way; probes, ``/metrics``, GraphiQL and WebSockets are
never queued behind it (``/readyz`` answers at once under overload). The wait happens before
the request id, the access log and the HTTP metrics: their durations start at admission, and
``loan_offers_http_requests_waiting`` shows the queue. ``max_in_flight`` 0 turns it off.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS_WAITING = Gauge(
    "loan_offers_http_requests_waiting",
    "GraphQL requests waiting for admission (LOAN_OFFERS_MAX_IN_FLIGHT running already).",
    multiprocess_mode="livesum")
REQUESTS_ABANDONED = Counter(
    "loan_offers_http_requests_abandoned_total",
    "GraphQL requests dropped unrun: the client had gone when their turn came.")


class AdmissionGate:
    """The slots of one worker, shared by the middleware and the edge (graphql_api/edge.py)."""

    def __init__(self, max_in_flight: int) -> None:
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight > 0 else None
        self.abandoned = 0  # also exported; read by tests

    @property
    def bounded(self) -> bool:
        return self._slots is not None

    async def admit(self, receive: Receive) -> Message | None:
        """Wait for a slot, then the request's first message (the buffered body, or
        ``http.disconnect`` if the client has closed the connection meanwhile: uvicorn reports
        that first). None, and the slot given back, when the client has gone."""
        assert self._slots is not None
        if self._slots.locked():  # no free slot (or others queued first): this one waits
            REQUESTS_WAITING.inc()
            try:
                await self._slots.acquire()
            finally:
                REQUESTS_WAITING.dec()
        else:  # a free slot and nobody waiting: taken at once (the gauge would only blink)
            await self._slots.acquire()
        try:
            first = await receive()
        except BaseException:
            self._slots.release()
            raise
        if first["type"] == "http.disconnect":
            self.abandoned += 1
            REQUESTS_ABANDONED.inc()
            self._slots.release()
            return None
        return first

    def release(self) -> None:
        assert self._slots is not None
        self._slots.release()


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, max_in_flight: int, path: str = "/graphql",
                 gate: AdmissionGate | None = None) -> None:
        self.app = app
        self.path = path
        self.gate = gate or AdmissionGate(max_in_flight)

    @property
    def abandoned(self) -> int:
        return self.gate.abandoned

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (not self.gate.bounded or scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"] != self.path):
            await self.app(scope, receive, send)
            return
        first = await self.gate.admit(receive)
        if first is None:
            return
        try:
            await self.app(scope, _replaying(first, receive), send)
        finally:
            self.gate.release()


def _replaying(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
