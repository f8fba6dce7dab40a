"""Champion/challenger end to end, on its own database: a stored draft is started as a
challenger; it gets its share of users within binomial tolerance, its offers carry its version,
and challengerFigures counts each arm."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.demo.portfolio import generate_applicants, user_id_for
from adapters.sql.migrate import upgrade_to_head
from config.asgi import create_app
from config.container import build_container
from config.settings import Settings
from domain.policy.challenger import Arm, arm_for
from tests.e2e.conftest import gql

USERS = 400
SHARE = 0.4
Z = 5.0   # binomial tolerance: a false alarm less than once in a million runs

SAVE = """mutation Save($draft: String!) { savePolicyDraft(draft: $draft) { version name } }"""
START = """mutation Start($v: Int!, $share: Float!) {
  startChallenger(policyVersion: $v, share: $share) {
    experimentId challengerVersion championVersion share running } }"""
STOP = """mutation { stopChallenger { experimentId running endedAt } }"""
FIGURES = """{ challengerFigures { experiment { experimentId challengerVersion running share }
  arms { arm policyVersion answers offers acceptances expectedProfit } } }"""
OFFER_VERSIONS = """query O($u: ID!) { loanOffers(request: {userId: $u}) { decision policyVersion
  offers { offerId } } }"""
VALIDATE = """query V($d: String!) { validatePolicy(draft: $d) { valid version problems { path } } }"""


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict]:
    db = Path(tmp_path_factory.mktemp("challenger")) / "c.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{db}", profile="dev")
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    container = build_container(settings)
    await container.bootstrap_policy().execute(settings.policy_file.read_text())
    await container.seed_applicants().execute(generate_applicants(USERS))
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield {"client": client, "settings": settings, "container": container}
    await container.engine().dispose()


def draft_toml(settings: Settings, version: int) -> str:
    return (settings.policy_file.read_text().replace("version = 1", f"version = {version}", 1)
            .replace("cost_of_funds = 0.080", "cost_of_funds = 0.070"))


async def test_challenger_share_versions_and_figures(env: dict) -> None:
    client, settings = env["client"], env["settings"]
    body = await gql(client, SAVE, draft=draft_toml(settings, 2))
    assert body["data"]["savePolicyDraft"] == {"version": 2, "name": "default-unsecured-pl"}

    body = await gql(client, START, v=2, share=SHARE)
    experiment = body["data"]["startChallenger"]
    assert experiment["challengerVersion"] == 2 and experiment["championVersion"] == 1
    assert experiment["running"] and experiment["share"] == SHARE
    salt = f"challenger-{experiment['experimentId']}"
    try:
        versions: Counter[int] = Counter()
        answers: Counter[int] = Counter()
        for i in range(1, USERS + 1):
            user = user_id_for(i)
            result = (await gql(client, OFFER_VERSIONS, u=user))["data"]["loanOffers"]
            expected = 2 if arm_for(user, round(SHARE * 10_000), salt) is Arm.CHALLENGER else 1
            assert result["policyVersion"] == expected, user   # the stable hash decides
            versions[result["policyVersion"]] += 1
            if result["offers"]:
                answers[result["policyVersion"]] += 1
        share = versions[2] / USERS
        assert abs(share - SHARE) <= Z * math.sqrt(SHARE * (1 - SHARE) / USERS)

        metrics = (await client.get("/metrics")).text
        for version in (1, 2):   # per-arm metrics: counters by policy version (process-wide)
            line = next(m for m in metrics.splitlines() if m.startswith(
                "loan_offers_policy_answers_total{") and f'policy_version="{version}"' in m
                and 'decision="APPROVED"' in m)
            assert float(line.rsplit(" ", 1)[1]) >= answers[version]
        assert 'loan_offers_policy_expected_profit_inr_total{policy_version="2"}' in metrics

        figures = (await gql(client, FIGURES))["data"]["challengerFigures"]
        assert figures["experiment"]["running"]
        arms = {a["policyVersion"]: a for a in figures["arms"]}
        assert arms[2]["arm"] == "CHALLENGER" and arms[1]["arm"] == "CHAMPION"
        for version in (1, 2):
            assert arms[version]["answers"] == answers[version]
            assert arms[version]["acceptances"] == 0
            assert arms[version]["expectedProfit"] > 0
    finally:
        stopped = (await gql(client, STOP))["data"]["stopChallenger"]
    assert not stopped["running"] and stopped["endedAt"]
    # Everyone is back on the champion.
    for i in (1, 2, 3, 4, 5, 6, 7, 8):
        result = (await gql(client, OFFER_VERSIONS, u=user_id_for(i)))["data"]["loanOffers"]
        assert result["policyVersion"] == 1


async def test_refusals_are_typed(env: dict) -> None:
    client, settings = env["client"], env["settings"]
    assert (await gql(client, START, v=77, share=0.5))["errors"][0]["extensions"]["code"] \
        == "NOT_FOUND"
    assert (await gql(client, START, v=1, share=0.5))["errors"][0]["extensions"]["code"] \
        == "CONFLICT"   # the active policy cannot challenge itself
    body = await gql(client, START, v=1, share=1.5)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await gql(client, STOP))["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # A second draft with a stored version number is a conflict; a bad one names its problems.
    body = await gql(client, SAVE, draft=settings.policy_file.read_text())
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    bad = settings.policy_file.read_text().replace("max_offers = 5", "max_offers = 0")
    body = await gql(client, SAVE, draft=bad.replace("version = 1", "version = 5", 1))
    assert body["errors"][0]["extensions"]["problems"][0]["path"] == "ranking.max_offers"
    body = await gql(client, VALIDATE, d=bad)
    assert body["data"]["validatePolicy"]["valid"] is False
    assert body["data"]["validatePolicy"]["problems"] == [{"path": "ranking.max_offers"}]


async def test_policy_versions_and_diff(env: dict) -> None:
    client = env["client"]
    body = await gql(client, "{ policyVersions { version name active } }")
    versions = {v["version"]: v for v in body["data"]["policyVersions"]}
    assert versions[1]["active"] and not versions[2]["active"]   # the draft stays inactive
    body = await gql(client, """{ policyDiff(fromVersion: 1, toVersion: 2) {
      path kind before after } }""")
    assert body["data"]["policyDiff"] == [
        {"path": "version", "kind": "CHANGED", "before": "1", "after": "2"},
        {"path": "economics.cost_of_funds", "kind": "CHANGED", "before": "0.08",
         "after": "0.07"},
    ]
    body = await gql(client, "{ policyDiff(fromVersion: 1, toVersion: 42) { path } }")
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
