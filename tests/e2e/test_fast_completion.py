"""The fast completion path (graphql_api/fast_completion.py) answers exactly what graphql-core's
generic path answers: the same bytes for the full ``loanOffers`` field set over several
applicants, roles and error cases, and the same data and errors for values the fast path must
hand back (nulls in non-null fields, values a scalar refuses, non-list lists)."""

from __future__ import annotations

import enum
from collections.abc import Iterator

import orjson
import pytest
import strawberry
from strawberry.extensions import ParserCache

from application.security import Role
from benchmarks.graphql_bench import Call, answer, loan_offers_body, offers_app, price_offer_sets
from benchmarks.workload import LOAN_OFFERS
from graphql_api.fast_completion import FastCompletionExecutor
from graphql_api.schema import SchemaOptions

# ----------------------------------------------------------------------------------------------
# A small schema whose values exercise every way out of the fast path


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Leaf:
    x: float
    s: str
    n: int | None
    colour: Colour
    tags: list[str]

    @strawberry.field
    def computed(self) -> str:  # a resolver: its object takes the generic path
        return self.s.upper()


@strawberry.type
class Plain:
    x: float
    s: str
    n: int | None
    tags: list[str] | None


@strawberry.type
class Node:
    plain: Plain
    plains: list[Plain]
    maybe: Plain | None
    leaf: Leaf


def _plain(**overrides: object) -> Plain:
    values: dict = {"x": 1.5, "s": "ok", "n": 7, "tags": ["a", "b"]}
    values.update(overrides)
    return Plain(**values)


def _leaf() -> Leaf:
    return Leaf(x=2.5, s="leaf", n=None, colour=Colour.BLUE, tags=["t"])


def _gen() -> Iterator[str]:
    yield from ("g1", "g2")


KINDS = {
    "good": lambda: Node(plain=_plain(), plains=[_plain(), _plain(x=3.0)], maybe=None,
                         leaf=_leaf()),
    "nan": lambda: Node(plain=_plain(x=float("nan")), plains=[], maybe=_plain(), leaf=_leaf()),
    "null_in_non_null": lambda: Node(plain=_plain(), plains=[_plain(s=None)], maybe=_plain(),
                                     leaf=_leaf()),
    "int_out_of_range": lambda: Node(plain=_plain(n=2**40), plains=[], maybe=None, leaf=_leaf()),
    "generator_list": lambda: Node(plain=_plain(tags=_gen()), plains=[], maybe=None,
                                   leaf=_leaf()),
    "tuple_list": lambda: Node(plain=_plain(tags=("x", "y")), plains=[], maybe=None,
                               leaf=_leaf()),
    "string_as_list": lambda: Node(plain=_plain(tags="abc"), plains=[], maybe=None,
                                   leaf=_leaf()),
    "null_item": lambda: Node(plain=_plain(), plains=[_plain(), None], maybe=None, leaf=_leaf()),
    "int_as_float": lambda: Node(plain=_plain(x=3), plains=[], maybe=_plain(x=True),
                                 leaf=_leaf()),
    "missing_attribute": lambda: Node(plain=object(), plains=[], maybe=None, leaf=_leaf()),
    "wrong_string": lambda: Node(plain=_plain(s=12), plains=[], maybe=_plain(s=1.5),
                                 leaf=_leaf()),
}


@strawberry.type
class Query:
    @strawberry.field
    def node(self, kind: str) -> Node | None:
        return KINDS[kind]()


SMALL_QUERY = """
query Q($kind: String!) {
  node(kind: $kind) {
    __typename
    plain { x s n tags ...More }
    twice: plain { s }
    plains { x s }
    maybe { __typename x alias: s }
    leaf { x s n colour tags computed }
  }
}
fragment More on Plain { n x }
"""

WITH_DIRECTIVES = """
query Q($kind: String!, $with: Boolean!) {
  node(kind: $kind) {
    plain { x s @include(if: $with) n @skip(if: $with) }
    plains { ... on Plain { x } }
  }
}
"""


def _result(result) -> tuple:
    errors = [(e.message, e.path, [(loc.line, loc.column) for loc in e.locations or ()])
              for e in result.errors or ()]
    return orjson.dumps(result.data), sorted(errors, key=repr)


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_small_schema_answers_as_graphql_core_does(kind: str) -> None:
    fast = strawberry.Schema(query=Query, execution_context_class=FastCompletionExecutor)
    generic = strawberry.Schema(query=Query)
    for document, variables in ((SMALL_QUERY, {"kind": kind}),
                                (WITH_DIRECTIVES, {"kind": kind, "with": True}),
                                (WITH_DIRECTIVES, {"kind": kind, "with": False})):
        for _ in range(2):  # the second time from the plans kept across requests
            expected = await generic.execute(document, variable_values=variables)
            got = await fast.execute(document, variable_values=variables)
            assert _result(got) == _result(expected), (kind, document)


async def test_the_fast_path_is_taken_and_plans_are_kept_for_plain_documents() -> None:
    # With a parser cache, as the service has: the same text gives the same operation node.
    fast = strawberry.Schema(query=Query, execution_context_class=FastCompletionExecutor,
                             extensions=[lambda: ParserCache(maxsize=16)])
    built: list[str] = []
    real = FastCompletionExecutor._build_object_plan

    def counting(self, return_type, field_details_list):
        plan = real(self, return_type, field_details_list)
        built.append(f"{return_type.name}:{'plain' if plan else 'generic'}")
        return plan

    FastCompletionExecutor._build_object_plan = counting  # type: ignore[method-assign]
    try:
        for _ in range(3):
            result = await fast.execute(SMALL_QUERY, variable_values={"kind": "good"})
            assert not result.errors
    finally:
        FastCompletionExecutor._build_object_plan = real  # type: ignore[method-assign]
    # Each plan built once, kept across the three requests. Leaf has a resolver and Node holds
    # a Leaf: both generic; Plain, selected four ways (plain, twice, plains, maybe), is plain.
    assert sorted(built) == ["Leaf:generic", "Node:generic", *["Plain:plain"] * 4], built


# ----------------------------------------------------------------------------------------------
# The service's own answers, fast path against generic path, byte for byte

CUSTOMER_SAFE = """
query LoanOffers($request: LoanOfferRequest!) {
  loanOffers(request: $request) {
    userId decision policyVersion generatedAt
    reasons { code description }
    risk { riskScore riskBand baseRoi minRoi maxRoi riskRange recommendations
           reasonCodes { code description } maxAffordableEmi maxAffordableAmount }
    behavior { priceSensitivity conversionProbability }
    offers { ...Terms explanation { summary adjustments { rule deltaBps reason }
                                    bindingConstraints fallbackApplied } }
  }
}
fragment Terms on LoanOffer {
  __typename offerId userId roi amount tenure processingFee gstOnFee netDisbursal rank
  conversionProbability riskImpact emi apr totalInterest totalPayable validUntil createdAt
  status policyVersion replacedBy first: rank
}
"""

DIRECTIVES = """
query LoanOffers($request: LoanOfferRequest!, $economics: Boolean!) {
  loanOffers(request: $request) {
    userId decision
    offers { roi expectedProfit @include(if: $economics) amount @skip(if: $economics) }
  }
}
"""


@pytest.fixture(scope="module")
def offer_sets() -> dict:
    return price_offer_sets(users=40)


def _cases(offer_sets: dict) -> list[tuple[frozenset[Role], str, dict, str]]:
    """(roles, document, variables, subject) over applicants with each decision."""
    by_decision: dict[str, list] = {}
    for key, offer_set in offer_sets.items():
        by_decision.setdefault(offer_set.decision.value, []).append(key)
    assert {"APPROVED", "DECLINED"} <= set(by_decision), by_decision.keys()
    chosen = [keys[i] for keys in by_decision.values() for i in range(min(3, len(keys)))]
    staff = frozenset({Role.AGENT, Role.ANALYST})
    cases = []
    for user, amount, tenure in chosen:
        request: dict = {"userId": user}
        if amount is not None:
            request.update(requestedAmount=int(amount), requestedTenure=tenure)
        cases += [
            (staff, LOAN_OFFERS, {"request": request}, user),
            (frozenset({Role.ADMIN}), LOAN_OFFERS, {"request": request}, "admin-1"),
            (frozenset({Role.CUSTOMER}), CUSTOMER_SAFE, {"request": request}, user),
            (frozenset({Role.CUSTOMER}), LOAN_OFFERS, {"request": request}, user),  # FORBIDDEN
            (frozenset({Role.CUSTOMER}), CUSTOMER_SAFE, {"request": request}, "user-999999"),
            (staff, DIRECTIVES, {"request": request, "economics": True}, user),
            (staff, DIRECTIVES, {"request": request, "economics": False}, user),
        ]
    cases += [
        (staff, LOAN_OFFERS, {"request": {"userId": "user-unknown"}}, "user-unknown"),
        (staff, LOAN_OFFERS, {"request": {"userId": chosen[0][0], "requestedAmount": 100000.005,
                                          "requestedTenure": 24}}, chosen[0][0]),
        (staff, LOAN_OFFERS, {"request": {"userId": chosen[0][0], "requestedTenure": "x"}},
         chosen[0][0]),
    ]
    return cases


def _body(document: str, variables: dict) -> bytes:
    return orjson.dumps({"query": document, "variables": variables,
                         "operationName": "LoanOffers"})


async def test_loan_offers_answers_are_byte_for_byte_those_of_the_generic_path(
        offer_sets: dict) -> None:
    codes: set[str] = set()
    apps: dict[tuple[frozenset[Role], bool], object] = {}
    for roles, document, variables, subject in _cases(offer_sets):
        answers = []
        for fast in (False, True):
            app = apps.get((roles, fast))
            if app is None:
                app = apps[(roles, fast)] = offers_app(
                    offer_sets, roles, SchemaOptions(introspection=False, fast_completion=fast))
            headers = [(b"host", b"test"), (b"content-type", b"application/json"),
                       (b"authorization", f"Bearer {subject}".encode()),
                       (b"x-request-id", b"fast-completion-test")]
            answers.append(await answer(app, Call(_body(document, variables), headers)))
        assert answers[1] == answers[0], (roles, variables)
        body = orjson.loads(answers[0][1])
        codes |= {e["extensions"]["code"] for e in body.get("errors", ())}
    # The cases did reach the outcomes they were written for.
    assert {"FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT"} <= codes


async def test_the_persisted_full_field_set_is_answered_the_same(
        offer_sets: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's own request (APQ hash after one registering request), whose whole answer
    the fast path completes."""
    plain: list[str] = []
    real = FastCompletionExecutor._build_object_plan

    def recording(self, return_type, field_details_list):
        plan = real(self, return_type, field_details_list)
        if plan is not None:
            plain.append(return_type.name)
        return plan

    monkeypatch.setattr(FastCompletionExecutor, "_build_object_plan", recording)
    user, amount, tenure = next(k for k, v in offer_sets.items() if k[1] is not None and v.offers)
    roles = frozenset({Role.AGENT, Role.ANALYST})
    answers = []
    for fast in (False, True):
        app = offers_app(offer_sets, roles, SchemaOptions(introspection=False,
                                                          fast_completion=fast))
        headers = [(b"host", b"test"), (b"content-type", b"application/json"),
                   (b"authorization", f"Bearer {user}".encode())]
        registered = await answer(app, Call(loan_offers_body(user, None, None, True), headers))
        persisted = await answer(app, Call(loan_offers_body(user, int(amount), tenure, False),
                                           headers))
        answers.append((registered, persisted))
    assert answers[1] == answers[0]
    assert b'"offers":[{' in answers[0][1][1]
    assert {"LoanOfferResponse", "LoanOffer", "OfferExplanation", "RiskAssessment"} <= set(plain)
