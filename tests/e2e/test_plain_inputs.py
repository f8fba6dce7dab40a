"""Plain input types (graphql_api/plain_inputs.py) are built exactly as Strawberry's per-field
conversion builds them: the same answers, byte for byte, with and without the shortcut."""

from __future__ import annotations

import enum

import orjson
import pytest
import strawberry

from application.security import Role
from benchmarks.graphql_bench import Call, answer, offers_app, price_offer_sets
from benchmarks.workload import LOAN_OFFERS
from graphql_api.plain_inputs import plain_input
from graphql_api.schema import SchemaOptions
from graphql_api.types import LoanOfferRequest

INLINE = """query LoanOffers { loanOffers(request: {userId: "%s"%s}) {
  userId decision offers { amount tenure roi } } }"""


def _requests(user: str) -> list[bytes]:
    variables = [
        {"userId": user}, {"userId": user, "requestedAmount": None, "requestedTenure": None},
        {"userId": user, "requestedAmount": 150000, "requestedTenure": 24},
        {"userId": user, "requestedAmount": 150000.5}, {"userId": user, "requestedTenure": 36},
        {"userId": user, "requestedAmount": 1e13}, {"userId": user, "requestedAmount": 12.345},
        {"userId": user, "requestedTenure": "x"}, {"userId": None}, {},
        {"userId": 42}, {"userId": user, "unknown": 1}, {"userId": "user-unknown"},
    ]
    bodies = [orjson.dumps({"query": LOAN_OFFERS, "operationName": "LoanOffers",
                            "variables": {"request": v}}) for v in variables]
    for extra in ("", ", requestedAmount: 200000, requestedTenure: 12",
                  ", requestedAmount: null", ", requestedTenure: 1.5"):
        bodies.append(orjson.dumps({"query": INLINE % (user, extra)}))
    return bodies


async def test_answers_are_those_of_strawberrys_conversion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    offer_sets = price_offer_sets(users=5)
    user = next(iter(offer_sets))[0]
    roles = frozenset({Role.AGENT, Role.ANALYST})
    headers = [(b"host", b"test"), (b"content-type", b"application/json"),
               (b"authorization", f"Bearer {user}".encode()), (b"x-request-id", b"plain-input")]
    runs = []
    definition = LoanOfferRequest.__strawberry_definition__  # type: ignore[attr-defined]
    built: list[object] = []
    shortcut = definition.from_input

    def recording(type_, value, context):  # type: ignore[no-untyped-def]
        built.append(value)
        return shortcut(type_, value, context)

    for plain in (False, True):
        monkeypatch.setattr(definition, "from_input", recording if plain else None)
        app = offers_app(offer_sets, roles, SchemaOptions(introspection=False))
        runs.append([await answer(app, Call(body, headers)) for body in _requests(user)])
    assert runs[1] == runs[0]
    assert len(built) >= 8  # the shortcut did build the valid requests
    bodies = [orjson.loads(body) for _, body in runs[0]]
    assert sum(1 for b in bodies if b.get("data") and b["data"]["loanOffers"]) >= 2
    assert sum(1 for b in bodies if b.get("errors")) >= 6


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"


def test_only_built_in_scalars_take_the_shortcut() -> None:
    @strawberry.input
    class WithList:
        names: list[str]

    @strawberry.input
    class WithEnum:
        colour: Colour

    @strawberry.input
    class Nested:
        inner: LoanOfferRequest

    for cls in (WithList, WithEnum, Nested):
        with pytest.raises(TypeError, match="not a built-in scalar"):
            plain_input(cls)

    @strawberry.type
    class Output:
        name: str

    with pytest.raises(TypeError, match="not a plain Strawberry input"):
        plain_input(Output)
    with pytest.raises(TypeError, match="not a plain Strawberry input"):
        plain_input(LoanOfferRequest)  # already has its builder


def test_names_and_defaults_follow_strawberry() -> None:
    @plain_input
    @strawberry.input
    class Example:
        first_name: str
        age: int | None = None
        renamed: bool = strawberry.field(default=True, name="flag")

    build = Example.__strawberry_definition__.from_input  # type: ignore[attr-defined]
    assert build(Example, {"firstName": "a"}, None) == Example(first_name="a")
    assert build(Example, {"firstName": "a", "age": 3, "flag": False}, None) == Example(
        first_name="a", age=3, renamed=False)
