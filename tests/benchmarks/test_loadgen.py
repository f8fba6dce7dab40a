"""The load generator counts every request: answers, GraphQL errors, HTTP errors, timeouts.

A tiny asyncio HTTP server on loopback answers by request body: ``ok``, ``gql-error``
(HTTP 200 with ``errors``), ``http-500``, or ``slow`` (never in time). No timing is asserted.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from benchmarks.loadgen import http_post, run_load, summarise


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            status, answer = "200 OK", b'{"data":{"x":1}}'
            if body == b"gql-error":
                answer = b'{"data":null,"errors":[{"extensions":{"code":"NOT_FOUND"}}]}'
            elif body == b"http-500":
                status, answer = "500 Internal Server Error", b"boom"
            elif body == b"slow":
                await asyncio.sleep(5)
            writer.write(f"HTTP/1.1 {status}\r\ncontent-length: {len(answer)}\r\n\r\n".encode()
                         + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _checker(_name: str, body: bytes) -> str | None:
    return "gql" if b'"errors"' in body else None


async def test_every_outcome_is_counted() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kinds = ["ok", "gql-error", "http-500", "slow"]

    def next_request(rng: random.Random) -> tuple[str, bytes]:
        kind = rng.choice(kinds)
        return kind, http_post("127.0.0.1", port, "/", kind.encode())

    async with server:
        results = await run_load("127.0.0.1", port, next_request, _checker, connections=8,
                                 duration_s=1.0, timeout_s=0.3)
    summary = summarise(results)
    by_op = summary["by_operation"]
    assert by_op["ok"]["requests"] == by_op["ok"]["ok"] > 0
    assert by_op["gql-error"]["ok"] == 0 and summary["error_kinds"]["gql"] == \
        by_op["gql-error"]["requests"] > 0
    assert summary["error_kinds"]["http 500"] == by_op["http-500"]["requests"] > 0
    assert summary["timeouts"] == by_op["slow"]["requests"] > 0
    assert summary["requests"] == sum(b["requests"] for b in by_op.values())
    assert summary["errors"] + summary["timeouts"] == summary["requests"] - summary["ok"]
    assert summary["throughput_rps"] * summary["duration_s"] == pytest.approx(summary["ok"], abs=1)


async def test_open_loop_counts_slots_the_server_could_not_take() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    slow = http_post("127.0.0.1", port, "/", b"slow")
    async with server:
        results = await run_load("127.0.0.1", port, lambda _rng: ("slow", slow), _checker,
                                 connections=2, duration_s=0.6, rate=40, timeout_s=0.25)
    summary = summarise(results)
    # 40/s for 0.6 s is ~24 slots; each connection is stuck 0.25 s per request, so most slots
    # are either timed out or still unsent at the end, and none is lost from the count.
    assert summary["ok"] == 0
    assert summary["timeouts"] > 0 and summary["unsent_at_end"] > 0
    assert summary["timeouts"] + summary["unsent_at_end"] >= 20
