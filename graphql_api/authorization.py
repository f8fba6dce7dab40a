"""Who may call what: one entry per root operation, one per restricted object field.

This table is the whole authorisation policy of the API; ``graphql_api/access_control.py``
enforces it before any resolver runs, and ``tests/e2e/test_authorization_matrix.py`` holds it to
the schema. Deny by default: a root field without an entry here is refused for everyone (and the
matrix test fails), so a new operation cannot slip through unprotected.

Adding an operation? Add an :class:`OperationRule` to ``OPERATIONS`` under
``"<Query|Mutation|Subscription>.<fieldName>"`` with:

* ``roles``: the roles allowed to call it at all;
* ``owner``: for customer-scoped operations, where the customer who owns the resource is found,
  either :class:`ArgumentOwner` (a path into the GraphQL arguments, GraphQL names:
  ``ArgumentOwner("request", "userId")``) or :class:`OfferOwner` (an argument holding an offer id;
  the offer is loaded to learn its owner). A caller whose only granting role is CUSTOMER must own
  the resource (its token's ``sub`` equals the owner), otherwise FORBIDDEN. Staff roles act for
  any customer;
* ``cost``: units charged to the caller's rate budget (1 for a cheap read);
* ``audit``: ``ALWAYS`` (decisions, mutations, PII reads), ``FOR_OTHERS`` (when a staff member
  touches a customer's resource), or ``NEVER``;

and add its rows to the matrix test. Fields that expose lender economics or internal risk detail
go in ``FIELDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from application.security import Role

CUSTOMER, AGENT, ANALYST, ADMIN = Role.CUSTOMER, Role.AGENT, Role.ANALYST, Role.ADMIN
EVERYONE = frozenset(Role)
STAFF = frozenset({AGENT, ANALYST, ADMIN})
ACTS_FOR_CUSTOMERS = frozenset({CUSTOMER, AGENT, ADMIN})
LENDER_ECONOMICS = frozenset({ANALYST, ADMIN})
POLICY_READERS = frozenset({AGENT, ANALYST, ADMIN})


class Audit(StrEnum):
    ALWAYS = "ALWAYS"
    FOR_OTHERS = "FOR_OTHERS"
    NEVER = "NEVER"


@dataclass(frozen=True)
class ArgumentOwner:
    """The owning user id is an argument (or a field of an input object argument)."""

    path: tuple[str, ...]

    def __init__(self, *path: str) -> None:
        object.__setattr__(self, "path", path)


@dataclass(frozen=True)
class OfferOwner:
    """The argument names an offer; its owner is the offer's user id."""

    argument: str


@dataclass(frozen=True)
class OperationRule:
    roles: frozenset[Role]
    owner: ArgumentOwner | OfferOwner | None = None
    cost: int = 1
    audit: Audit = Audit.FOR_OTHERS

    @property
    def is_mutation_like(self) -> bool:
        return self.audit is Audit.ALWAYS


OPERATIONS: dict[str, OperationRule] = {
    # --- offers -------------------------------------------------------------------------------
    # Generating offers is a credit decision: always audited, with terms and reason codes.
    "Query.loanOffers": OperationRule(EVERYONE, ArgumentOwner("request", "userId"), cost=10,
                                      audit=Audit.ALWAYS),
    "Query.offer": OperationRule(EVERYONE, OfferOwner("offerId"), cost=1),
    "Query.offerHistory": OperationRule(EVERYONE, ArgumentOwner("userId"), cost=2),
    "Mutation.acceptOffer": OperationRule(ACTS_FOR_CUSTOMERS, OfferOwner("offerId"), cost=5,
                                          audit=Audit.ALWAYS),
    "Mutation.declineOffer": OperationRule(ACTS_FOR_CUSTOMERS, OfferOwner("offerId"), cost=5,
                                           audit=Audit.ALWAYS),
    "Subscription.offerUpdates": OperationRule(EVERYONE, ArgumentOwner("userId"), cost=5),
    # --- behaviour: reported by lender systems (agents, admins) ---------------------------------
    "Mutation.recordBehaviorEvent": OperationRule(frozenset({AGENT, ADMIN}), cost=2,
                                                  audit=Audit.ALWAYS),
    # --- applicants (PII): a customer reads their own record; staff reads are audited -----------
    "Query.applicant": OperationRule(EVERYONE, ArgumentOwner("userId"), cost=2,
                                     audit=Audit.FOR_OTHERS),
    "Mutation.upsertApplicant": OperationRule(frozenset({AGENT, ADMIN}), cost=5,
                                              audit=Audit.ALWAYS),
    # --- pricing policy ---------------------------------------------------------------------------
    "Query.pricingPolicy": OperationRule(POLICY_READERS, cost=1, audit=Audit.NEVER),
    "Mutation.publishPricingPolicy": OperationRule(frozenset({ADMIN}), cost=20,
                                                   audit=Audit.ALWAYS),
    "Query.simulatePolicy": OperationRule(LENDER_ECONOMICS, cost=50, audit=Audit.ALWAYS),
    "Query.validatePolicy": OperationRule(LENDER_ECONOMICS, cost=5, audit=Audit.NEVER),
    "Mutation.savePolicyDraft": OperationRule(LENDER_ECONOMICS, cost=10, audit=Audit.ALWAYS),
    "Query.policyVersions": OperationRule(LENDER_ECONOMICS, cost=2, audit=Audit.NEVER),
    "Query.policyDiff": OperationRule(LENDER_ECONOMICS, cost=2, audit=Audit.NEVER),
    # --- champion/challenger: changes who gets which price, so admins only ------------------------
    "Query.challengerFigures": OperationRule(LENDER_ECONOMICS, cost=5, audit=Audit.NEVER),
    "Mutation.startChallenger": OperationRule(frozenset({ADMIN}), cost=20, audit=Audit.ALWAYS),
    "Mutation.stopChallenger": OperationRule(frozenset({ADMIN}), cost=20, audit=Audit.ALWAYS),
}

#: Object fields only some roles may select (lender economics, internal risk detail). Selecting
#: one without the role refuses the whole operation with FORBIDDEN, naming the field.
FIELDS: dict[str, frozenset[Role]] = {
    "LoanOffer.expectedProfit": LENDER_ECONOMICS,
    "OfferExplanation.breakEvenRoi": LENDER_ECONOMICS,
    "OfferExplanation.unconstrainedOptimalRoi": LENDER_ECONOMICS,
    "OfferExplanation.priceResponse": LENDER_ECONOMICS,
    "RiskAssessment.breakEvenRoi": LENDER_ECONOMICS,
    "RiskAssessment.probabilityOfDefault": LENDER_ECONOMICS,
    "BehaviorAnalysis.longTermValue": LENDER_ECONOMICS,
    "BehaviorAnalysis.sensitivityScore": LENDER_ECONOMICS,
    "BehaviorAnalysis.repeatProbability": LENDER_ECONOMICS,
}

#: Meta fields every caller may select (introspection itself is switched off in prod).
META_FIELDS = frozenset({"__typename", "__schema", "__type"})
