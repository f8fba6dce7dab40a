"""A cap on directives per document (directive overloading).

A document stuffed with directives (``__typename @a@a@a...``) costs validation work per
directive and, unchecked, earns one error each. The cap is checked when validation enters the
document, before any other rule has reported anything, and aborts validation with one error.
Legitimate documents use a few ``@include``/``@skip``.
"""

from __future__ import annotations

from functools import cache

from graphql import DocumentNode, ValidationRule, Visitor, visit
from graphql.validation.validate import ValidationAbortedError


class _DirectiveCounter(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_directive(self, *_: object) -> None:
        self.count += 1


def count_directives(document: DocumentNode) -> int:
    counter = _DirectiveCounter()
    visit(document, counter)
    return counter.count


@cache  # one class per limit: the validation cache keys on the rule classes
def directive_limit_rule(max_directives: int) -> type[ValidationRule]:
    class MaxDirectivesRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: object) -> None:
            found = count_directives(node)
            if found > max_directives:
                # Raising (not reporting) stops validation here: one error, no per-directive work.
                raise ValidationAbortedError(
                    f"{found} directives found. Allowed: {max_directives}",
                    extensions={"code": "GRAPHQL_VALIDATION_FAILED"})

    return MaxDirectivesRule
