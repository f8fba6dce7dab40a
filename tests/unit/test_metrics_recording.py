"""Business metrics written in one pass per answer (adapters/metrics/recording.py): what /metrics
shows is what observing every offer one by one showed."""

from __future__ import annotations

import collections
import math

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from adapters.metrics.prometheus import CONVERSION_BUCKETS, ROI_BUCKETS, PrometheusOfferMetrics
from adapters.metrics.recording import _batchable, observe_all
from benchmarks.graphql_bench import price_offer_sets
from domain.offers import OfferSet


def histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("h", "h", ["band"], buckets=(1.0, 2.5, 5.0), registry=registry)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples}


@pytest.mark.parametrize("amounts", [
    [], [3.0], [0.5, 1.0, 1.0, 2.5, 2.6, 5.0, 7.0, float("inf")], [9.0, 9.5, 10.0],
    [1.0, float("nan"), 4.0], [-1.0, 0.0, 1e-300],
], ids=["none", "one", "bounds-and-inf", "overflow", "nan", "small"])
def test_observe_all_writes_what_observing_one_by_one_writes(amounts: list[float]) -> None:
    one_by_one, batched = CollectorRegistry(), CollectorRegistry()
    reference = histogram(one_by_one).labels("A")
    for amount in amounts:
        reference.observe(amount)
    child = histogram(batched).labels("A")
    assert _batchable(child)  # prometheus-client's internals as recording.py expects them
    observe_all(child, amounts)
    expected, got = samples(one_by_one), samples(batched)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        if key[0] == "h_sum":
            assert got[key] == pytest.approx(value, nan_ok=True)
        else:  # buckets and count: exact
            assert got[key] == value, key


def bucket_of(value: float, bounds: tuple[float, ...]) -> str:
    bound = next((b for b in bounds if value <= b), math.inf)
    return "+Inf" if bound == math.inf else str(float(bound))


def test_offers_generated_counts_every_offer_of_every_answer() -> None:
    sets: list[OfferSet] = list(price_offer_sets(users=40).values())
    assert any(s.offers for s in sets) and any(not s.offers for s in sets)
    assert any(o.explanation.fallback_applied for s in sets for o in s.offers)
    before = samples(REGISTRY)
    metrics = PrometheusOfferMetrics()
    for offer_set in sets:
        metrics.offers_generated(offer_set)
    after = samples(REGISTRY)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    decisions = collections.Counter((s.decision.value, s.risk.risk_band or "NONE") for s in sets)
    for (decision, band), count in decisions.items():
        assert moved("loan_offers_decisions_total", decision=decision, risk_band=band) == count
    offers = [(s.risk.risk_band or "NONE", o) for s in sets for o in s.offers]
    roi_buckets = collections.Counter((band, bucket_of(float(o.roi), ROI_BUCKETS))
                                      for band, o in offers)
    conversion_buckets = collections.Counter(
        (band, bucket_of(o.conversion_probability, CONVERSION_BUCKETS)) for band, o in offers)
    for band in {band for band, _ in offers}:
        mine = [o for b, o in offers if b == band]
        assert moved("loan_offers_offer_roi_percent_count", risk_band=band) == len(mine)
        assert moved("loan_offers_offer_apr_percent_count", risk_band=band) == len(mine)
        assert moved("loan_offers_offer_roi_percent_sum", risk_band=band) == pytest.approx(
            sum(float(o.roi) for o in mine))
        for name, counts, bounds in (
                ("loan_offers_offer_roi_percent_bucket", roi_buckets, ROI_BUCKETS),
                ("loan_offers_offer_predicted_conversion_ratio_bucket", conversion_buckets,
                 CONVERSION_BUCKETS)):
            cumulative = 0
            for bound in (*bounds, math.inf):
                le = "+Inf" if bound == math.inf else str(float(bound))
                cumulative += counts.get((band, le), 0)
                assert moved(name, risk_band=band, le=le) == cumulative, (name, band, le)
    fallbacks = collections.Counter(o.explanation.fallback_applied for _, o in offers
                                    if o.explanation.fallback_applied)
    for fallback, count in fallbacks.items():
        assert moved("loan_offers_offer_fallbacks_total", fallback=fallback) == count
