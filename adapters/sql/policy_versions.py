"""The ``PolicyVersions`` port: stored policy versions and their TOML (read-only)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.tables import PricingPolicyRow
from application.ports import PolicyVersionInfo


class SqlPolicyVersions:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def list(self) -> Sequence[PolicyVersionInfo]:
        async with self._session_factory() as session:
            rows = (await session.exec(select(
                PricingPolicyRow.version, PricingPolicyRow.name, PricingPolicyRow.active,
                PricingPolicyRow.published_at).order_by(col(PricingPolicyRow.version)))).all()
        return [PolicyVersionInfo(v, n, bool(a), p) for v, n, a, p in rows]

    async def source(self, version: int) -> str | None:
        async with self._session_factory() as session:
            return (await session.exec(select(PricingPolicyRow.source_toml).where(
                PricingPolicyRow.version == version))).first()
