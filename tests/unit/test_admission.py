"""AdmissionMiddleware: a bound on GraphQL requests running at once, arrival order for the rest,
requests whose client has gone dropped unrun, everything else never queued."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send

from graphql_api.admission import AdmissionMiddleware

BODY: Message = {"type": "http.request", "body": b"{}", "more_body": False}


class Gate:
    """An app whose requests run until released, recording the order they started in."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive()) == BODY  # the body the middleware peeked at is replayed
        self.started.append(scope["name"])
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def scope(name: str, path: str = "/graphql", method: str = "POST") -> Scope:
    return {"type": "http", "method": method, "path": path, "name": name}


def receiving(*messages: Message) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


async def sent(_: Message) -> None:
    return None


async def test_at_most_n_run_and_the_others_start_in_arrival_order() -> None:
    app = Gate()
    admission = AdmissionMiddleware(app, max_in_flight=2)
    names = [f"r{i}" for i in range(6)]
    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(admission(scope(name), receiving(BODY), sent)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert app.started == ["r0", "r1"]
    app.release.set()
    await asyncio.gather(*tasks)
    assert app.started == names and app.most == 2


async def test_a_request_whose_client_left_while_waiting_is_dropped_unrun() -> None:
    app = Gate()
    admission = AdmissionMiddleware(app, max_in_flight=1)
    first = asyncio.create_task(admission(scope("first"), receiving(BODY), sent))
    await asyncio.sleep(0)
    gone = asyncio.create_task(admission(scope("gone"), receiving({"type": "http.disconnect"}),
                                         sent))
    await asyncio.sleep(0.01)
    app.release.set()
    await asyncio.gather(first, gone)
    assert app.started == ["first"] and admission.abandoned == 1


async def test_other_paths_methods_and_websockets_are_never_queued() -> None:
    app = Gate()
    admission = AdmissionMiddleware(app, max_in_flight=1)
    busy = asyncio.create_task(admission(scope("busy"), receiving(BODY), sent))
    await asyncio.sleep(0)
    others = [scope("probe", path="/readyz"), scope("page", method="GET"),
              {"type": "websocket", "path": "/graphql", "name": "ws"}]
    tasks = [asyncio.create_task(admission(s, receiving(BODY), sent)) for s in others]
    await asyncio.sleep(0.01)
    assert app.started == ["busy", "probe", "page", "ws"] and app.running == 4
    app.release.set()
    await asyncio.gather(busy, *tasks)


async def test_zero_means_no_bound() -> None:
    app = Gate()
    admission = AdmissionMiddleware(app, max_in_flight=0)
    tasks = [asyncio.create_task(admission(scope(f"r{i}"), receiving(BODY), sent))
             for i in range(50)]
    await asyncio.sleep(0.01)
    assert app.running == 50
    app.release.set()
    await asyncio.gather(*tasks)


def waiting_gauge() -> float:
    return REGISTRY.get_sample_value("loan_offers_http_requests_waiting") or 0.0


async def test_the_waiting_gauge_counts_the_queued_requests_only() -> None:
    app = Gate()
    admission = AdmissionMiddleware(app, max_in_flight=2)
    before = waiting_gauge()
    tasks = [asyncio.create_task(admission(scope(f"r{i}"), receiving(BODY), sent))
             for i in range(5)]
    await asyncio.sleep(0.01)
    assert app.running == 2 and waiting_gauge() - before == 3
    app.release.set()
    await asyncio.gather(*tasks)
    assert waiting_gauge() == before
