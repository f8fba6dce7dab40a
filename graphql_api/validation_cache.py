"""Validation results cached on the document's text, not on its syntax tree.

Strawberry's ``ValidationCache`` keys an ``lru_cache`` on (schema, document node, rules), and a
graphql-core ``DocumentNode`` hashes by walking its whole tree: for the ``loanOffers`` document
that is ~270 hash calls per request, about a tenth of the GraphQL layer's CPU once execution got
cheap (``benchmarks.graphql_bench``). The text is an equivalent key: the document is parsed from
it, and a ``str`` caches its own hash.

Bounded (least recently used first out): endless distinct documents cannot grow memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.schema import schema as strawberry_schema


class TextValidationCache:
    """(schema, document text, rule classes) -> validation errors."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._results: OrderedDict[tuple[Any, str, tuple], list] = OrderedDict()

    def validate(self, schema: Any, text: str, document: Any, rules: tuple) -> list:
        key = (schema, text, rules)
        found = self._results.get(key)
        if found is not None:
            self._results.move_to_end(key)
            return found
        errors = strawberry_schema.validate_document(schema, document, rules)
        self._results[key] = errors
        while len(self._results) > self.maxsize:
            self._results.popitem(last=False)
        return errors


class ValidationByText(SchemaExtension):
    """Drop-in for Strawberry's ``ValidationCache`` (one shared cache, one extension per
    request)."""

    def __init__(self, cache: TextValidationCache) -> None:
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is None:  # a document given without text: nothing to key on
            context.pre_execution_errors = strawberry_schema.validate_document(
                context.schema._schema, context.graphql_document, context.validation_rules)
        else:
            context.pre_execution_errors = self.cache.validate(
                context.schema._schema, context.query, context.graphql_document,
                tuple(context.validation_rules))
        yield
