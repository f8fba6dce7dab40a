"""The composition root: the only place that knows every concrete class.

Settings pick the adapters: SQLite or PostgreSQL by ``database_url``; in-process or Redis cache
and events by ``redis_url``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiocache import SimpleMemoryCache
from dependency_injector import containers, providers

from adapters.auth.jwks import JwksCache
from adapters.auth.jwt_verifier import (
    ChainedTokenVerifier,
    JwksTokenVerifier,
    SharedSecretTokenVerifier,
)
from adapters.auth.token_cache import CachingTokenVerifier
from adapters.auth.token_issuer import SigningKey, TokenIssuer, load_private_key
from adapters.cache.applicant_cache import AiocacheApplicantCache
from adapters.cache.combined_read import CombinedApplicantHistoryRead
from adapters.cache.history_cache import InProcessHistoryCache, RedisHistoryCache
from adapters.cache.invalidation_bus import RedisInvalidationBus
from adapters.events.in_process import InProcessEventBus
from adapters.events.redis_bus import RedisEventBus
from adapters.metrics.prometheus import (
    PrometheusCacheStats,
    PrometheusOfferMetrics,
)
from adapters.ratelimit.limits_limiter import LimitsRateLimiter
from adapters.redis_pool import redis_client
from adapters.sql.audit import SqlAuditTrail
from adapters.sql.challengers import SqlChallengerStore
from adapters.sql.database import create_engine, session_factory
from adapters.sql.migrate import is_up_to_date
from adapters.sql.policy_versions import SqlPolicyVersions
from adapters.sql.portfolio_sample import SqlPortfolioSample
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import SystemClock, UlidGenerator
from application.applicant_reader import ApplicantReader, HistoryReader
from application.challenger import PolicyRouter
from application.offer_set_writer import BatchingOfferSetWriter, UnitOfWorkOfferSetWriter
from application.policy_source import ActivePolicySource
from application.security import TokenVerifier
from application.use_cases.accept_offer import AcceptOffer
from application.use_cases.bootstrap_policy import BootstrapPolicy
from application.use_cases.challenger import ManageChallenger
from application.use_cases.decline_offer import DeclineOffer
from application.use_cases.expire_offers import ExpireOffers
from application.use_cases.find_applicants import FindApplicantsByContact
from application.use_cases.generate_offers import GenerateOffers
from application.use_cases.get_offer import GetOffer
from application.use_cases.get_pricing_policy import GetPricingPolicy
from application.use_cases.import_applicants import ImportApplicants
from application.use_cases.offer_history import GetApplicant, GetOfferHistory
from application.use_cases.policy_drafts import PolicyDiff, SavePolicyDraft
from application.use_cases.publish_pricing_policy import PublishPricingPolicy
from application.use_cases.purge_idempotency_keys import PurgeIdempotencyKeys
from application.use_cases.record_behavior_event import RecordBehaviorEvent
from application.use_cases.seed_applicants import SeedApplicants
from application.use_cases.simulate_policy import SimulatePolicy
from application.use_cases.upsert_applicant import UpsertApplicant
from config.expiry_sweeper import ExpirySweeper
from config.pii_keys import pii_protection
from config.redis_clients import redis_cache, shared_pool
from config.settings import Settings
from graphql_api.context import ApiLimits, ApiServices


def _engine(settings: Settings):
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        connect_timeout_s=settings.db_connect_timeout_s,
        ping_after_idle_s=settings.db_ping_after_idle_s,
    )


def _redis_cache(settings: Settings, pool: Any = None) -> Any:
    """The applicant cache's Redis level on the request path's shared pool
    (``config/redis_clients.py``)."""
    return redis_cache(settings, pool)


def _history_cache(settings: Settings, l2: Any, stats: Any
                   ) -> RedisHistoryCache | InProcessHistoryCache:
    """On the shared Redis level's client when there is one (entries must be seen by every
    process at once), else in this process."""
    if l2 is None:
        return InProcessHistoryCache(settings.cache_history_ttl_s)
    return RedisHistoryCache(l2.client, settings.cache_history_ttl_s,
                             retry_after=settings.cache_retry_after_s,
                             on_error=lambda operation, _exc: stats.error(operation))


def _event_bus(settings: Settings) -> InProcessEventBus | RedisEventBus:
    """Redis pub/sub when ``redis_url`` is set (events reach every replica), else in-process."""
    if settings.redis_url is None:
        return InProcessEventBus()
    return RedisEventBus(settings.redis_url, timeout_s=max(settings.cache_timeout_s, 1.0),
                         retry_after_s=settings.cache_retry_after_s,
                         queue_max=settings.event_queue_max)


def _hours(settings: Settings) -> timedelta:
    return timedelta(hours=settings.idempotency_retention_h)


def _limits(settings: Settings) -> ApiLimits:
    return ApiLimits(max_page_size=settings.max_page_size,
                     max_policy_source_bytes=settings.max_policy_source_bytes)


def _invalidation_bus(settings: Settings, pool: Any = None) -> RedisInvalidationBus | None:
    """Its own client for the subscription (it holds a connection and waits without a read
    timeout); publishes on the request path's pool, with its timeouts."""
    if settings.redis_url is None:
        return None
    from redis.asyncio import Redis

    client = redis_client(settings.redis_url, socket_connect_timeout=settings.cache_timeout_s,
                          health_check_interval=30)
    publisher = Redis(connection_pool=pool) if pool is not None else None
    return RedisInvalidationBus(client, retry_after=max(settings.cache_retry_after_s, 0.1),
                                publisher=publisher)


def _token_verifier(settings: Settings) -> TokenVerifier:
    """JWKS (RS256/ES256) always when configured; the HS256 shared secret in dev only; verified
    tokens remembered until their ``exp`` unless ``auth_token_cache_max`` is 0."""
    asymmetric = None
    jwks = None
    if settings.auth_jwks_url:
        jwks = JwksCache(settings.auth_jwks_url,
                         min_refresh_interval_s=settings.auth_jwks_min_refresh_s)
        asymmetric = JwksTokenVerifier(jwks, settings.auth_issuer, settings.auth_audience)
    secret = settings.shared_secret if settings.is_dev else None
    shared = (SharedSecretTokenVerifier(secret, settings.auth_issuer, settings.auth_audience)
              if secret else None)
    chained = ChainedTokenVerifier(asymmetric, shared)
    if settings.auth_token_cache_max == 0:
        return chained
    # A reloaded key set (rotation) re-verifies everything remembered under the old one.
    return CachingTokenVerifier(chained, settings.auth_token_cache_max,
                                key_set_version=(lambda: jwks.version) if jwks else lambda: 0)


def _rate_limiter(settings: Settings, pool: Any = None) -> LimitsRateLimiter | None:
    if not settings.rate_limits_enabled:
        return None
    return LimitsRateLimiter(settings.rate_limit_operations, settings.rate_limit_mutations,
                             settings.redis_url, timeout_s=settings.cache_timeout_s,
                             connection_pool=pool)


def token_issuer(settings: Settings) -> TokenIssuer:
    """Mints tokens with the configured signing key (PEM file), or the dev shared secret."""
    if settings.auth_signing_key_file is not None:
        key = load_private_key(settings.auth_signing_key_file, settings.auth_signing_key_id)
    elif settings.is_dev and settings.shared_secret:
        key = SigningKey(settings.shared_secret, "HS256", None)
    else:
        raise ValueError("no signing key configured: set LOAN_OFFERS_AUTH_SIGNING_KEY_FILE "
                         "(the prod profile never signs with a shared secret)")
    return TokenIssuer(key, settings.auth_issuer, settings.auth_audience)


def _readiness(engine, cache: AiocacheApplicantCache, timeout_s: float):
    """The ``/readyz`` report. Never raises and never waits longer than ``timeout_s``."""

    async def database() -> str:
        try:
            ok = await asyncio.wait_for(is_up_to_date(engine), timeout_s)
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # a probe reports, it does not raise
            return f"unreachable ({type(exc).__name__})"
        return "ok" if ok else "migrations pending"

    async def shared_cache() -> str:
        try:
            return await asyncio.wait_for(cache.health(), timeout_s)
        except TimeoutError:
            return "down"

    async def check() -> dict[str, Any]:
        db, redis = await asyncio.gather(database(), shared_cache())
        ready = db == "ok"
        status = "unavailable" if not ready else "degraded" if redis == "down" else "ready"
        report: dict[str, Any] = {"status": status, "ready": ready,
                                  "checks": {"database": db, "cache": redis}}
        if status == "degraded":
            report["degraded"] = ["cache: Redis is down; serving from the database"]
        return report

    return check


def _offer_set_writer(settings: Settings, uow_factory: SqlUnitOfWorkFactory, history, clock):
    if not settings.write_batching:
        return UnitOfWorkOfferSetWriter(uow_factory, history, clock)
    return BatchingOfferSetWriter(uow_factory, max_batch=settings.write_batch_max,
                                  max_in_flight=settings.write_batch_in_flight,
                                  history=history, clock=clock)


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    engine = providers.Singleton(_engine, settings)
    session_factory = providers.Singleton(session_factory, engine)
    pii = providers.Singleton(pii_protection, settings)
    uow_factory = providers.Singleton(SqlUnitOfWorkFactory, session_factory, pii=pii)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UlidGenerator)

    cache_stats = providers.Singleton(PrometheusCacheStats)
    # No timeout: a dict lookup cannot hang, and aiocache runs every operation that has one
    # through asyncio.wait_for (a task and a loop pass per get or set: ~5 us of 7.5).
    l1_cache = providers.Singleton(SimpleMemoryCache, namespace="l1", timeout=None)
    # One pool for the rate limiter and the caches (config/redis_clients.py).
    redis_pool = providers.Singleton(shared_pool, settings)
    l2_cache = providers.Singleton(_redis_cache, settings, redis_pool)
    invalidation_bus = providers.Singleton(_invalidation_bus, settings, redis_pool)
    history_cache = providers.Singleton(_history_cache, settings, l2_cache, cache_stats)
    applicant_cache = providers.Singleton(
        AiocacheApplicantCache, l1=l1_cache, l1_ttl=settings.provided.cache_l1_ttl_s,
        l2=l2_cache, l2_ttl=settings.provided.cache_ttl_s, stats=cache_stats,
        retry_after=settings.provided.cache_retry_after_s, bus=invalidation_bus,
        history=history_cache,
        cipher=pii.provided.cipher,
    )
    applicant_history_cache = providers.Singleton(CombinedApplicantHistoryRead, applicant_cache,
                                                  history_cache)
    events = providers.Singleton(_event_bus, settings)

    applicant_reader = providers.Singleton(ApplicantReader, uow_factory, applicant_cache)
    history_reader = providers.Singleton(HistoryReader, uow_factory, history_cache, clock)
    policy_source = providers.Singleton(ActivePolicySource, uow_factory, clock,
                                        settings.provided.policy_refresh_s)
    challenger_store = providers.Singleton(SqlChallengerStore, session_factory)
    policy_router = providers.Singleton(PolicyRouter, policy_source, challenger_store, uow_factory,
                                        clock, settings.provided.policy_refresh_s)
    challenger = providers.Singleton(ManageChallenger, challenger_store, policy_router, clock)
    save_policy_draft = providers.Singleton(SavePolicyDraft, uow_factory)
    policy_versions = providers.Singleton(SqlPolicyVersions, session_factory)
    policy_diff = providers.Singleton(PolicyDiff, policy_versions)

    bootstrap_policy = providers.Factory(BootstrapPolicy, uow_factory)
    seed_applicants = providers.Factory(SeedApplicants, uow_factory)
    offer_metrics = providers.Singleton(PrometheusOfferMetrics)
    offer_set_writer = providers.Singleton(_offer_set_writer, settings, uow_factory,
                                           history_cache, clock)
    generate_offers = providers.Singleton(GenerateOffers, uow_factory, applicant_reader,
                                          policy_source, events, clock, ids, history_reader,
                                          metrics=offer_metrics, router=policy_router,
                                          writer=offer_set_writer, both=applicant_history_cache)
    get_offer = providers.Singleton(GetOffer, uow_factory, clock)
    offer_history = providers.Singleton(GetOfferHistory, uow_factory, applicant_reader, clock,
                                        settings.provided.max_page_size)
    get_applicant = providers.Singleton(GetApplicant, applicant_reader, history_reader)
    upsert_applicant = providers.Singleton(UpsertApplicant, uow_factory, applicant_cache, clock)
    import_applicants = providers.Factory(ImportApplicants, uow_factory, applicant_cache, clock)
    find_applicants = providers.Singleton(FindApplicantsByContact, uow_factory)
    portfolio_sample = providers.Singleton(SqlPortfolioSample, session_factory, pii)
    simulate_policy = providers.Singleton(SimulatePolicy, portfolio_sample, policy_source, clock,
                                          settings.provided.simulation_max_sample,
                                          settings.provided.simulation_max_request_sample)

    accept_offer = providers.Singleton(AcceptOffer, uow_factory, events, clock, applicant_cache,
                                       offer_metrics)
    decline_offer = providers.Singleton(DeclineOffer, uow_factory, events, clock,
                                        applicant_cache, offer_metrics)
    record_behavior_event = providers.Singleton(RecordBehaviorEvent, uow_factory, applicant_cache,
                                                clock, ids)
    get_pricing_policy = providers.Singleton(GetPricingPolicy, uow_factory)
    publish_pricing_policy = providers.Singleton(PublishPricingPolicy, uow_factory, policy_source,
                                                 events, clock, ids, applicant_cache)
    expire_offers = providers.Singleton(ExpireOffers, uow_factory, events, clock,
                                        settings.provided.expiry_sweep_batch)
    purge_idempotency_keys = providers.Singleton(PurgeIdempotencyKeys, uow_factory, clock,
                                                 providers.Factory(_hours, settings))
    expiry_sweeper = providers.Singleton(ExpirySweeper, expire_offers,
                                         settings.provided.expiry_sweep_interval_s,
                                         purge_idempotency_keys)

    readiness = providers.Singleton(_readiness, engine, applicant_cache,
                                    settings.provided.readiness_timeout_s)
    api_limits = providers.Singleton(_limits, settings)
    token_verifier = providers.Singleton(_token_verifier, settings)
    rate_limiter = providers.Singleton(_rate_limiter, settings, redis_pool)
    audit_trail = providers.Singleton(SqlAuditTrail, session_factory)
    api_services = providers.Singleton(
        ApiServices, generate_offers=generate_offers, get_offer=get_offer, subscriber=events,
        readiness=readiness, offer_history=offer_history, get_applicant=get_applicant,
        upsert_applicant=upsert_applicant, accept_offer=accept_offer,
        decline_offer=decline_offer, record_behavior_event=record_behavior_event,
        get_pricing_policy=get_pricing_policy, publish_pricing_policy=publish_pricing_policy,
        limits=api_limits, simulate_policy=simulate_policy, challenger=challenger,
        save_policy_draft=save_policy_draft, policy_versions=policy_versions,
        policy_diff=policy_diff, token_verifier=token_verifier,
        rate_limiter=rate_limiter, audit_trail=audit_trail)


async def shutdown(container: Container) -> None:
    """Release what the container opened: the database pool and the Redis connections."""
    await container.applicant_cache().stop()
    l2 = container.l2_cache()
    if l2 is not None:
        await l2.close()
    pool = container.redis_pool()
    if pool is not None:  # shared with the rate limiter: closed once both are done
        await pool.aclose()
    await container.engine().dispose()


def build_container(settings: Settings | None = None) -> Container:
    container = Container(settings=settings or Settings())
    return container
