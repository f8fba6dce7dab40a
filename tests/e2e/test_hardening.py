"""The probes of graphql-cop (and a few more) against the ``prod`` profile, through the real ASGI app.

Each probe is what an attacker or a scanner sends; each assertion is what a hardened GraphQL
server answers. Where ``dev`` deliberately differs (introspection, suggestions, GraphiQL), the
same probe against ``dev`` shows the probe detects the difference, so it cannot pass vacuously.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.demo.portfolio import generate_applicants
from adapters.sql.migrate import upgrade_to_head
from config.asgi import create_app
from config.container import build_container
from config.settings import Settings
from graphql_api.graphiql import ASSETS_PATH
from tests.pii import pii_settings
from tests.tokens import IdentityProvider

OFFERS = '{ loanOffers(request: {userId: "user-000042"}) { decision offers { offerId } } }'
INTROSPECTION = "{ __schema { queryType { name } types { name } } }"
CIRCULAR_INTROSPECTION = ("query cop { __schema { types { fields { type { fields { type { fields "
                          "{ type { fields { type { name } } } } } } } } } } }")


async def prod_app(tmp_path: Path, identity: IdentityProvider, seed: int = 60, **overrides: object):
    db = tmp_path / "prod.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", profile="prod",
                        rate_limit_operations="100000/minute",
                        **identity.settings_overrides(), **pii_settings(), **overrides)
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    container = build_container(settings)
    await container.bootstrap_policy().execute(settings.policy_file.read_text())
    await container.seed_applicants().execute(generate_applicants(seed))
    return create_app(container=container), container, db


def client_of(app, identity: IdentityProvider) -> httpx.AsyncClient:
    """A scanner holding a valid staff token: the probes test hardening, not authentication."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers=identity.headers("probe-admin", "ADMIN"))


@pytest.fixture(scope="module")
async def prod(tmp_path_factory: pytest.TempPathFactory,
               identity_provider: IdentityProvider) -> AsyncIterator[httpx.AsyncClient]:
    app, container, _ = await prod_app(tmp_path_factory.mktemp("prod"), identity_provider)
    async with client_of(app, identity_provider) as client:
        yield client
    await container.engine().dispose()


async def post(client: httpx.AsyncClient, query: str, **variables: object) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: dict) -> set[str]:
    return {error["extensions"]["code"] for error in body.get("errors", [])}


def messages(body: dict) -> str:
    return " | ".join(error["message"] for error in body.get("errors", []))


async def test_the_prod_app_answers_ordinary_queries(prod) -> None:
    body = await post(prod, OFFERS)
    assert "errors" not in body, body
    assert body["data"]["loanOffers"]["decision"] in {"APPROVED", "COUNTER_OFFER", "DECLINED"}


# --- introspection, GraphiQL, suggestions: off in prod, on in dev ---

async def test_introspection_is_off_in_prod(prod, client) -> None:
    body = await post(prod, INTROSPECTION)
    assert body["data"] is None and codes(body) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in messages(body)
    assert (await post(client, INTROSPECTION))["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_circular_introspection_is_rejected(prod) -> None:
    body = await post(prod, CIRCULAR_INTROSPECTION)
    assert body["data"] is None and codes(body) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_circular_introspection_is_rejected_even_where_introspection_is_on(client) -> None:
    body = await post(client, CIRCULAR_INTROSPECTION)
    assert body["data"] is None and "Maximum introspection depth exceeded" in messages(body)


@pytest.mark.parametrize("accept", ["text/html", "*/*"])
async def test_prod_serves_no_graphiql(prod, client, accept: str) -> None:
    page = await prod.get("/graphql", headers={"accept": accept})
    assert page.status_code == 404 and "<html" not in page.text.lower()
    assert codes(page.json()) == {"NOT_FOUND"}
    for asset in ("graphiql.js", "graphiql.css"):
        assert (await prod.get(f"{ASSETS_PATH}/{asset}")).status_code == 404
    assert (await client.get("/graphql", headers={"accept": accept})).status_code == 200


async def test_no_field_suggestions_in_prod(prod, client) -> None:
    typo = "{ loanOffer(request: {userId: \"user-000042\"}) { decision } }"
    body = await post(prod, typo)
    assert codes(body) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Cannot query field 'loanOffer'" in messages(body)
    assert "Did you mean" not in messages(body)
    assert "Did you mean" in messages(await post(client, typo))


# --- overloading: aliases, directives, batching ---

async def test_alias_overloading_is_rejected(prod) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(101)) + " }"
    body = await post(prod, query)
    assert body["data"] is None
    assert messages(body) == "101 aliases found. Allowed: 30"


async def test_aliases_within_the_limit_run(prod) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
    assert (await post(prod, query))["data"]["a29"] == "Query"


@pytest.mark.parametrize("directive", ["@aa", "@include(if: true)", "@skip(if: false)"])
async def test_directive_overloading_is_rejected_with_one_error(prod, directive: str) -> None:
    body = await post(prod, "query cop { __typename " + directive * 10 + " }")
    assert body["data"] is None
    # graphql-cop counts one error per directive as "vulnerable": here there is just one.
    assert len(body["errors"]) == 1 and codes(body) == {"GRAPHQL_VALIDATION_FAILED"}
    assert messages(body) == "10 directives found. Allowed: 8"


async def test_directives_within_the_limit_run(prod) -> None:
    query = ("query { a: __typename @include(if: true) b: __typename @skip(if: true) "
             "c: __typename @include(if: false) }")
    assert (await post(prod, query))["data"] == {"a": "Query"}


@pytest.mark.parametrize(("body", "reason"), [
    ([{"query": "{ __typename }"}] * 10, "Batching is not enabled"),
    (b'{"query": ', "Unable to parse request body as JSON"),
    ({"variables": {}}, "No GraphQL query found"),
    ({"query": "query A { __typename }", "operationName": "B"}, 'Unknown operation named "B"'),
])
async def test_requests_that_cannot_run_are_a_400_with_a_typed_error(prod, body, reason) -> None:
    # Strawberry refuses these in plain text; a client parsing JSON gets JSON with a code.
    if isinstance(body, bytes):
        response = await prod.post("/graphql", content=body,
                                   headers={"content-type": "application/json"})
    else:
        response = await prod.post("/graphql", json=body)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert reason.lower() in error["message"].lower()
    assert error["extensions"] == {"code": "BAD_REQUEST",
                                   "requestId": response.headers["x-request-id"]}


async def test_several_operations_without_an_operation_name_are_refused(prod) -> None:
    # GraphQL spec, GetOperation: an error, not the first operation's answer.
    document = "query A { __typename } query B " + OFFERS
    body = await post(prod, document)
    assert body["data"] is None and codes(body) == {"BAD_REQUEST"}, body
    assert "2 operations (A, B)" in messages(body) and "operationName" in messages(body)
    named = (await prod.post("/graphql", json={"query": document, "operationName": "B"})).json()
    assert named["data"]["loanOffers"]["decision"], named


# --- transport: GET, CSRF, body size ---

@pytest.mark.parametrize("query", ["{ __typename }", "query { __typename }",
                                   "mutation { __typename }"])
async def test_no_operation_runs_over_get(prod, query: str) -> None:
    response = await prod.get("/graphql", params={"query": query})
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    body = response.json()
    assert "data" not in body and codes(body) == {"METHOD_NOT_ALLOWED"}


async def test_a_subscription_over_post_is_refused_by_name_not_as_an_internal_error(
        prod, caplog: pytest.LogCaptureFixture) -> None:
    # What GraphiQL sends when its editor has not yet parsed the typed document (and what a
    # client without a WebSocket sends): run as a query, its event stream failed inside.
    updates = 'subscription Updates { offerUpdates(userId: "user-000042") { type } }'
    for document, name in ((updates, "Updates"), (updates.replace(" Updates", ""), None)):
        response = await prod.post("/graphql", json={"query": document, "operationName": name})
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None and codes(body) == {"METHOD_NOT_ALLOWED"}, body
        assert "WebSocket" in messages(body)
    assert "unexpected error" not in caplog.text


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded", b"query=%7B__typename%7D"),
    ("multipart/form-data; boundary=x",
     b'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{__typename}\r\n--x--\r\n'),
    ("text/plain", b'{"query": "{__typename}"}'),
    ("application/graphql", b"{__typename}"),
    (None, b'{"query": "{__typename}"}'),
])
async def test_non_json_posts_are_refused_with_415(prod, content_type: str | None,
                                                   body: bytes) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await prod.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert codes(response.json()) == {"UNSUPPORTED_MEDIA_TYPE"} and "data" not in response.json()


async def test_json_with_a_charset_is_json(prod) -> None:
    response = await prod.post("/graphql", content=b'{"query": "{__typename}"}',
                               headers={"content-type": "application/json; charset=utf-8"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_bodies_over_the_limit_are_refused_with_413(tmp_path: Path,
                                                          identity_provider) -> None:
    app, container, _ = await prod_app(tmp_path, identity_provider, seed=0, max_body_bytes=4096)
    padding = "#" + "x" * 5000 + "\n"
    small = json.dumps({"query": "{ __typename }"}).encode()
    large = json.dumps({"query": padding + "{ __typename }"}).encode()

    async def chunked(data: bytes):
        for start in range(0, len(data), 1000):
            yield data[start:start + 1000]

    try:
        async with client_of(app, identity_provider) as client:
            headers = {"content-type": "application/json"}
            declared = await client.post("/graphql", content=large, headers=headers)
            streamed = await client.post("/graphql", content=chunked(large), headers=headers)
            fine = await client.post("/graphql", content=chunked(small), headers=headers)
    finally:
        await container.engine().dispose()
    for refused in (declared, streamed):
        assert refused.status_code == 413
        [error] = refused.json()["errors"]
        assert error["message"] == "Request body too large: the limit is 4096 bytes"
        assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE",
                                       "requestId": refused.headers["x-request-id"]}
    assert fine.json() == {"data": {"__typename": "Query"}}


# --- what answers reveal: tracing, stack traces, masked errors ---

async def test_trace_mode_is_off(prod) -> None:
    for query in ("query cop { __typename }", OFFERS, "{ nope }"):
        body = await post(prod, query)
        assert "extensions" not in body, body
        for error in body.get("errors", []):
            assert set(error["extensions"]) == {"code"}, error


async def test_malformed_documents_reveal_no_internals(prod) -> None:
    body = await post(prod, "qwerty cop { abc }")
    assert codes(body) == {"GRAPHQL_PARSE_FAILED"}
    text = json.dumps(body)
    for leak in ("Traceback", "exception", "stacktrace", "File \"", ".py"):
        assert leak not in text


async def test_unhandled_errors_are_masked_with_the_request_id(tmp_path: Path,
                                                               identity_provider) -> None:
    app, container, db = await prod_app(tmp_path, identity_provider)
    await container.engine().dispose()
    with sqlite3.connect(db) as connection:  # a real fault the code does not expect: bad data
        connection.execute("UPDATE applicants SET date_of_birth = 'garbled-42' "
                           "WHERE user_id = 'user-000042'")
    try:
        async with client_of(app, identity_provider) as client:
            response = await client.post("/graphql", json={"query": OFFERS},
                                         headers={"x-request-id": "probe-42"})
    finally:
        await container.engine().dispose()
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Internal error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "probe-42"}
    assert response.headers["x-request-id"] == "probe-42"
    assert "garbled" not in response.text and "isoformat" not in response.text
