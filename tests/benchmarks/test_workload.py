"""The load generator's workload: which offers the mix sends to ``acceptOffer``."""

from __future__ import annotations

import random

from benchmarks.workload import Workload


def answer(user: str, *offer_ids: str) -> bytes:
    offers = ",".join(f'{{"offerId":"{o}","rank":{i + 1}}}' for i, o in enumerate(offer_ids))
    return f'{{"data":{{"loanOffers":{{"userId":"{user}","offers":[{offers}]}}}}}}'.encode()


def test_one_acceptance_per_user_so_none_rightly_conflicts() -> None:
    """Accepting an offer withdraws the user's other offers: a second acceptance for the same
    user would be a correct CONFLICT that the harness would count as an error."""
    workload = Workload("127.0.0.1", 1, users=10)
    assert workload.check("loanOffers", answer("user-000001", "a1", "a2")) is None
    assert workload.check("loanOffers", answer("user-000001", "b1", "b2")) is None
    assert workload.check("loanOffers", answer("user-000002", "c1")) is None

    assert [o for o, _ in workload.unaccepted] == ["a1", "c1"]
    sent = [workload.accept_offer(random.Random(0))[0] for _ in range(2)]
    assert sent == ["acceptOffer", "acceptOffer"]
    assert not workload.unaccepted
    workload.check("loanOffers", answer("user-000001", "d1"))
    assert not workload.unaccepted  # user-000001 already had one accepted
    assert {o for o, _ in workload.seen_offers} == {"a1", "a2", "b1", "b2", "c1", "d1"}
