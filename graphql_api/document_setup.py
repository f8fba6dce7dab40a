"""What every operation needs set before it is parsed, in one schema extension.

The validation rules (the directive cap first, then graphql-core's and Strawberry's rules, the
depth and alias limits, and, when introspection is off, the introspection ban), the parser's
token limit, and the document of an automatic persisted query (``persisted_queries.py``).

Five Strawberry extensions did this before, one concern each. Strawberry builds every extension
and wraps every hook it implements anew for each request: with ~1 ms of GraphQL work per
``loanOffers`` answer, those four extra extensions were a measurable share of it
(``benchmarks.graphql_bench``; docs/PERFORMANCE.md). The rules and their order are unchanged:
the validation cache keys on the same tuple.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ValidationRule
from strawberry.extensions import SchemaExtension

from graphql_api.persisted_queries import PersistedQueryStore, resolve_persisted_query


class DocumentSetup(SchemaExtension):
    def __init__(self, first_rules: tuple[type[ValidationRule], ...],
                 last_rules: tuple[type[ValidationRule], ...], max_tokens: int,
                 persisted: PersistedQueryStore | None) -> None:
        self.first_rules = first_rules
        self.last_rules = last_rules
        self.max_tokens = max_tokens
        self.persisted = persisted

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*self.first_rules, *context.validation_rules,
                                    *self.last_rules)
        context.parse_options["max_tokens"] = self.max_tokens
        if self.persisted is not None:
            resolve_persisted_query(context, self.persisted)
        yield
