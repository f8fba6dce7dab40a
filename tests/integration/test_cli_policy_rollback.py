"""``loan-offers policy-rollback`` and ``policy-diff`` against a real (SQLite) database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.sql.migrate import upgrade_to_head
from config.cli import app
from config.container import build_container
from config.settings import Settings

runner = CliRunner()


def test_rollback_and_diff_by_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LOAN_OFFERS_DATABASE_URL", url)
    settings = Settings()
    upgrade_to_head(url)
    v1 = settings.policy_file.read_text()
    v2 = v1.replace("version = 1", "version = 2", 1).replace("max_offers = 5", "max_offers = 4")

    async def publish_both() -> None:
        container = build_container(settings)
        try:
            await container.bootstrap_policy().execute(v1)
            await container.publish_pricing_policy().execute(v2)
        finally:
            await container.engine().dispose()

    async def active_version() -> int:
        container = build_container(settings)
        try:
            return (await container.policy_source().active()).version
        finally:
            await container.engine().dispose()

    asyncio.run(publish_both())
    assert asyncio.run(active_version()) == 2
    diff = runner.invoke(app, ["policy-diff", "1", "2"])
    assert diff.exit_code == 0, diff.output
    assert "CHANGED  ranking.max_offers: 5 -> 4" in diff.output

    result = runner.invoke(app, ["policy-rollback", "1"])
    assert result.exit_code == 0, result.output
    assert "active policy version 1 (was 2)" in result.output
    assert asyncio.run(active_version()) == 1
    again = runner.invoke(app, ["policy-rollback", "1"])
    assert again.exit_code == 1 and "already active" in again.output
    assert runner.invoke(app, ["policy-rollback", "9"]).exit_code == 1
