"""The ``ChallengerStore`` port on the ``policy_challengers`` table (own short transactions)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import case, func, insert, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.errors import as_unavailable, is_unavailable
from adapters.sql.tables import OfferRow, PolicyChallengerRow, PricingPolicyRow
from application.errors import ApplicationError, Conflict, NotFound
from application.ports import ArmFigures, ChallengerConfig
from domain.offers import OfferStatus

_C = PolicyChallengerRow.__table__.c  # type: ignore[attr-defined]
_O = OfferRow.__table__.c  # type: ignore[attr-defined]


def _config(row: PolicyChallengerRow) -> ChallengerConfig:
    return ChallengerConfig(row.experiment_id, row.challenger_version, row.champion_version,
                            row.share_bps, row.started_at, row.ended_at)


class SqlChallengerStore:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session whose database outages surface as ``Unavailable`` (like the unit of
        work's): the router reads the running experiment on every ``loanOffers``."""
        try:
            async with self._session_factory() as session:
                yield session
        except ApplicationError:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise as_unavailable(exc) from exc
            raise

    async def running(self) -> ChallengerConfig | None:
        async with self._session() as session:
            row = (await session.exec(select(PolicyChallengerRow).where(
                col(PolicyChallengerRow.running) == true()))).first()
            return None if row is None else _config(row)

    async def latest(self) -> ChallengerConfig | None:
        async with self._session() as session:
            row = (await session.exec(select(PolicyChallengerRow).order_by(
                col(PolicyChallengerRow.running).desc(),
                col(PolicyChallengerRow.experiment_id).desc()))).first()
            return None if row is None else _config(row)

    async def start(self, challenger_version: int, share_bps: int, now: datetime
                    ) -> ChallengerConfig:
        async with self._session() as session:
            stored = (await session.exec(select(PricingPolicyRow.version, PricingPolicyRow.active)
                                         .where(PricingPolicyRow.version == challenger_version))
                      ).first()
            if stored is None:
                raise NotFound(f"policy version {challenger_version} is not stored",
                               version=challenger_version)
            if stored.active:
                raise Conflict(f"policy version {challenger_version} is the active policy: "
                               "a challenger must be another version", version=challenger_version)
            champion = (await session.exec(select(PricingPolicyRow.version).where(
                col(PricingPolicyRow.active) == true()))).first()
            if (await session.exec(select(PolicyChallengerRow.experiment_id).where(
                    col(PolicyChallengerRow.running) == true()))).first() is not None:
                raise Conflict("a challenger experiment is already running: stop it first")
            try:
                result = await session.exec(insert(PolicyChallengerRow.__table__).values(  # type: ignore[attr-defined]
                    challenger_version=challenger_version, champion_version=champion or 0,
                    share_bps=share_bps, running=True, started_at=now, ended_at=None,
                ).returning(_C.experiment_id))
                experiment_id = result.scalar_one()
                await session.commit()
            except IntegrityError as exc:   # a concurrent start won the one-running index
                raise Conflict("a challenger experiment is already running: stop it first"
                               ) from exc
            return ChallengerConfig(experiment_id, challenger_version, champion or 0, share_bps,
                                    now)

    async def stop(self, now: datetime) -> ChallengerConfig | None:
        async with self._session() as session:
            row = (await session.exec(select(PolicyChallengerRow).where(
                col(PolicyChallengerRow.running) == true()))).first()
            if row is None:
                return None
            config = _config(row)
            await session.exec(update(PolicyChallengerRow.__table__)  # type: ignore[attr-defined]
                               .where(_C.experiment_id == config.experiment_id,
                                      _C.running == true())
                               .values(running=False, ended_at=now))
            await session.commit()
            return ChallengerConfig(config.experiment_id, config.challenger_version,
                                    config.champion_version, config.share_bps,
                                    config.started_at, now)

    async def figures(self, config: ChallengerConfig, now: datetime) -> Sequence[ArmFigures]:
        until = config.ended_at or now
        accepted = _O.status == OfferStatus.ACCEPTED.value
        statement = (
            select(
                _O.policy_version,
                func.count(func.distinct(_O.decision_id)),
                func.count(),
                func.sum(case((accepted, 1), else_=0)),
                func.sum(case((_O.rank == 1, _O.conversion_probability * _O.expected_profit_paise),
                              else_=0.0)),
                func.sum(case((accepted, _O.expected_profit_paise), else_=0)),
            )
            .where(_O.created_at >= config.started_at, _O.created_at <= until)
            .group_by(_O.policy_version)
            .order_by(_O.policy_version)
        )
        async with self._session() as session:
            rows = (await session.exec(statement)).all()
        return [ArmFigures(int(v), int(answers), int(offers), int(acc or 0),
                           round(float(expected or 0.0) / 100, 2), float(won or 0) / 100)
                for v, answers, offers, acc, expected, won in rows]
