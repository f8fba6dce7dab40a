"""With several uvicorn workers, /metrics sums every worker, whichever one answers the scrape."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.servers import UvicornServer, run_cli

REQUESTS = 40


def total(metrics_text: str, prefix: str, contains: str = "") -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
               if line.startswith(prefix) and contains in line)


def graphql_requests(metrics_text: str) -> float:
    return total(metrics_text, "loan_offers_http_requests_total{", 'route="/graphql"')


@pytest.mark.slow
def test_metrics_are_summed_over_workers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"LOAN_OFFERS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'mp.db'}",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    run_cli(env, "migrate")
    run_cli(env, "seed", "--count", "20")
    server = UvicornServer(env, workers=2)
    try:
        server.start()
        for n in range(REQUESTS):
            # A new connection each time, so the kernel spreads them over both workers.
            response = httpx.post(f"{server.url}/graphql", timeout=30, json={
                "query": f'{{ loanOffers(request: {{userId: "user-{n % 20 + 1:06d}"}}) '
                         "{ decision } }"})
            assert response.status_code == 200 and "errors" not in response.json()
        texts = [httpx.get(f"{server.url}/metrics", timeout=10).text for _ in range(6)]
        scrapes = [graphql_requests(text) for text in texts]
        pids = {m.group(1) for f in metrics_dir.glob("*.db")
                if (m := re.search(r"_(\d+)\.db$", f.name))}
    finally:
        server.close()
    assert scrapes == [REQUESTS] * len(scrapes)
    # The business metrics (several observations written at once per answer) sum up as well.
    for text in texts:
        assert total(text, "loan_offers_decisions_total{") == REQUESTS
        offers = total(text, "loan_offers_offers_generated_total{")
        assert offers >= REQUESTS
        assert total(text, "loan_offers_offer_roi_percent_count{") == offers
        assert total(text, "loan_offers_offer_apr_percent_bucket{", 'le="+Inf"') == offers
        assert total(text, "loan_offers_graphql_operations_total{") == REQUESTS
    assert len(pids) >= 2, "only one worker wrote metrics: the test proves nothing"
