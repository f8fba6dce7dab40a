"""The orjson codec of the GraphQL view: same answers, malformed bodies still a 400."""

from __future__ import annotations

import json

import httpx

from graphql_api.app import LoanOffersGraphQL


async def test_a_malformed_body_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b'{"query": ',
                                 headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_answers_are_standard_json_text(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={
        "query": 'query Q($id: ID!) { offer(offerId: $id) { offerId } }',
        "variables": {"id": "nöt-thére"}})
    body = json.loads(response.text)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # Text for WebSocket frames too: graphql-transport-ws clients expect text, not binary.
    encoded = LoanOffersGraphQL.encode_json(None, {"a": 1.5, "b": "é", "c": [None, True]})
    assert isinstance(encoded, str) and json.loads(encoded) == {"a": 1.5, "b": "é", "c": [None, True]}
