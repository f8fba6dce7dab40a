"""An HTTP/1.1 keep-alive load generator on asyncio (uvloop when installed), counting everything.

Why our own and not wrk/ab/hey: the targets are about *every* request of *every* connection at
1,000 connections on a 2-core machine that also runs the server, so the generator must be cheap
(a raw ``asyncio.Protocol``, no HTTP library), must see GraphQL errors inside HTTP 200 bodies,
must vary the request per call (users, operations, offer ids harvested from earlier answers) and
must not hide queueing:

* **closed loop** (``rate=None``): each connection sends its next request as soon as the previous
  answer arrives. Throughput is the server's capacity; latency is then mostly queueing (Little's
  law: mean latency ~ connections / throughput).
* **open loop** (``rate=R``): requests are *scheduled* at R per second in total, spread evenly
  over the connections with random phases; a request whose slot comes while its connection is
  still busy waits, and its latency is measured **from its scheduled time**, so a stalled server
  cannot make the generator slow down and hide the stall (no coordinated omission, as wrk2 does).

Latency starts when the request is scheduled (open loop) or written (closed loop): a connection
waiting in the server's accept queue is inside the measurement, because the kernel completes
the TCP handshake before the application accepts. Requests slower than ``timeout_s`` are counted
as timeouts, their connection is closed and replaced. Connections the server refuses or resets
are counted as connect errors and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: One request: (operation name, full HTTP/1.1 request bytes).
Request = tuple[str, bytes]
#: Called with (operation name, response body) after each answer; returns an error label or None.
Checker = Callable[[str, bytes], "str | None"]


def http_post(host: str, port: int, path: str, body: bytes,
              headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Results:
    """Raw figures of one load phase (latencies in seconds, in completion order)."""

    started: float = 0.0
    duration_s: float = 0.0
    latencies: array = field(default_factory=lambda: array("d"))
    operations: array = field(default_factory=lambda: array("B"))   # index into op_names
    ok: array = field(default_factory=lambda: array("B"))
    completed_at: array = field(default_factory=lambda: array("d"))
    op_names: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)                  # label -> count
    timeouts: int = 0
    connect_errors: int = 0
    scheduled: int = 0
    unsent_at_end: int = 0      # open loop: slots that came but could not be sent before the end
    client_cpu_s: float = 0.0

    def op_index(self, name: str) -> int:
        try:
            return self.op_names.index(name)
        except ValueError:
            self.op_names.append(name)
            return len(self.op_names) - 1


class _Conn(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight."""

    __slots__ = ("buffer", "closed", "header_end", "need", "status", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1
        self.header_end = -1
        self.status = 0
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by server"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, payload: bytes) -> asyncio.Future[tuple[int, bytes]]:
        self.buffer.clear()
        self.need = -1
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(payload)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.need < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            marker = head.find(b"content-length:")
            if marker < 0:
                self._fail("response without Content-Length")
                return
            stop = head.find(b"\r\n", marker)
            self.need = int(head[marker + 15:stop if stop >= 0 else None])
            self.header_end = end + 4
        if len(buffer) - self.header_end >= self.need:
            body = bytes(buffer[self.header_end:self.header_end + self.need])
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result((self.status, body))

    def _fail(self, reason: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def run_load(host: str, port: int, next_request: Callable[[random.Random], Request],
                   check: Checker, *, connections: int, duration_s: float,
                   rate: float | None = None, timeout_s: float = 10.0, seed: int = 1,
                   connect_concurrency: int = 200) -> Results:
    """Hold ``connections`` keep-alive connections for ``duration_s`` seconds; see module doc."""
    loop = asyncio.get_running_loop()
    results = Results()
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    connect_gate = asyncio.Semaphore(connect_concurrency)
    start = loop.time()
    end = start + duration_s
    results.started = time.time()
    interval = connections / rate if rate else 0.0

    async def connect() -> _Conn:
        while True:
            async with connect_gate:
                try:
                    _, protocol = await asyncio.wait_for(
                        loop.create_connection(_Conn, host, port), timeout_s)
                    return protocol
                except (OSError, TimeoutError):
                    results.connect_errors += 1
            if loop.time() >= end:
                raise TimeoutError("no connection before the end of the phase")
            await asyncio.sleep(0.05)

    async def worker(index: int) -> None:
        rng = random.Random(seed * 100_003 + index)
        conn: _Conn | None = None
        slot = start + rng.random() * interval      # open loop: first scheduled time
        try:
            while True:
                now = loop.time()
                if rate:
                    if slot >= end:
                        return
                    if now >= end:
                        # Slots already due but never sent: the server fell behind. Counted,
                        # never silently dropped.
                        results.unsent_at_end += int((end - slot) // interval) + 1
                        return
                    if slot > now:
                        await asyncio.sleep(slot - now)
                    began = slot
                    slot += interval
                else:
                    if now >= end:
                        return
                    began = now
                results.scheduled += 1
                if conn is None or conn.closed.done():
                    try:
                        conn = await connect()
                    except TimeoutError:
                        results.unsent_at_end += 1
                        return
                    if not rate:
                        began = loop.time()
                name, payload = next_request(rng)
                try:
                    status, body = await asyncio.wait_for(conn.send(payload), timeout_s)
                except TimeoutError:
                    results.timeouts += 1
                    _record(results, name, timeout_s, False, loop.time())
                    conn.close()
                    conn = None
                    continue
                except ConnectionError as exc:
                    results.errors[f"connection: {exc}"] += 1
                    _record(results, name, loop.time() - began, False, loop.time())
                    conn.close()
                    conn = None
                    continue
                done = loop.time()
                label = f"http {status}" if status != 200 else check(name, body)
                if label is not None:
                    results.errors[label] += 1
                _record(results, name, done - began, label is None, done)
        finally:
            if conn is not None:
                conn.close()

    tasks = [asyncio.ensure_future(worker(i)) for i in range(connections)]
    await asyncio.gather(*tasks)
    results.duration_s = loop.time() - start
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    results.client_cpu_s = ((usage_after.ru_utime - usage_before.ru_utime)
                            + (usage_after.ru_stime - usage_before.ru_stime))
    # Give the server a moment to see the closes before the next phase.
    await asyncio.sleep(0.2)
    return results


def _record(results: Results, name: str, latency: float, ok: bool, at: float) -> None:
    results.latencies.append(latency)
    results.operations.append(results.op_index(name))
    results.ok.append(1 if ok else 0)
    results.completed_at.append(at)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (cheaper per request, so less CPU taken from the server)."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def summarise(results: Results, *, slow_s: float = 2.0) -> dict[str, Any]:
    """Throughput, latency percentiles (ms) over all answered requests, errors, and per operation.

    ``latencies`` include failed requests (errors, timeouts at ``timeout_s``), so a failing server
    cannot look fast. Throughput counts successful answers only.
    """
    import numpy as np

    lat = np.frombuffer(results.latencies, dtype=np.float64) if results.latencies else np.zeros(0)
    ok = np.frombuffer(results.ok, dtype=np.uint8).astype(bool) if results.ok else np.zeros(0, bool)
    ops = np.frombuffer(results.operations, dtype=np.uint8) if results.operations else np.zeros(0)
    duration = results.duration_s or 1.0

    def block(mask: np.ndarray) -> dict[str, Any]:
        values = lat[mask] * 1000.0
        out: dict[str, Any] = {"requests": int(mask.sum()), "ok": int((ok & mask).sum()),
                               "throughput_rps": round(float((ok & mask).sum()) / duration, 1)}
        if values.size:
            p50, p90, p99, p999 = np.percentile(values, [50, 90, 99, 99.9])
            out.update(p50_ms=round(float(p50), 2), p90_ms=round(float(p90), 2),
                       p99_ms=round(float(p99), 2), p99_9_ms=round(float(p999), 2),
                       mean_ms=round(float(values.mean()), 2), max_ms=round(float(values.max()), 2),
                       over_2s=int((values > slow_s * 1000.0).sum()))
        return out

    everything = block(np.ones(lat.size, dtype=bool))
    failed = int((~ok).sum())
    return {
        **everything,
        "errors": failed - results.timeouts,
        "error_kinds": dict(results.errors.most_common(10)),
        "timeouts": results.timeouts,
        "connect_errors": results.connect_errors,
        "unsent_at_end": results.unsent_at_end,
        "duration_s": round(duration, 2),
        "client_cpu_s": round(results.client_cpu_s, 2),
        "by_operation": {name: block(ops == i) for i, name in enumerate(results.op_names)},
    }
