"""OpenTelemetry: off by default; switched on, one request yields HTTP, GraphQL and SQL spans."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config.asgi import create_app
from config.settings import Settings


def test_tracing_is_off_by_default() -> None:
    assert Settings().tracing_enabled is False


async def test_enabled_tracing_produces_http_graphql_and_sql_spans(app_env: dict) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(database_url=app_env["settings"].database_url, tracing_enabled=True)
    app = create_app(settings, tracer_provider=provider)
    query = '{ loanOffers(request: {userId: "user-000011"}) { decision offers { roi } } }'
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            response = await client.post(
                "/graphql", json={"query": query},
                headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
            assert response.status_code == 200 and "errors" not in response.json()
    finally:
        await app.state.container.engine().dispose()
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert any(name.startswith("POST /graphql") for name in names), names
    assert any(name.startswith("GraphQL") for name in names), names
    sql = [s for s in spans if (s.attributes or {}).get("db.system") == "sqlite"
           or "db.statement" in (s.attributes or {})]
    assert sql, names
    # The caller's trace continues: every span belongs to the incoming trace id.
    assert {format(s.context.trace_id, "032x") for s in spans} == {
        "0af7651916cd43dd8448eb211c80319c"}
