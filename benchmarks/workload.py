"""What the load generator sends: GraphQL documents, the operation mix and the answer checks.

``loanOffers`` selects the full field set of the public contract (every field of the response,
its offers and their explanations), so serialisation cost is measured, not avoided. Users are
drawn uniformly from the seeded demo portfolio; a third of the calls ask for the full grid, the
rest name an amount and a tenure.

The realistic mix adds ``offer`` (read one offer back), ``offerHistory`` (a customer's page of
offers) and ``acceptOffer`` (each accepts the first offer of an earlier answer, one user at most once,
with an idempotency key). Operations the server does not have yet (``GRAPHQL_VALIDATION_FAILED``
on a probe) are dropped from the mix, and the JSON says which ones ran.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.loadgen import Request, http_post

LOAN_OFFERS = """
query LoanOffers($request: LoanOfferRequest!) {
  loanOffers(request: $request) {
    userId decision policyVersion generatedAt
    reasons { code description }
    risk {
      riskScore probabilityOfDefault riskBand baseRoi minRoi maxRoi riskRange
      reasonCodes { code description } recommendations
    }
    behavior { priceSensitivity conversionProbability longTermValue }
    offers {
      offerId roi amount tenure processingFee rank conversionProbability riskImpact emi apr
      totalInterest totalPayable expectedProfit validUntil status
      explanation {
        summary breakEvenRoi unconstrainedOptimalRoi
        priceResponse { intercept slope }
        adjustments { rule deltaBps reason }
        bindingConstraints fallbackApplied
      }
    }
  }
}
""".strip()

OFFER = """
query Offer($id: ID!) {
  offer(offerId: $id) {
    offerId userId roi amount tenure emi apr status validUntil
    explanation { summary breakEvenRoi }
  }
}
""".strip()

OFFER_HISTORY = """
query OfferHistory($userId: ID!) {
  offerHistory(userId: $userId, first: 10) {
    edges { node { offerId roi amount tenure status validUntil } }
    pageInfo { hasNextPage endCursor }
  }
}
""".strip()

ACCEPT_OFFER = """
mutation AcceptOffer($id: ID!, $key: String) {
  acceptOffer(offerId: $id, idempotencyKey: $key) { __typename }
}
""".strip()

BASELINE = "query Baseline { items { id name value } }"

#: The realistic mix: operation -> weight (per cent of requests).
MIX_WEIGHTS = {"loanOffers": 50, "offer": 25, "offerHistory": 15, "acceptOffer": 10}

_OFFER_ID = re.compile(rb'"offerId":\s*"([^"]+)"')
_USER_ID = re.compile(rb'"userId":\s*"([^"]+)"')
_CODE = re.compile(rb'"code":\s*"([A-Z_]+)"')
AMOUNTS = (100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000)
TENURES = (12, 24, 36, 48, 60)


@dataclass
class Workload:
    """Builds requests and checks answers; remembers offer ids seen in answers (for ``offer``
    and ``acceptOffer``)."""

    host: str
    port: int
    users: int
    headers_for: Callable[[str], dict[str, str]] = lambda _user: {}
    path: str = "/graphql"
    seen_offers: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=50_000))
    unaccepted: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=50_000))
    #: Users one of whose offers is waiting in ``unaccepted`` or was sent to ``acceptOffer``:
    #: accepting an offer withdraws the user's other active offers, so a second acceptance for
    #: the same user would rightly be a CONFLICT, not a failure of the service.
    accepting_users: set[str] = field(default_factory=set)
    error_codes: dict[str, int] = field(default_factory=dict)

    #: Automatic persisted queries: send the document's SHA-256 instead of the document. While
    #: ``register`` is on (the warm-up), the document goes along so every worker stores it.
    apq: bool = False
    register: bool = True

    def _post(self, name: str, query: str, variables: dict, user: str) -> Request:
        payload: dict[str, object] = {"variables": variables,
                                      "operationName": name[0].upper() + name[1:]}
        if not self.apq or self.register:
            payload["query"] = query
        if self.apq:
            payload["extensions"] = {"persistedQuery": {"version": 1,
                                                        "sha256Hash": _sha256(query)}}
        body = json.dumps(payload, separators=(",", ":")).encode()
        return name, http_post(self.host, self.port, self.path, body, self.headers_for(user))

    def user(self, rng: random.Random) -> str:
        return f"user-{rng.randint(1, self.users):06d}"

    def loan_offers(self, rng: random.Random) -> Request:
        user = self.user(rng)
        request: dict[str, object] = {"userId": user}
        if rng.random() >= 1 / 3:
            request["requestedAmount"] = rng.choice(AMOUNTS)
            request["requestedTenure"] = rng.choice(TENURES)
        return self._post("loanOffers", LOAN_OFFERS, {"request": request}, user)

    def offer(self, rng: random.Random) -> Request:
        if not self.seen_offers:
            return self.loan_offers(rng)
        offer_id, user = self.seen_offers[rng.randrange(len(self.seen_offers))]
        return self._post("offer", OFFER, {"id": offer_id}, user)

    def offer_history(self, rng: random.Random) -> Request:
        user = self.user(rng)
        return self._post("offerHistory", OFFER_HISTORY, {"userId": user}, user)

    def accept_offer(self, rng: random.Random) -> Request:
        if not self.unaccepted:
            return self.loan_offers(rng)
        offer_id, user = self.unaccepted.pop()  # the newest: the least likely to have lapsed
        return self._post("acceptOffer", ACCEPT_OFFER, {"id": offer_id, "key": f"bench-{offer_id}"},
                          user)

    def builders(self) -> dict[str, Callable[[random.Random], Request]]:
        return {"loanOffers": self.loan_offers, "offer": self.offer,
                "offerHistory": self.offer_history, "acceptOffer": self.accept_offer}

    def mix(self, operations: list[str]) -> Callable[[random.Random], Request]:
        builders = self.builders()
        names = [n for n in MIX_WEIGHTS if n in operations]
        weights = [MIX_WEIGHTS[n] for n in names]
        chosen = [builders[n] for n in names]

        def next_request(rng: random.Random) -> Request:
            return rng.choices(chosen, weights)[0](rng)

        return next_request

    def check(self, name: str, body: bytes) -> str | None:
        """None when the answer has data and no errors; otherwise an error label."""
        if b'"errors"' in body:
            codes = _CODE.findall(body)
            label = f"{name}: {codes[0].decode() if codes else 'error'}"
            return label
        if name == "loanOffers":
            user = _USER_ID.search(body)
            owner = user.group(1).decode() if user else ""
            for rank, match in enumerate(_OFFER_ID.finditer(body)):
                pair = (match.group(1).decode(), owner)
                self.seen_offers.append(pair)
                if rank == 0 and owner not in self.accepting_users:  # one per user
                    self.accepting_users.add(owner)
                    self.unaccepted.append(pair)
        return None


@functools.cache
def _sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def baseline_request(host: str, port: int, headers: dict[str, str] | None = None
                     ) -> Callable[[random.Random], Request]:
    body = json.dumps({"query": BASELINE}).encode()
    payload = http_post(host, port, "/graphql", body, headers)
    return lambda _rng: ("baseline", payload)


def check_baseline(_name: str, body: bytes) -> str | None:
    return "baseline: error" if b'"errors"' in body or b'"data"' not in body else None
