"""OpenTelemetry tracing, off unless ``LOAN_OFFERS_TRACING_ENABLED=true``.

When on: spans for every HTTP request (Starlette), every GraphQL operation and resolver
(Strawberry), every SQL statement (SQLAlchemy) and every Redis command (redis-py), exported in
batches over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard variable; default
``http://localhost:4318``), or printed with ``LOAN_OFFERS_TRACING_EXPORTER=console``. The
service name is ``LOAN_OFFERS_TRACING_SERVICE_NAME``. The W3C ``traceparent`` header of an
incoming request continues the caller's trace.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette


def tracer_provider(service_name: str, exporter: str = "otlp") -> TracerProvider:
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


def instrument(app: Starlette, engine: AsyncEngine, provider: TracerProvider) -> None:
    """Instrument the app, the engine and redis-py with ``provider``; it also becomes the global
    provider (Strawberry's extension uses the global one), unless one is already set."""
    # Probes and scrapes are not worth a trace; read when the module is first imported.
    os.environ.setdefault("OTEL_PYTHON_STARLETTE_EXCLUDED_URLS", "livez,readyz,metrics")
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    StarletteInstrumentor.instrument_app(app, tracer_provider=provider)
    # The instrumentation declares support up to SQLAlchemy 2.0; its engine events are unchanged
    # in 2.1 (the test proves the spans appear), so skip its version check.
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=provider,
                                        skip_dep_check=True)
    redis = RedisInstrumentor()
    if not redis.is_instrumented_by_opentelemetry:
        redis.instrument(tracer_provider=provider, skip_dep_check=True)
