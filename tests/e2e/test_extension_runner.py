"""The planned extension runner (graphql_api/extension_runner.py) answers exactly what
Strawberry's own runner answers: the same bytes for every role and outcome, the errors raised
by the extensions themselves (parse, validation, limits, persisted queries, NUL characters,
authorisation, masking) included, and the same GraphQL metrics."""

from __future__ import annotations

import gc
import hashlib

import orjson
import pytest
from prometheus_client import REGISTRY

from application.security import Role
from benchmarks.graphql_bench import Call, answer, offers_app, price_offer_sets
from benchmarks.workload import LOAN_OFFERS
from graphql_api.extension_runner import PlannedExtensionsRunner
from graphql_api.schema import SchemaOptions
from tests.e2e.test_fast_completion import _body, _cases

STAFF = frozenset({Role.AGENT, Role.ANALYST})
CUSTOMER_FORBIDDEN = "query LoanOffers($request: LoanOfferRequest!) " \
    "{ loanOffers(request: $request) { offers { expectedProfit } } }"


def _apq(document: str | None, digest: str, variables: dict) -> bytes:
    payload: dict = {"variables": variables, "operationName": "LoanOffers",
                     "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if document is not None:
        payload["query"] = document
    return orjson.dumps(payload)


def _extension_cases(user: str) -> list[tuple[frozenset[Role], bytes, str, bool]]:
    """Requests refused or shaped by the extensions before or around execution; the last item
    says whether a hook refuses it on entry (``DocumentSetup``: persisted-query errors)."""
    request = {"request": {"userId": user}}
    digest = hashlib.sha256(LOAN_OFFERS.encode()).hexdigest()
    plain = [
        "query {",  # syntax error (parser cache)
        '{ loanOffers(request: {userId: "x"}) { nope } }',  # validation, no suggestions
        "{ __schema { types { name } } }",  # introspection ban (prod)
        "{ " + "__typename " * 2100 + "}",  # token limit
        "{ __typename" + " @skip(if: false)" * 9 + " }",  # directive cap
        "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }",  # alias limit
        '{ loanOffers(request: {userId: "user\\u0000"}) { decision } }',  # NUL character
        "mutation { acceptOffer(offerId: \"x\", idempotencyKey: \"k\") { status } }",
    ]
    cases = [(STAFF, orjson.dumps({"query": q}), user, False) for q in plain]
    cases += [
        (STAFF, _apq(None, "0" * 64, request), user, True),  # not found
        (STAFF, _apq(LOAN_OFFERS, "f" * 64, request), user, True),  # hash mismatch
        (STAFF, _apq(LOAN_OFFERS, digest, request), user, False),  # registers
        (STAFF, _apq(None, digest, request), user, False),  # by hash
        (STAFF, _apq(None, "abc", request), user, True),  # malformed hash
        # another app (its own store): not found there
        (frozenset({Role.CUSTOMER}), _apq(None, digest, request), "user-999999", True),
        (frozenset({Role.CUSTOMER}), _body(CUSTOMER_FORBIDDEN, request), user, False),
        (STAFF, b'{"query": 12}', user, False),
        (STAFF, b"not json", user, False),
    ]
    return cases


def _graphql_samples() -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in REGISTRY.collect() if metric.name.startswith("loan_offers_graphql_")
            and not metric.name.endswith("duration_seconds") for s in metric.samples}


def _moved(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


@pytest.fixture(scope="module")
def offer_sets() -> dict:
    return price_offer_sets(users=40)


async def test_answers_and_metrics_are_those_of_strawberrys_runner(
        offer_sets: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    user = next(iter(offer_sets))[0]
    requests = [(roles, _body(document, variables), subject, False)
                for roles, document, variables, subject in _cases(offer_sets)]
    requests += _extension_cases(user)
    used: list[bool] = []
    real_stage = PlannedExtensionsRunner.operation

    def recording(self):  # type: ignore[no-untyped-def]
        used.append(True)
        return real_stage(self)

    monkeypatch.setattr(PlannedExtensionsRunner, "operation", recording)
    runs = []
    for planned in (False, True):
        apps: dict[frozenset[Role], object] = {}
        # A hook left suspended (Strawberry's runner, a later hook refused on entry) is closed
        # when collected, and GraphQLMetrics records then: collect at both ends of a run so
        # that lands in its own run.
        gc.collect()
        before = _graphql_samples()
        answers = []
        for roles, body, subject, _ in requests:
            app = apps.get(roles)
            if app is None:
                app = apps[roles] = offers_app(offer_sets, roles, SchemaOptions(
                    introspection=False, planned_extensions=planned))
            headers = [(b"host", b"test"), (b"content-type", b"application/json"),
                       (b"authorization", f"Bearer {subject}".encode()),
                       (b"x-request-id", b"extension-runner-test")]
            answers.append(await answer(app, Call(body, headers)))
        gc.collect()
        runs.append((answers, _moved(before, _graphql_samples())))
        assert bool(used) == planned  # the runner under test did (or did not) run
    (generic, generic_metrics), (planned_answers, planned_metrics) = runs
    for (roles, body, _, _), expected, got in zip(requests, generic, planned_answers,
                                                  strict=True):
        assert got == expected, (roles, body[:120])
    codes = {e.get("extensions", {}).get("code") for _, body in generic if body.startswith(b"{")
             for e in (orjson.loads(body).get("errors") or ())}
    assert {"FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "GRAPHQL_PARSE_FAILED",
            "GRAPHQL_VALIDATION_FAILED", "PERSISTED_QUERY_NOT_FOUND",
            "PERSISTED_QUERY_HASH_MISMATCH"} <= codes, codes
    # The same metrics, but for the refusals on entry: Strawberry's runner left the metrics
    # hook suspended and it counted INTERNAL_SERVER_ERROR when collected; the planned runner
    # exits it with the refusal, which is counted by its own code (extension_runner.py).
    refused = [orjson.loads(body)["errors"][0]["extensions"]["code"]
               for (_, _, _, on_entry), (_, body) in zip(requests, generic, strict=True)
               if on_entry]
    expected = dict(generic_metrics)
    internal = ("loan_offers_graphql_errors_total", (("code", "INTERNAL_SERVER_ERROR"),))
    expected[internal] -= len(refused)
    if not expected[internal]:
        del expected[internal]
    for code in refused:
        key = ("loan_offers_graphql_errors_total", (("code", code),))
        expected[key] = expected.get(key, 0.0) + 1
    assert planned_metrics == expected
