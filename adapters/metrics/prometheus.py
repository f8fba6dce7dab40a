"""Prometheus adapters for the ``OfferMetrics`` port, the applicant cache and the database pool.

Naming follows Prometheus conventions: the ``loan_offers_`` namespace, base units in the name
(``_percent``, ``_ratio``), ``_total`` on counters. Labels hold bounded sets only (decision, risk
band, fallback, cache level, pool state): never a user or offer id.

Metric objects live at module level on the default registry, so they are created once per
process. With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (see README
"Monitoring"): every metric here is then written to that directory and summed at scrape time;
gauges use ``livesum`` so a dead worker's values disappear.
"""

from __future__ import annotations

import collections
import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.cache.applicant_cache import CacheStats
from adapters.metrics.recording import observe_all
from domain.offers import LoanOffer, OfferSet

ROI_BUCKETS = (10.5, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 33, 36, 40)
CONVERSION_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)

DECISIONS = Counter(
    "loan_offers_decisions_total", "Offer decisions made, by decision and risk band.",
    ["decision", "risk_band"])
OFFERS_GENERATED = Counter(
    "loan_offers_offers_generated_total", "Offers generated and persisted, by decision and risk band.",
    ["decision", "risk_band"])
OFFER_ROI = Histogram(
    "loan_offers_offer_roi_percent", "Interest rate of generated offers, percent a year.",
    ["risk_band"], buckets=ROI_BUCKETS)
OFFER_APR = Histogram(
    "loan_offers_offer_apr_percent", "APR (RBI KFS) of generated offers, percent a year.",
    ["risk_band"], buckets=ROI_BUCKETS)
OFFER_CONVERSION = Histogram(
    "loan_offers_offer_predicted_conversion_ratio",
    "Predicted probability that a generated offer is accepted.", ["risk_band"],
    buckets=CONVERSION_BUCKETS)
OFFERS_ACCEPTED = Counter(
    "loan_offers_offers_accepted_total", "Offers accepted by customers.")
ACCEPTED_ROI = Histogram(
    "loan_offers_accepted_offer_roi_percent", "Interest rate of accepted offers, percent a year.",
    buckets=ROI_BUCKETS)
FALLBACKS = Counter(
    "loan_offers_offer_fallbacks_total",
    "Offers that needed a fallback (reduced amount, other tenure), by fallback.", ["fallback"])
# Per policy version: a champion/challenger experiment's arms are its two versions
# (Query.challengerFigures names which is which). Versions are few: the label stays bounded.
POLICY_ANSWERS = Counter(
    "loan_offers_policy_answers_total",
    "Offer decisions by the policy version that priced them, and decision.",
    ["policy_version", "decision"])
POLICY_EXPECTED_PROFIT = Counter(
    "loan_offers_policy_expected_profit_inr_total",
    "Sum over answers of the rank-1 offer's conversion probability x expected NPV (INR), by "
    "policy version.", ["policy_version"])
POLICY_ACCEPTANCES = Counter(
    "loan_offers_policy_acceptances_total", "Offers accepted, by the policy version that priced "
    "them.", ["policy_version"])

CACHE_REQUESTS = Counter(
    "loan_offers_cache_requests_total", "Applicant cache look-ups by level and result.",
    ["level", "result"])
CACHE_ERRORS = Counter(
    "loan_offers_cache_errors_total",
    "Cache operations that failed (served from the database instead), by operation.",
    ["operation"])
CACHE_SKIPPED = Counter(
    "loan_offers_cache_skipped_total",
    "Redis operations skipped because Redis failed moments ago (the cache's circuit breaker).")

POOL_IN_USE = Gauge(
    "loan_offers_db_pool_connections_in_use", "Database connections checked out of the pool.",
    multiprocess_mode="livesum")
POOL_OPEN = Gauge(
    "loan_offers_db_pool_connections_open", "Database connections open (idle and in use).",
    multiprocess_mode="livesum")
POOL_CAPACITY = Gauge(
    "loan_offers_db_pool_capacity_connections",
    "Most connections the pool may open (pool size plus overflow).", multiprocess_mode="livesum")
POOL_INVALIDATED = Counter(
    "loan_offers_db_pool_invalidated_total",
    "Pooled connections found broken and replaced (database restart, network fault).")


class PrometheusOfferMetrics:
    """The ``OfferMetrics`` port on prometheus-client (in-memory counters: never blocks).

    Children are looked up once per set of label values (``labels`` validates, stringifies and
    locks on every call) and an answer's offers are observed per histogram in one pass
    (:mod:`adapters.metrics.recording`): with several workers every write takes a lock and a
    fork check, and this runs on every ``loanOffers`` answer."""

    def __init__(self) -> None:
        self._decisions = functools.cache(DECISIONS.labels)
        self._generated = functools.cache(OFFERS_GENERATED.labels)
        self._roi = functools.cache(OFFER_ROI.labels)
        self._apr = functools.cache(OFFER_APR.labels)
        self._conversion = functools.cache(OFFER_CONVERSION.labels)
        self._fallbacks = functools.cache(FALLBACKS.labels)
        self._policy_answers = functools.cache(POLICY_ANSWERS.labels)
        self._expected_profit = functools.cache(POLICY_EXPECTED_PROFIT.labels)

    def offers_generated(self, offer_set: OfferSet) -> None:
        decision, band = offer_set.decision.value, offer_set.risk.risk_band or "NONE"
        self._decisions(decision, band).inc()
        version = str(offer_set.policy_version)
        self._policy_answers(version, decision).inc()
        offers = offer_set.offers
        if not offers:
            return
        best = offers[0]
        self._expected_profit(version).inc(
            max(0.0, best.conversion_probability * float(best.expected_profit)))
        self._generated(decision, band).inc(len(offers))
        observe_all(self._roi(band), [float(offer.roi) for offer in offers])
        observe_all(self._apr(band), [float(offer.apr) for offer in offers])
        observe_all(self._conversion(band), [offer.conversion_probability for offer in offers])
        fallbacks = collections.Counter(offer.explanation.fallback_applied for offer in offers
                                        if offer.explanation.fallback_applied)
        for fallback, count in fallbacks.items():
            self._fallbacks(fallback).inc(count)

    def offer_accepted(self, offer: LoanOffer) -> None:
        OFFERS_ACCEPTED.inc()
        POLICY_ACCEPTANCES.labels(str(offer.policy_version)).inc()
        ACCEPTED_ROI.observe(float(offer.roi))


_cache_requests = functools.cache(CACHE_REQUESTS.labels)  # levels and results: a few values


class PrometheusCacheStats(CacheStats):
    """Cache statistics that are also Prometheus counters."""

    def hit(self, level: str) -> None:
        super().hit(level)
        _cache_requests(level, "hit").inc()

    def miss(self) -> None:
        super().miss()
        _cache_requests("all", "miss").inc()

    def error(self, operation: str) -> None:
        super().error(operation)
        CACHE_ERRORS.labels(operation).inc()

    def skip(self) -> None:
        super().skip()
        CACHE_SKIPPED.inc()


def instrument_pool(engine: AsyncEngine, capacity: int) -> None:
    """Follow the pool through SQLAlchemy's pool events (exact, and multiprocess-safe, unlike
    reading ``pool.status()`` at scrape time in one worker)."""
    POOL_CAPACITY.set(capacity)
    target = engine.sync_engine  # engine-level pool events survive ``dispose()``

    def on_connect(*_: Any) -> None:
        POOL_OPEN.inc()

    def on_close(*_: Any) -> None:
        POOL_OPEN.dec()

    def on_checkout(*_: Any) -> None:
        POOL_IN_USE.inc()

    def on_checkin(*_: Any) -> None:
        POOL_IN_USE.dec()

    def on_invalidate(*_: Any) -> None:
        POOL_INVALIDATED.inc()

    event.listen(target, "connect", on_connect)
    event.listen(target, "close", on_close)
    event.listen(target, "close_detached", on_close)
    event.listen(target, "checkout", on_checkout)
    event.listen(target, "checkin", on_checkin)
    event.listen(target, "invalidate", on_invalidate)
