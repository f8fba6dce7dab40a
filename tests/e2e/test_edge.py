"""The edge of ``POST /graphql`` (``graphql_api/edge.py``) against the middleware chain it
stands in for: the same app, once through the edge and once through Starlette's middleware
stack, must send the same messages (status, headers in order, bodies), write the same
access-log lines and move the same metrics, for answers, refusals (401, 413, 415), errors (500,
an ``HTTPException``) and requests that wait for admission or are dropped unrun."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from starlette.exceptions import HTTPException

from config.asgi import api_options
from graphql_api.app import LoanOffersGraphQL, ServiceApp, create_app
from graphql_api.edge import HEADERS_KEY, GraphQLEdge
from graphql_api.secure_headers import TransportSecurity
from tests.tokens import IdentityProvider

QUERY = orjson.dumps({"query": "{ __typename }"})
JSON = (b"content-type", b"application/json")
Asgi = Callable[[dict, Any, Any], Awaitable[None]]


@dataclass
class Outcome:
    sent: list[dict]
    raised: type[BaseException] | None
    log: list[tuple[int, dict]]
    metrics: dict[str, float]
    through_edge: bool


def build(env: dict, **options: Any) -> ServiceApp:
    base = api_options(env["settings"])
    app = create_app(env["container"].api_services(), replace(base, **options))
    assert isinstance(app, ServiceApp)
    return app


def both_ways(app: ServiceApp) -> tuple[Asgi, Asgi]:
    """(the app as served, the same app through its middleware stack only)."""
    edge = app.build_middleware_stack()
    assert isinstance(edge, GraphQLEdge)

    async def chain(scope: dict, receive: Any, send: Any) -> None:
        scope["app"] = app  # what Starlette.__call__ does before its stack
        await edge.general(scope, receive, send)

    return app, chain


def view_of(app: ServiceApp) -> LoanOffersGraphQL:
    return app.router.routes[0].app  # type: ignore[attr-defined,return-value]


def http_scope(headers: list[tuple[bytes, bytes]], path: str = "/graphql",
               method: str = "POST", scheme: str = "http") -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": scheme, "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


def body_messages(body: bytes, chunk: int | None = None) -> list[dict]:
    if chunk is None:
        return [{"type": "http.request", "body": body, "more_body": False}]
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    return [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
            for i, part in enumerate(parts)]


METRICS = (
    ("loan_offers_http_requests_total", ("200", "401", "413", "415", "418", "500")),
    ("loan_offers_http_request_duration_seconds_count", ()),
    ("loan_offers_http_requests_in_flight", ()),
    ("loan_offers_http_requests_abandoned_total", ()),
)


def metric_values() -> dict[str, float]:
    values = {}
    for name, statuses in METRICS:
        if statuses:
            for status in statuses:
                values[f"{name}/{status}"] = REGISTRY.get_sample_value(
                    name, {"route": "/graphql", "method": "POST", "status": status}) or 0.0
        else:
            labels = {"route": "/graphql", "method": "POST"} if "duration" in name else {}
            values[name] = REGISTRY.get_sample_value(name, labels) or 0.0
    return values


async def call(app: Asgi, scope: dict, messages: list[dict], caplog: pytest.LogCaptureFixture,
               ) -> Outcome:
    pending = list(messages)
    sent: list[dict] = []

    async def receive() -> dict:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    before = metric_values()
    caplog.clear()
    raised = None
    with caplog.at_level(logging.INFO, logger="loan_offers.access"):
        try:
            await app(scope, receive, send)
        except Exception as exc:  # compared between the two ways, not handled
            raised = type(exc)
    after = metric_values()
    return Outcome(sent=sent, raised=raised, log=access_lines(caplog),
                   metrics={k: after[k] - before[k] for k in after if after[k] != before[k]},
                   through_edge=HEADERS_KEY in scope)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict]]:
    lines = []
    for record in caplog.records:
        if record.name == "loan_offers.access":
            assert isinstance(record.msg, dict)
            line = {k: v for k, v in record.msg.items() if k not in ("timestamp", "duration_ms")}
            assert isinstance(record.msg["duration_ms"], float)
            lines.append((record.levelno, line))
    return lines


async def compare(app: ServiceApp, caplog: pytest.LogCaptureFixture,
                  scope: Callable[[], dict], messages: Callable[[], list[dict]],
                  edge_expected: bool = True) -> Outcome:
    served, chain = both_ways(app)
    through_edge = await call(served, scope(), messages(), caplog)
    through_chain = await call(chain, scope(), messages(), caplog)
    assert through_edge.through_edge is edge_expected and not through_chain.through_edge
    through_chain.through_edge = through_edge.through_edge
    assert through_edge == through_chain
    return through_edge


def status_of(outcome: Outcome) -> int:
    return next(m["status"] for m in outcome.sent if m["type"] == "http.response.start")


def headers_of(outcome: Outcome) -> list[tuple[bytes, bytes]]:
    return next(m["headers"] for m in outcome.sent if m["type"] == "http.response.start")


@dataclass(frozen=True)
class Authenticating:
    """Stands in for the view's authenticator."""

    authenticate: Callable[[str | None], Awaitable[Any]]


@pytest.fixture
def identity(prod_app_env: dict) -> IdentityProvider:
    return prod_app_env["identity"]


def authorised(identity: IdentityProvider, request_id: bytes = b"edge-test-1",
               ) -> list[tuple[bytes, bytes]]:
    token = identity.headers("edge-user", "ANALYST")["Authorization"].encode()
    return [(b"host", b"testserver"), JSON, (b"authorization", token),
            (b"x-request-id", request_id)]


async def test_an_answer_is_the_same_over_plain_http_and_tls(
        prod_app_env: dict, identity: IdentityProvider, caplog: pytest.LogCaptureFixture) -> None:
    app = build(prod_app_env, instance_id="replica-e")
    for scheme in ("http", "https"):
        outcome = await compare(app, caplog, lambda s=scheme: http_scope(authorised(identity),
                                                                        scheme=s),
                                lambda: body_messages(QUERY))
        assert status_of(outcome) == 200 and outcome.raised is None
        names = [name for name, _ in headers_of(outcome)]
        assert names[-1] == b"x-request-id" and b"x-instance-id" in names
        assert (b"strict-transport-security" in names) is (scheme == "https")
        assert outcome.log == [(logging.INFO, {
            "event": "request", "method": "POST", "path": "/graphql", "status": 200,
            "request_id": "edge-test-1", "level": "info", "logger": "loan_offers.access"})]
        assert outcome.metrics == {"loan_offers_http_requests_total/200": 1.0,
                                   "loan_offers_http_request_duration_seconds_count": 1.0}


async def test_a_minted_request_id_is_echoed_the_same_way(
        prod_app_env: dict, identity: IdentityProvider, caplog: pytest.LogCaptureFixture) -> None:
    served, chain = both_ways(build(prod_app_env))
    headers = authorised(identity, b"not a valid id!")
    results = [await call(app, http_scope(list(headers)), body_messages(QUERY), caplog)
               for app in (served, chain)]
    for outcome in results:
        request_id = dict(headers_of(outcome))[b"x-request-id"]
        assert len(request_id) == 32 and outcome.log[0][1]["request_id"] == request_id.decode()


async def test_refusals_401_415_and_413(prod_app_env: dict, identity: IdentityProvider,
                                        caplog: pytest.LogCaptureFixture) -> None:
    app = build(prod_app_env, max_body_bytes=4096)
    no_token = [(b"host", b"testserver"), JSON, (b"x-request-id", b"edge-401")]
    not_json = [(b"host", b"testserver"), (b"content-type", b"text/plain"),
                (b"x-request-id", b"edge-415")]
    large = orjson.dumps({"query": "#" + "x" * 5000 + "\n{ __typename }"})
    declared = [*authorised(identity, b"edge-413"), (b"content-length", str(len(large)).encode())]
    cases = [
        (no_token, lambda: body_messages(QUERY), 401),
        (not_json, lambda: body_messages(b"x=1"), 415),
        (declared, lambda: body_messages(large), 413),
        (authorised(identity, b"edge-413s"), lambda: body_messages(large, chunk=1000), 413),
    ]
    for headers, messages, status in cases:
        outcome = await compare(app, caplog, lambda h=headers: http_scope(list(h)), messages)
        assert status_of(outcome) == status
        assert outcome.log[0][1]["status"] == status
        assert outcome.metrics[f"loan_offers_http_requests_total/{status}"] == 1.0


async def test_an_exception_is_a_bare_500_and_raised_again(
        prod_app_env: dict, identity: IdentityProvider, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = build(prod_app_env)

    async def broken(credentials: str | None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(view_of(app), "authenticator", Authenticating(broken))
    outcome = await compare(app, caplog, lambda: http_scope(authorised(identity)),
                            lambda: body_messages(QUERY))
    assert outcome.raised is RuntimeError
    assert outcome.sent[0] == {"type": "http.response.start", "status": 500, "headers": [
        (b"content-length", b"21"), (b"content-type", b"text/plain; charset=utf-8")]}
    assert outcome.log[0][1]["status"] == 500
    assert outcome.metrics["loan_offers_http_requests_total/500"] == 1.0


async def test_an_http_exception_is_answered_as_starlette_answers_it(
        prod_app_env: dict, identity: IdentityProvider, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = build(prod_app_env)

    async def teapot(credentials: str | None) -> Any:
        raise HTTPException(418, "short and stout", headers={"x-teapot": "yes"})

    monkeypatch.setattr(view_of(app), "authenticator", Authenticating(teapot))
    outcome = await compare(app, caplog, lambda: http_scope(authorised(identity)),
                            lambda: body_messages(QUERY))
    assert outcome.raised is None and status_of(outcome) == 418
    assert outcome.sent[1]["body"] == b"short and stout"


async def test_queued_and_abandoned_requests(prod_app_env: dict, identity: IdentityProvider,
                                             caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    app = build(prod_app_env, max_in_flight=1)
    view = view_of(app)
    authenticator = view.authenticator
    release = asyncio.Event()

    async def slow(credentials: str | None) -> Any:
        await release.wait()
        return await authenticator.authenticate(credentials)

    results = []
    for way in both_ways(app):
        release.clear()
        monkeypatch.setattr(view, "authenticator", Authenticating(slow))
        busy = asyncio.create_task(call(way, http_scope(authorised(identity, b"busy")),
                                        body_messages(QUERY), caplog))
        await asyncio.sleep(0.01)
        monkeypatch.setattr(view, "authenticator", authenticator)
        waiting = REGISTRY.get_sample_value("loan_offers_http_requests_waiting") or 0.0
        gone = asyncio.create_task(call(way, http_scope(authorised(identity, b"gone")),
                                        [{"type": "http.disconnect"}], caplog))
        await asyncio.sleep(0.01)
        assert (REGISTRY.get_sample_value("loan_offers_http_requests_waiting") or 0) \
            == waiting + 1
        release.set()
        first, dropped = await busy, await gone
        assert status_of(first) == 200
        assert dropped.sent == [] and dropped.raised is None
        results.append((first.sent, dropped.metrics.get(
            "loan_offers_http_requests_abandoned_total")))
    assert results[0] == results[1] and results[0][1] == 1.0


async def test_everything_else_goes_through_the_stack_and_cors_adds_vary(
        prod_app_env: dict, identity: IdentityProvider, caplog: pytest.LogCaptureFixture) -> None:
    app = build(prod_app_env, transport=TransportSecurity(
        cors_allowed_origins=("https://app.example.com",)))
    origin = [*authorised(identity), (b"origin", b"https://app.example.com")]
    for scope in (lambda: http_scope(origin),  # CORS headers are Starlette's to add
                  lambda: http_scope([(b"x-request-id", b"p")], path="/livez", method="GET"),
                  lambda: http_scope([(b"x-request-id", b"g")], method="GET"),
                  lambda: {**http_scope(authorised(identity)), "root_path": "/api",
                           "path": "/api/graphql"}):
        await compare(app, caplog, scope, lambda: body_messages(QUERY), edge_expected=False)
    outcome = await compare(app, caplog, lambda: http_scope(authorised(identity)),
                            lambda: body_messages(QUERY))
    assert status_of(outcome) == 200 and (b"vary", b"Origin") in headers_of(outcome)


def test_middleware_added_later_turns_the_edge_off(prod_app_env: dict) -> None:
    app = build(prod_app_env)
    assert isinstance(app.build_middleware_stack(), GraphQLEdge)

    class Passing:
        def __init__(self, inner: Asgi) -> None:
            self.inner = inner

        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            await self.inner(scope, receive, send)

    app.add_middleware(Passing)  # as OpenTelemetry's instrumentation does
    assert not isinstance(app.build_middleware_stack(), GraphQLEdge)
