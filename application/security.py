"""Who is asking, and the ports that authenticate, rate-limit and audit them.

Pure: no JWT library, no Redis here. ``adapters/auth`` verifies tokens, ``adapters/ratelimit``
counts requests, ``adapters/audit`` keeps the trail; ``graphql_api`` enforces the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from application.errors import ApplicationError


class Role(StrEnum):
    CUSTOMER = "CUSTOMER"   # sees and acts on their own offers only
    AGENT = "AGENT"         # acts for any customer; every such action is audited
    ANALYST = "ANALYST"     # reads risk detail, lender economics and policies
    ADMIN = "ADMIN"         # publishes policies; reads everything

    @classmethod
    def parse_many(cls, values: object) -> frozenset[Role]:
        """Roles named in a token's ``roles`` claim; unknown names are ignored (never an error:
        an identity provider may carry roles for other applications)."""
        if isinstance(values, str):
            values = values.replace(",", " ").split()
        if not isinstance(values, list | tuple | set | frozenset):
            return frozenset()
        known = {role.value: role for role in cls}
        return frozenset(known[v.upper()] for v in values
                         if isinstance(v, str) and v.upper() in known)


STAFF_ROLES = frozenset({Role.AGENT, Role.ANALYST, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``subject`` is the token's ``sub`` (a customer's user id for
    CUSTOMER tokens). ``dev_anonymous`` marks the development profile's stand-in for a request
    without a token; it never exists in the prod profile."""

    subject: str
    roles: frozenset[Role]
    token_id: str | None = None
    dev_anonymous: bool = False
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def primary_role(self) -> str:
        """The most privileged role, for logs and the audit trail."""
        for role in (Role.ADMIN, Role.ANALYST, Role.AGENT, Role.CUSTOMER):
            if role in self.roles:
                return role.value
        return "NONE"


class Unauthenticated(ApplicationError):
    code = "UNAUTHENTICATED"


class RateLimited(ApplicationError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_s: int, **details: object) -> None:
        super().__init__(message, retryAfter=retry_after_s, **details)
        self.retry_after_s = retry_after_s


class TokenVerifier(Protocol):
    """Turns a bearer token into a :class:`Principal`.

    ``verify`` raises :class:`Unauthenticated` (with a reason safe to show the client) for a
    malformed, unsigned, expired, not-yet-valid, wrongly issued or wrongly addressed token, or one
    signed by an unknown key or with an algorithm other than the pinned ones. It never returns a
    principal for a token it could not verify.
    """

    async def verify(self, token: str) -> Principal: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0
    remaining: int | None = None


class RateLimiter(Protocol):
    """Moving-window budgets per caller key.

    ``charge(key, cost, mutation)`` spends ``cost`` from the key's operation budget and, when
    ``mutation`` is true, one unit per mutation field from its mutation budget as well. A refused
    charge spends nothing and tells how many whole seconds to wait. A broken shared backend never
    makes ``charge`` raise: the adapter falls back to per-process counting.
    """

    async def charge(self, key: str, cost: int, mutations: int) -> RateDecision: ...


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action. No raw PII: ``resource`` names ids, ``inputs_hash`` hashes the
    arguments, ``details`` carries decisions (terms offered, reason codes), never names or PANs."""

    actor: str
    role: str
    action: str
    resource: str
    outcome: str
    occurred_at: datetime
    request_id: str
    inputs_hash: str
    policy_version: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    records: int
    problems: tuple[str, ...] = ()
    head: str = ""  # the last record's hash: keep it elsewhere to detect a truncated tail


class AuditTrail(Protocol):
    """Append-only, hash-chained record of audited actions.

    ``append`` stores entries in order, each record's hash covering its content and the previous
    record's hash, durably before it returns; concurrent appends (also from other processes)
    never fork the chain. ``verify`` re-computes the chain and names every record that was
    edited, inserted or deleted.
    """

    async def append(self, entries: list[AuditEntry]) -> None: ...

    async def verify(self) -> AuditVerification: ...
