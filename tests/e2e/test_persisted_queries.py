"""Automatic persisted queries: hash only -> NOT_FOUND, then document + hash registers it,
then hash only runs it; a wrong hash is refused; limits still apply to persisted documents."""

from __future__ import annotations

import hashlib

import httpx

from graphql_api.persisted_queries import PersistedQueryStore
from tests.e2e.conftest import SEEDED

QUERY = "query Risk($r: LoanOfferRequest!) { loanOffers(request: $r) { userId decision } }"
DIGEST = hashlib.sha256(QUERY.encode()).hexdigest()


def _apq(digest: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def _post(client: httpx.AsyncClient, body: dict) -> dict:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _code(answer: dict) -> str:
    return answer["errors"][0]["extensions"]["code"]


async def test_register_once_then_send_the_hash_only(client: httpx.AsyncClient) -> None:
    user = f"user-{SEEDED:06d}"
    variables = {"r": {"userId": user}}
    digest = hashlib.sha256((QUERY + " ").encode()).hexdigest()  # unseen by other tests
    query = QUERY + " "
    first = await _post(client, {"variables": variables, "extensions": _apq(digest)})
    assert _code(first) == "PERSISTED_QUERY_NOT_FOUND"
    registered = await _post(client, {"query": query, "variables": variables,
                                      "extensions": _apq(digest)})
    assert registered["data"]["loanOffers"]["userId"] == user
    again = await _post(client, {"variables": variables, "extensions": _apq(digest)})
    assert "errors" not in again and again["data"]["loanOffers"]["userId"] == user


async def test_a_hash_that_is_not_the_documents_is_refused(client: httpx.AsyncClient) -> None:
    wrong = "0" * 64
    answer = await _post(client, {"query": QUERY, "variables": {"r": {"userId": "user-000001"}},
                                  "extensions": _apq(wrong)})
    assert _code(answer) == "PERSISTED_QUERY_HASH_MISMATCH"
    later = await _post(client, {"variables": {"r": {"userId": "user-000001"}},
                                 "extensions": _apq(wrong)})
    assert _code(later) == "PERSISTED_QUERY_NOT_FOUND"  # nothing was stored under it


async def test_bad_versions_and_hashes_are_typed_errors(client: httpx.AsyncClient) -> None:
    answer = await _post(client, {"extensions": {"persistedQuery": {"version": 2,
                                                                    "sha256Hash": DIGEST}}})
    assert _code(answer) == "PERSISTED_QUERY_NOT_SUPPORTED"
    answer = await _post(client, {"extensions": _apq("abc")})
    assert _code(answer) == "BAD_USER_INPUT"


async def test_persisted_documents_pass_the_same_limits(client: httpx.AsyncClient) -> None:
    aliases = "{ " + " ".join(f'a{i}: offer(offerId: "x") {{ offerId }}' for i in range(40)) + " }"
    digest = hashlib.sha256(aliases.encode()).hexdigest()
    registered = await _post(client, {"query": aliases, "extensions": _apq(digest)})
    assert registered["errors"]
    again = await _post(client, {"extensions": _apq(digest)})
    assert again["errors"] and "aliases" in again["errors"][0]["message"]


def test_the_store_is_bounded_least_recently_used_first() -> None:
    store = PersistedQueryStore(maxsize=2)
    store.put("a", "A")
    store.put("b", "B")
    assert store.get("a") == "A"     # a is now the most recent
    store.put("c", "C")
    assert (store.get("a"), store.get("b"), store.get("c"), len(store)) == ("A", None, "C", 2)
