"""Find applicants by e-mail, phone or PAN (a support or data-subject request), through the blind
index: personal data stays sealed, and nothing is decrypted to search."""

from __future__ import annotations

from application.pii import ContactKind
from application.ports import UnitOfWorkFactory


class FindApplicantsByContact:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, kind: ContactKind, value: str) -> tuple[str, ...]:
        """The matching user ids, sorted (several applicants may share a phone or e-mail)."""
        async with self._uow_factory() as uow:
            return await uow.applicants.find_by_contact(kind, value)
