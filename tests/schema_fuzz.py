"""The GraphQL schema fuzzer: Schemathesis cases for every query and mutation, sent in-process.

``run_schema_fuzz(app, identity, rounds, cases)`` loads ``schema.graphql`` (the prod profile has
no introspection), has Schemathesis (hypothesis-graphql underneath) generate ``cases`` documents
per operation and round, and posts each through httpx's ASGI transport on the app's own event
loop, with a real bearer token whose roles (AGENT, ANALYST, ADMIN) may call every operation and
select every field, so a case reaches the resolvers instead of stopping at FORBIDDEN.

Arguments are what hypothesis-graphql makes of each type (huge and negative numbers, odd
unicode, NUL bytes, year-1 dates, nulls where allowed); IDs are also drawn from real user and
offer ids, and named arguments are swapped for plausible values (``tests/fuzz_values.py``) so
cases get past validation into the pricing engine and the mutations' transactions. Rounds run
the operations again with another seed and see what earlier mutations made (experiments to
report on, drafts to diff). Fixed seeds and no example database: every run sends the same
documents (the server's ids and clock aside).

A case fails on an HTTP 5xx or a GraphQL error coded INTERNAL_SERVER_ERROR (an unexpected
exception, masked by ``graphql_api/errors.py``); typed errors (BAD_USER_INPUT, NOT_FOUND,
CONFLICT, ...) are the right answer to nonsense. Failing cases are collected, one per distinct
cause with the exception the server logged, so one run shows every bug found.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from schemathesis.specs.graphql.scalars import CUSTOM_SCALARS
from starlette.types import ASGIApp

from tests.fuzz_values import EDGE_STRINGS, plausible, with_plausible_values
from tests.tokens import IdentityProvider

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"
SERVER_ERROR_CODES = {"INTERNAL_SERVER_ERROR"}
ROLES = ("AGENT", "ANALYST", "ADMIN")  # together they may call everything and read every field
OFFERS_QUERY = "query($u: ID!) { loanOffers(request: {userId: $u}) { offers { offerId } } }"


def _abridged(document: str) -> str:
    """The document with long string literals (policy documents) cut short, for the report."""
    return re.sub(r'"((?:[^"\\]|\\.){120})(?:[^"\\]|\\.)+"', r'"\1..."', document)


@dataclass
class FuzzReport:
    cases: Counter = field(default_factory=Counter)  # per operation
    outcomes: Counter = field(default_factory=Counter)  # (operation, "OK" or extensions.code)
    failures: dict[str, str] = field(default_factory=dict)  # the first case of each distinct cause
    failed: int = 0

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def fail(self, cause: str, query: str) -> None:
        self.failed += 1
        self.failures.setdefault(cause, f"{cause}\n{_abridged(query)}")

    def summary(self) -> str:
        return (f"schema fuzz: {self.total} cases over {len(self.cases)} operations; "
                f"outcomes {sorted(self.outcomes.items())}")

    def problems(self) -> str:
        return (f"{self.failed} server errors in {self.total} cases, {len(self.failures)} "
                "distinct:\n\n" + "\n\n".join(self.failures.values()))


class _ServerExceptions(logging.Handler):
    """What the masking logged for each request id: the exception behind "Internal error"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_request: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        request_id = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.by_request[request_id] = f"{type(exc).__name__}: {exc}"


@contextmanager
def _logged_exceptions() -> Iterator[_ServerExceptions]:
    handler = _ServerExceptions()
    logger = logging.getLogger("loan_offers.errors")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@contextmanager
def _id_literals(strategy: st.SearchStrategy) -> Iterator[None]:
    """hypothesis-graphql's ID values replaced (a process-wide registry) for the run only."""
    previous = CUSTOM_SCALARS.get("ID")
    CUSTOM_SCALARS["ID"] = strategy
    try:
        yield
    finally:
        if previous is None:
            CUSTOM_SCALARS.pop("ID", None)
        else:
            CUSTOM_SCALARS["ID"] = previous


async def known_ids(client: httpx.AsyncClient, headers: dict[str, str]
                    ) -> tuple[list[str], list[str]]:
    """Real user ids, and the offer ids of a few fresh answers."""
    users = [f"user-{n:06d}" for n in range(1, 13)]
    offers: list[str] = []
    for user in users[:8]:
        answer = await client.post("/graphql", headers=headers,
                                   json={"query": OFFERS_QUERY, "variables": {"u": user}})
        offers += [o["offerId"] for o in answer.json()["data"]["loanOffers"]["offers"]]
    assert offers, "the seeded portfolio should get some offers"
    return users, offers


def id_values(real: list[str]) -> st.SearchStrategy:
    """ID literals: real ids, known troublemakers, else whatever text or integer hypothesis likes."""
    return st.one_of(st.sampled_from(real).map(nodes.String),
                     st.sampled_from(EDGE_STRINGS).map(nodes.String),
                     st.text(max_size=80).map(nodes.String),
                     st.integers().map(nodes.Int))


#: After fuzzing, everything the mutations may have stored is read back in full: a mutation that
#: stored what it cannot read again (a value no type can carry, a broken row) fails here.
READ_BACK = {
    "applicant": """query($u: ID!) { applicant(userId: $u) { userId
      personal { fullName dateOfBirth phone email pan address }
      credit { monthlyIncome existingEmi employmentType employerCategory monthsInCurrentJob
               creditHistoryMonths bureauScore delinquencies24m enquiries6m creditUtilisation
               residenceType hasWriteOff }
      behavior { offersViewed90d rateComparisons90d offersDeclined offersAccepted appSessions30d
                 daysSinceLastActive loansRepaid productsHeld }
      historySummary { offersSeen answers accepted declined lapsed lastAcceptedAt } } }""",
    "offerHistory": """query($u: ID!) { offerHistory(userId: $u, first: 100) { totalCount
      edges { node { offerId userId roi amount tenure processingFee gstOnFee netDisbursal rank
        conversionProbability riskImpact emi apr totalInterest totalPayable expectedProfit
        validUntil createdAt status policyVersion replacedBy
        explanation { summary breakEvenRoi adjustments { rule deltaBps reason } } } } } }""",
    "loanOffers": """query($u: ID!) { loanOffers(request: {userId: $u}) { decision policyVersion
      offers { offerId roi apr emi } reasons { code } risk { riskBand } } }""",
}
POLICIES = """{ policyVersions { version name active publishedAt }
  challenger: challengerFigures { experiment { experimentId running } arms { arm answers } } }"""


def _check(label: str, response: httpx.Response, report: FuzzReport,
           exceptions: _ServerExceptions, query: str) -> None:
    report.cases[label] += 1
    if response.status_code >= 500:
        report.fail(f"{label}: HTTP {response.status_code}", query)
        return
    errors = response.json().get("errors") or []
    if not errors:
        report.outcomes[(label, "OK")] += 1
    for error in errors:
        extensions = error.get("extensions") or {}
        code = extensions.get("code")
        report.outcomes[(label, code)] += 1
        if code in SERVER_ERROR_CODES:
            cause = exceptions.by_request.get(extensions.get("requestId") or "", error.get("message"))
            report.fail(f"{label}: {code} ({cause})", query)


def _fuzz_operation(operation: Any, round_number: int, cases: int,
                    values: dict[str, st.SearchStrategy], send: Callable[[str], httpx.Response],
                    report: FuzzReport, exceptions: _ServerExceptions) -> None:
    """Runs in a worker thread: hypothesis draws, the app's event loop answers (``send``)."""

    @seed(round_number)
    @settings(max_examples=cases, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        query = with_plausible_values(case.body, values, data.draw)
        _check(operation.label, send(query), report, exceptions, query)

    run()


async def run_schema_fuzz(app: ASGIApp, identity: IdentityProvider, rounds: int,
                          cases: int) -> FuzzReport:
    """``rounds`` x ``cases`` documents for every query and mutation of ``schema.graphql``."""
    headers = identity.headers("fuzz-staff", *ROLES)
    schema = schemathesis.graphql.from_path(SCHEMA_FILE)
    operations = [result.ok() for result in schema.get_all_operations()]
    loop = asyncio.get_running_loop()
    report = FuzzReport()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        users, offers = await known_ids(client, headers)
        values = plausible(users, offers)

        def send(query: str) -> httpx.Response:
            post = client.post("/graphql", json={"query": query}, headers=headers)
            return asyncio.run_coroutine_threadsafe(post, loop).result(timeout=120)

        with _logged_exceptions() as exceptions, _id_literals(id_values(users + offers)):
            for round_number in range(rounds):
                for operation in operations:
                    await asyncio.to_thread(_fuzz_operation, operation, round_number, cases,
                                            values, send, report, exceptions)
            await _read_back(client, headers, users, report, exceptions)
    return report


async def _read_back(client: httpx.AsyncClient, headers: dict[str, str], users: list[str],
                     report: FuzzReport, exceptions: _ServerExceptions) -> None:
    async def read(label: str, query: str, **variables: object) -> None:
        response = await client.post("/graphql", headers=headers,
                                     json={"query": query, "variables": variables})
        _check(f"read back {label}", response, report, exceptions, f"{query}\n{variables}")

    for user in users:
        for label, query in READ_BACK.items():
            await read(label, query, u=user)
    # NOT_FOUND is fine when no experiment ran; an unreadable version or experiment is not
    await read("policies", POLICIES)
