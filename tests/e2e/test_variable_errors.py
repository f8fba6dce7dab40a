"""A variable whose value does not fit its declared type is the client's mistake: a typed
``BAD_USER_INPUT`` naming the variable, never a masked ``INTERNAL_SERVER_ERROR`` (these once
were, and each one was logged as an unexpected error and fed the SLO burn alerts)."""

from __future__ import annotations

import httpx
import pytest

from tests.schema_fuzz import ROLES
from tests.tokens import IdentityProvider

BY_OBJECT = "query O($r: LoanOfferRequest!) { loanOffers(request: $r) { decision } }"
BY_FIELD = 'query O($t: Int) { loanOffers(request: {userId: "user-000021", requestedTenure: $t}) ' \
           "{ decision } }"
EVENT = "mutation E($e: BehaviorEventInput!) { recordBehaviorEvent(event: $e) { eventId } }"

CASES = [
    (BY_OBJECT, {"r": {"userId": "user-000021", "requestedTenure": "x"}}, "requestedTenure"),
    (BY_OBJECT, {"r": {"userId": "user-000021", "requestedAmount": "abc"}}, "requestedAmount"),
    (BY_OBJECT, {"r": {"userId": "user-000021", "extra": 1}}, "extra"),
    (BY_OBJECT, {"r": "user-000021"}, "LoanOfferRequest"),
    (BY_OBJECT, {"r": {"requestedTenure": 12}}, "userId"),
    (BY_FIELD, {"t": 2 ** 40}, "$t"),
    (BY_FIELD, {"t": [12]}, "$t"),
]


@pytest.mark.parametrize(("query", "variables", "named"), CASES)
async def test_a_variable_of_the_wrong_shape_is_bad_user_input(
        prod_client: httpx.AsyncClient, identity_provider: IdentityProvider, query: str,
        variables: dict, named: str, caplog: pytest.LogCaptureFixture) -> None:
    headers = identity_provider.headers("variables-staff", *ROLES)
    response = await prod_client.post("/graphql", headers=headers,
                                      json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "requestId" not in error["extensions"], error
    assert error["message"].startswith("Variable '$"), error
    assert named in error["message"], error
    assert "Internal error" not in response.text
    assert not [r for r in caplog.records if r.name == "loan_offers.errors"]


async def test_enum_values_are_not_suggested_in_prod(
        prod_client: httpx.AsyncClient, identity_provider: IdentityProvider) -> None:
    headers = identity_provider.headers("variables-staff", *ROLES)
    event = {"userId": "user-000021", "type": "OFFER_VIEWD"}
    response = await prod_client.post("/graphql", headers=headers,
                                      json={"query": EVENT, "variables": {"e": event}})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "OFFER_VIEWD" in error["message"], error
    assert "Did you mean" not in error["message"] and "OFFER_VIEWED" not in error["message"], error


async def test_a_date_time_that_is_not_one_is_bad_user_input(
        prod_client: httpx.AsyncClient, identity_provider: IdentityProvider) -> None:
    """A custom scalar's parser raises a plain ValueError: still the client's input."""
    headers = identity_provider.headers("variables-staff", *ROLES)
    event = {"userId": "user-000021", "type": "APP_SESSION", "occurredAt": "yesterday"}
    response = await prod_client.post("/graphql", headers=headers,
                                      json={"query": EVENT, "variables": {"e": event}})
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "occurredAt" in error["message"], error
