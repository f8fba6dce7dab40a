"""The audit trail's GraphQL side: which operations are recorded, with what.

``AccessControl`` records, after execution, every root field its rule marks ``ALWAYS``, those
marked ``FOR_OTHERS`` when staff act on a customer's resource, and every refused operation.
Resolvers add decision details with :func:`note_audit` (policy version, terms offered, reason
codes): ids and numbers only, never names, PANs or other PII.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from strawberry.types import Info

from application.security import AuditEntry

log = logging.getLogger("loan_offers.audit")


def note_audit(info: Info, **details: Any) -> None:
    """Attach details to this root field's audit record (ignored when it is not audited)."""
    info.context.extras.setdefault("audit", {})[info.path.key] = details


def outcome_of(key: str, errors: list[GraphQLError] | None) -> str:
    for error in errors or ():
        path = error.path or []
        if not path or path[0] == key:
            code = (error.extensions or {}).get("code")
            return str(code) if code else "INTERNAL_SERVER_ERROR"
    return "OK"


async def record(context: Any, entries: list[AuditEntry]) -> None:
    trail = getattr(context.services, "audit_trail", None)
    if trail is None or not entries:
        return
    try:
        await trail.append(entries)
    except Exception:  # the operation already ran: report loudly, never turn it into an error
        log.exception("audit trail append failed (request %s, %d records)",
                      context.request_id, len(entries))


def entry(context: Any, *, actor: str, role: str, action: str, resource: str, outcome: str,
          inputs_hash: str, details: dict[str, Any] | None = None) -> AuditEntry:
    details = dict(details or {})
    version = details.pop("policyVersion", None)
    return AuditEntry(actor=actor, role=role, action=action, resource=resource, outcome=outcome,
                      occurred_at=datetime.now(UTC), request_id=context.request_id,
                      inputs_hash=inputs_hash,
                      policy_version=version if isinstance(version, int) else None,
                      details=details)


def offer_terms(offer: Any) -> dict[str, Any]:
    """An offer's terms for the record: exact text of the decimals, no customer data."""
    return {"offerId": offer.offer_id, "amount": str(offer.amount), "tenure": offer.tenure,
            "roi": str(offer.roi), "processingFee": str(offer.processing_fee),
            "apr": str(offer.apr), "status": offer.status.value}
