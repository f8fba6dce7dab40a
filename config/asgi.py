"""ASGI entry point: ``uvicorn config.asgi:create_app --factory`` (what ``loan-offers serve`` runs)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from adapters.events.redis_bus import RedisEventBus
from adapters.metrics.prometheus import instrument_pool
from config.container import Container, build_container, shutdown
from config.graceful_drain import GracefulDrain, uvicorn_server
from config.heap import THRESHOLDS, tune_collector
from config.logging import configure_logging
from config.redis_clients import warm_pool
from config.settings import Settings
from graphql_api.app import ApiOptions
from graphql_api.app import create_app as create_api
from graphql_api.schema import SchemaOptions
from graphql_api.secure_headers import TransportSecurity

log = logging.getLogger("loan_offers")


def api_options(settings: Settings) -> ApiOptions:
    return ApiOptions(
        graphiql=settings.graphiql_enabled,
        instance_id=settings.instance_id,
        allowed_origins=settings.ws_allowed_origin_list,
        max_subscriptions_per_connection=settings.ws_max_subscriptions,
        connection_init_timeout_s=settings.ws_connection_init_timeout_s,
        dev_anonymous=settings.dev_anonymous_enabled,
        schema=SchemaOptions(
            introspection=settings.introspection_enabled,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            tracing=settings.tracing_enabled,
            persisted_queries=settings.persisted_queries,
            max_directives=settings.max_directives,
        ),
        metrics=settings.metrics_enabled,
        read_attempts=settings.read_retry_attempts,
        max_body_bytes=settings.max_body_bytes,
        max_in_flight=settings.max_in_flight,
        transport=TransportSecurity(
            hsts_max_age_s=settings.hsts_max_age_s,
            hsts_include_subdomains=settings.hsts_include_subdomains,
            behind_tls_proxy=settings.behind_tls_proxy,
            cors_allowed_origins=settings.cors_allowed_origin_list,
            cors_max_age_s=settings.cors_max_age_s,
        ),
    )


def plain_http_warning(settings: Settings) -> str | None:
    """The prod profile serving plain HTTP with no TLS proxy declared in front: tokens and
    personal data would cross the network in clear unless something else (a service mesh)
    encrypts it, so it is said at start-up rather than refused."""
    if settings.is_dev or settings.ssl_certfile is not None or settings.behind_tls_proxy:
        return None
    return ("PROD PROFILE over plain HTTP: serve TLS (loan-offers serve --ssl-certfile/"
            "--ssl-keyfile) or, behind a TLS-terminating proxy, set "
            "LOAN_OFFERS_BEHIND_TLS_PROXY=true (it also turns HSTS on)")


def create_app(settings: Settings | None = None, container: Container | None = None,
               tracer_provider: Any = None) -> Starlette:
    """``tracer_provider`` overrides the one built from settings (tests pass an in-memory one)."""
    container = container or build_container(settings)
    settings = container.settings()
    configure_logging(settings.log_level, settings.log_format)
    settings.check_security()
    container.pii()  # unreadable or malformed PII keys stop the start, not the first request
    if (warning := plain_http_warning(settings)) is not None:
        log.warning(warning)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if settings.is_dev:
            log.warning("DEVELOPMENT PROFILE: GraphiQL, introspection and field suggestions are ON. "
                        "Set LOAN_OFFERS_PROFILE=prod for a deployment.")
            if settings.dev_anonymous_enabled:
                log.warning("DEVELOPMENT PROFILE: requests without a bearer token run as an "
                            "anonymous staff principal (LOAN_OFFERS_AUTH_DEV_ANONYMOUS=false "
                            "turns this off).")
        await container.bootstrap_policy().execute(settings.policy_file.read_text())
        # Connections open before the first request: a busy loop would time their connects out
        # (and the rate limiter would count in memory for seconds).
        await warm_pool(container.redis_pool(), settings)
        events = container.events()
        if isinstance(events, RedisEventBus):
            await events.start()
            if not await events.wait_until_listening(timeout_s=5.0):
                log.warning("Redis event listener not connected yet; subscribers on this "
                            "process miss other replicas' events until it is")
        sweeper = container.expiry_sweeper()
        await sweeper.start()
        await container.applicant_cache().start()  # other processes' invalidations
        server = uvicorn_server()  # None for a test's in-process app
        drain = GracefulDrain(settings.shutdown_drain_s)
        drain.install(server)  # SIGTERM drains keep-alive connections first
        if server is not None:
            frozen = tune_collector()  # last: everything start-up made is frozen
            log.info("garbage collector tuned: %d start-up objects frozen, thresholds %s",
                     frozen, THRESHOLDS)
        try:
            yield
        finally:
            await drain.stop()
            await sweeper.stop()
            if isinstance(events, RedisEventBus):
                await events.stop()
            await shutdown(container)  # the database pool and the Redis connections

    app = create_api(container.api_services(), api_options(settings), lifespan=lifespan)
    app.state.container = container
    engine = container.engine()
    instrument_pool(engine, settings.db_pool_size + settings.db_max_overflow)
    if settings.tracing_enabled or tracer_provider is not None:
        from config.tracing import instrument
        from config.tracing import tracer_provider as build_provider

        provider = tracer_provider or build_provider(settings.tracing_service_name,
                                                     settings.tracing_exporter)
        instrument(app, engine, provider)
    return app
