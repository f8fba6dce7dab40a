"""GetPricingPolicy: a stored policy version with its source (``None``: the active one)."""

from __future__ import annotations

from application.errors import NotFound
from application.ports import PolicyRecord, UnitOfWorkFactory


class GetPricingPolicy:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, version: int | None = None) -> PolicyRecord:
        async with self._uow_factory() as uow:
            record = await uow.policies.record(version)
        if record is None:
            what = "no pricing policy is active" if version is None else (
                f"no pricing policy version {version}")
            raise NotFound(what, version=version if version is not None else 0)
        return record
