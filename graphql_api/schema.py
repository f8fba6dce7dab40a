"""The Strawberry schema: root types merged from one resolver module per feature.

Hardening (documented in README "Limits"): access control (``access_control.py`` enforcing
``authorization.py``); depth, alias, token and directive limits; bounded parser and
validation caches; introspection and field suggestions off unless enabled (dev profile). Query
batching (a JSON array of operations) stays off: Strawberry answers it with HTTP 400 unless
``StrawberryConfig.batching_config`` enables it, and we never do (one operation, one cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, ParserCache, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from graphql_api.access_control import AccessControl, DocumentAnalyser
from graphql_api.directive_limit import directive_limit_rule
from graphql_api.document_setup import DocumentSetup
from graphql_api.errors import MaskUnexpectedErrors
from graphql_api.extension_runner import PlannedExtensionsRunner
from graphql_api.fast_completion import FastCompletionExecutor
from graphql_api.metrics import GraphQLMetrics
from graphql_api.persisted_queries import PersistedQueryStore
from graphql_api.resolvers.applicants import ApplicantMutations, ApplicantQueries
from graphql_api.resolvers.behavior_events import BehaviorEventMutations
from graphql_api.resolvers.challenger import ChallengerMutations, ChallengerQueries
from graphql_api.resolvers.offer_answers import OfferAnswerMutations
from graphql_api.resolvers.offer_history import OfferHistoryQueries
from graphql_api.resolvers.offer_updates import OfferSubscriptions
from graphql_api.resolvers.offers import OfferQueries
from graphql_api.resolvers.policy_drafts import PolicyDraftMutations, PolicyDraftQueries
from graphql_api.resolvers.pricing_policy import PricingPolicyMutations, PricingPolicyQueries
from graphql_api.resolvers.simulation import SimulationQueries
from graphql_api.text_inputs import RefuseNulCharacters
from graphql_api.validation_cache import TextValidationCache, ValidationByText

QUERY_PARTS: tuple[type, ...] = (OfferQueries, OfferHistoryQueries, ApplicantQueries,
                                 PricingPolicyQueries, SimulationQueries, ChallengerQueries,
                                 PolicyDraftQueries)
MUTATION_PARTS: tuple[type, ...] = (ApplicantMutations, OfferAnswerMutations,
                                    BehaviorEventMutations, PricingPolicyMutations,
                                    ChallengerMutations, PolicyDraftMutations)
SUBSCRIPTION_PARTS: tuple[type, ...] = (OfferSubscriptions,)


class LoanOffersSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[override]
        """Strawberry logs every error with a stack trace; ours are mostly expected outcomes
        (``NOT_FOUND``, ``UNAVAILABLE`` during an outage). Unexpected ones are logged once, with
        the request id, where they are masked (``graphql_api.errors``)."""

    planned_extensions = True  # SchemaOptions.planned_extensions

    def create_extensions_runner(self, execution_context, extensions):  # type: ignore[override]
        """The same hooks in the same order, wrapped once per extension class instead of per
        request (``graphql_api.extension_runner``)."""
        if not self.planned_extensions:
            return super().create_extensions_runner(execution_context, extensions)
        return PlannedExtensionsRunner(execution_context=execution_context,
                                       extensions=extensions)


@dataclass(frozen=True)
class SchemaOptions:
    introspection: bool = True
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    tracing: bool = False
    persisted_queries: int = 1024  # documents remembered for APQ per process; 0 turns APQ off
    max_directives: int = 8
    fast_completion: bool = True  # graphql_api.fast_completion; off only to compare answers
    # graphql_api.extension_runner; off only to compare answers
    planned_extensions: bool = True


def build_schema(options: SchemaOptions) -> strawberry.Schema:
    # The limiters' rule classes are built once: the validation cache keys on (schema, text,
    # rules), and a limiter built per request makes a new rule class each time, so every
    # request would miss the cache and re-validate (a sixth of a request's CPU, measured).
    limit_rules = (*QueryDepthLimiter(max_depth=options.max_depth).validation_rules,
                   *MaxAliasesLimiter(max_alias_count=options.max_aliases).validation_rules)
    validations = TextValidationCache(maxsize=1024)
    analyser: list[DocumentAnalyser] = []  # bound once the schema exists (it needs the types)
    # The directive cap runs first (one error, before any per-directive work), the limits and
    # the introspection ban after graphql-core's own rules.
    first_rules = (directive_limit_rule(options.max_directives),)
    last_rules = (*limit_rules,
                  *(() if options.introspection else (NoSchemaIntrospectionCustomRule,)))
    store = PersistedQueryStore(options.persisted_queries) if options.persisted_queries else None
    extensions: list = [
        GraphQLMetrics,  # first: it must see errors after masking has coded them
        MaskUnexpectedErrors,
        lambda: DocumentSetup(first_rules, last_rules, options.max_tokens, store),
        # NUL characters in text inputs: refused before authorisation looks anything up.
        RefuseNulCharacters,
        # Authorisation (authorization.py), rate budget, audit: before any resolver runs.
        lambda: AccessControl(analyser[0]),
        # Bounded: an attacker sending endless distinct documents must not grow memory.
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationByText(validations),
    ]
    if options.tracing:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        extensions.append(OpenTelemetryExtension)
    schema = LoanOffersSchema(
        query=merge_types("Query", QUERY_PARTS),
        mutation=merge_types("Mutation", MUTATION_PARTS) if MUTATION_PARTS else None,
        subscription=(merge_types("Subscription", SUBSCRIPTION_PARTS)
                      if SUBSCRIPTION_PARTS else None),
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not options.introspection),
        # Plain data objects (offers, explanations) completed without a resolver call per
        # field: the same answer for about a third of the GraphQL layer's CPU (fast_completion).
        execution_context_class=FastCompletionExecutor if options.fast_completion else None,
    )
    schema.planned_extensions = options.planned_extensions
    analyser.append(DocumentAnalyser(schema._schema))
    return schema
