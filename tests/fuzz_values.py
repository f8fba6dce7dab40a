"""Plausible values for the schema fuzzer, swapped into schemathesis's documents at random.

hypothesis-graphql fills every argument with whatever its type allows: a huge negative Int for a
tenure, a 1e+213 income, NUL bytes in a name. Validation turns nearly all of those away with
BAD_USER_INPUT, so on its own the fuzzer rarely gets past the first check of a mutation. Here each
argument or input field named below is replaced, half of the time, by a value from the range the
service accepts (a real user or offer id, an income in rupees, the default policy with a new
version and maybe one number pushed to an edge): some cases become fully valid and reach the
pricing engine, others keep one or two odd fields and test those fields' checks alone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import graphql
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_POLICY = (ROOT / "config" / "policies" / "default.toml").read_text()
_VERSION = re.compile(r"^version = \d+$", re.MULTILINE)
_NUMBER = re.compile(r"(?<== )-?\d+(?:\.\d+)?(?=[\s,}\]])")
#: Text that has broken services before: NUL (PostgreSQL refuses it), blanks, very long, SQL
#: and markup, a lone surrogate's neighbours, right-to-left marks.
EDGE_STRINGS = ("", " ", "\x00", "user-000001\x00", "a" * 10_000, "' OR '1'='1' --", "<script>",
                "\ud7ff\ue000", "\u202e", "\t\n", "0", "-1", "1e400", "null")
TROUBLED_IDS = ("", "user-000001\x00", "\x00")
BEHAVIOR_COUNTERS = ("offersViewed90d", "rateComparisons90d", "offersDeclined", "offersAccepted",
                     "appSessions30d", "loansRepaid", "productsHeld")
EDGE_NUMBERS = ("0", "-1", "1", "0.0001", "1e308", "9223372036854775808", "-0.5", "100000000000",
                "0.999999", "1e-300", "2", "100", "-100")


def _money(low: int, high: int) -> st.SearchStrategy[float]:
    return st.decimals(low, high, places=2).map(float)


@st.composite
def policy_documents(draw: st.DrawFn) -> str:
    """The default policy under another version, and sometimes with up to three numbers at an
    edge (named in a comment first, so a failure report, long strings cut short, shows them)."""
    document = _VERSION.sub(f"version = {draw(st.integers(0, 9))}", DEFAULT_POLICY, count=1)
    changed = []
    for _ in range(draw(st.sampled_from((0, 1, 2, 3)))):
        numbers = list(_NUMBER.finditer(document))
        target = numbers[draw(st.integers(0, len(numbers) - 1))]
        edge = draw(st.sampled_from(EDGE_NUMBERS))
        document = document[:target.start()] + edge + document[target.end():]
        changed.append(document.splitlines()[document[:target.start()].count("\n")].strip())
    return "".join(f"# fuzzed: {line}\n" for line in changed) + document


def _recent_instants() -> st.SearchStrategy[str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return st.integers(-90 * 24 * 3600, 10 * 60).map(
        lambda seconds: (now + timedelta(seconds=seconds)).isoformat())


def plausible(user_ids: list[str], offer_ids: list[str]) -> dict[str, st.SearchStrategy]:
    """Values by GraphQL argument or input-field name (every operation's names share a meaning)."""
    text = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                             max_size=40), st.sampled_from(EDGE_STRINGS))
    return {
        # mostly real, sometimes a real one with a NUL after it, or empty
        "userId": st.sampled_from([*user_ids, *TROUBLED_IDS]),
        "offerId": st.sampled_from([*offer_ids, *TROUBLED_IDS]),
        "fullName": st.one_of(
            st.from_regex(r"[A-Z][a-z]{1,12}( [A-Z][a-z]{1,12}){0,2}", fullmatch=True),
            st.sampled_from(EDGE_STRINGS)),
        "dateOfBirth": st.dates(date(1940, 1, 1), date(2008, 12, 31)).map(date.isoformat),
        "monthlyIncome": _money(5_000, 2_000_000),
        "existingEmi": _money(0, 200_000),
        "monthsInCurrentJob": st.integers(0, 480),
        "creditHistoryMonths": st.integers(0, 480),
        "delinquencies24m": st.integers(0, 8),
        "enquiries6m": st.integers(0, 15),
        "creditUtilisation": st.floats(0, 1.5),
        "bureauScore": st.integers(300, 900),
        "phone": st.from_regex(r"\+91[6-9][0-9]{9}", fullmatch=True),
        "email": st.from_regex(r"[a-z]{1,10}@[a-z]{1,10}\.(in|com)", fullmatch=True),
        "pan": st.from_regex(r"[A-Z]{5}[0-9]{4}[A-Z]", fullmatch=True),
        "address": text,
        **{name: st.one_of(st.sampled_from(("FEMALE", "MALE", "OTHER")), text)
           for name in ("gender", "maritalStatus", "religion", "caste")},
        "after": text,
        "requestedAmount": _money(10_000, 5_000_000),
        "requestedTenure": st.integers(1, 90),
        "first": st.integers(1, 100),
        "version": st.integers(0, 9),
        "policyVersion": st.integers(0, 9),
        "fromVersion": st.integers(0, 9),
        "toVersion": st.integers(0, 9),
        "share": st.floats(0, 1),
        "sampleSize": st.integers(1, 60),  # the engine per applicant: keep the run short
        "targetTakeUp": st.floats(0, 1),
        "incomeMultiple": st.floats(0.5, 60),
        "tenure": st.integers(1, 90),
        "source": policy_documents(),
        "draft": policy_documents(),
        "occurredAt": _recent_instants(),
        "idempotencyKey": text,
        "eventId": text,
        **{name: st.integers(0, 60) for name in BEHAVIOR_COUNTERS},
        "daysSinceLastActive": st.integers(0, 400),
        "employerCategory": st.sampled_from(("CAT_A", "CAT_B", "CAT_C", "UNRATED")).map(Enum),
    }


class Enum(str):
    """An enum value's name (printed bare, not quoted)."""


def literal(value: object) -> graphql.ValueNode:
    if isinstance(value, Enum):
        return graphql.EnumValueNode(value=str(value))
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float | Decimal):
        return graphql.FloatValueNode(value=repr(float(value)))
    return graphql.StringValueNode(value=str(value))


def with_plausible_values(document: str, values: dict[str, st.SearchStrategy],
                          draw: st.DrawFn) -> str:
    """``document`` with named arguments and input fields replaced: none, about half or all of
    them (drawn per document), so some documents are wholly plausible."""
    tree = graphql.parse(document)
    tenths = draw(st.sampled_from((10, 8, 5, 0)))  # the first is hypothesis's favourite

    class Swap(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: object) -> object:
            return self._swap(node)

        def enter_object_field(self, node: graphql.ObjectFieldNode, *_: object) -> object:
            return self._swap(node)

        @staticmethod
        def _swap(node: graphql.ArgumentNode | graphql.ObjectFieldNode) -> object:
            strategy = values.get(node.name.value)
            if strategy is None or draw(st.integers(0, 9)) >= tenths:
                return None
            return type(node)(name=node.name, value=literal(draw(strategy)))

    return graphql.print_ast(graphql.visit(tree, Swap()))
