"""deploy/monitoring: the alert rules and the dashboard are valid and name only real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import gql
from tests.servers import unavailable

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = MONITORING / "prometheus" / "alerts.yml"
DASHBOARD = MONITORING / "grafana" / "loan-offers.json"
METRIC = re.compile(r"\bloan_offers_[a-z0-9_]+\b")
RECORDED = re.compile(r"\bloan_offers:[a-z0-9_:]+\b")


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        unavailable("promtool not installed (apt-get install --no-install-recommends prometheus)")
    result = subprocess.run([binary, *args], cwd=MONITORING / "prometheus", capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rule_expressions() -> tuple[list[str], set[str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return [rule["expr"] for rule in rules], {rule["record"] for rule in rules if "record" in rule}


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_promtool_accepts_rules_and_config() -> None:
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")


def test_alerts_fire_as_their_unit_tests_expect() -> None:
    """Burn-rate, error-rate, latency and instance alerts against synthetic series."""
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_the_slo_alerts_cover_both_burn_windows() -> None:
    alerts = {rule["alert"]: rule for group in yaml.safe_load(RULES.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    fast = alerts["LoanOffersErrorBudgetBurnFast"]["expr"]
    assert "ratio_rate1h > (14.4 * 0.001)" in fast and "ratio_rate5m > (14.4 * 0.001)" in fast
    assert {"LoanOffersHighErrorRate", "LoanOffersP99LatencyHigh"} <= alerts.keys()


async def exported_names(client: httpx.AsyncClient) -> set[str]:
    await gql(client, '{ loanOffers(request: {userId: "user-000003"}) { decision } }')
    names = set()
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


@pytest.mark.parametrize("source", ["rules", "dashboard"])
async def test_every_metric_named_is_exported(client: httpx.AsyncClient, source: str) -> None:
    exported = await exported_names(client)
    expressions = rule_expressions()[0] if source == "rules" else dashboard_expressions()
    named = {m for expr in expressions for m in METRIC.findall(expr)}
    assert named, "no metric found: the pattern is wrong"
    assert named <= exported, sorted(named - exported)
    recorded = {m for expr in expressions for m in RECORDED.findall(expr)}
    assert recorded <= rule_expressions()[1], sorted(recorded - rule_expressions()[1])
