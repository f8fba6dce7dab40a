"""No NUL characters in text inputs.

GraphQL strings may carry U+0000 (``"\\u0000"`` in a literal, or in a JSON variable), but
PostgreSQL refuses it in every text column: an id, a name or an idempotency key holding one
would fail deep in a repository, or in the audit trail's insert, as an unexpected error. No
field of this API has a use for it, so any operation whose arguments hold one is refused up
front with BAD_USER_INPUT (``extensions.field`` names the argument or variable), before
authorisation looks anything up and before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import ArgumentNode, ObjectFieldNode, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from graphql_api.errors import typed_error

NUL = "\x00"


class _NulLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []  # innermost argument or input field around each NUL literal
        self._around: list[str] = []

    def enter_argument(self, node: ArgumentNode, *_: object) -> None:
        self._around.append(node.name.value)

    def leave_argument(self, *_: object) -> None:
        self._around.pop()

    def enter_object_field(self, node: ObjectFieldNode, *_: object) -> None:
        self._around.append(node.name.value)

    def leave_object_field(self, *_: object) -> None:
        self._around.pop()

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if NUL in node.value:
            self.names.append(self._around[-1] if self._around else "")


def _nul_in_variables(value: Any, name: str) -> Iterator[str]:
    if isinstance(value, str):
        if NUL in value:
            yield name
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nul_in_variables(item, str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _nul_in_variables(item, name)


def nul_inputs(query: str, document: Any, variables: dict[str, Any] | None) -> list[str]:
    """Names of the arguments, input fields or variables whose text holds a NUL."""
    names = [name for key, value in (variables or {}).items()
             for name in _nul_in_variables(value, key)]
    # A literal can only hold a NUL through a \u escape (the lexer refuses a raw one), so most
    # documents skip the walk.
    if document is not None and "\\u" in query:
        literals = _NulLiterals()
        visit(document, literals)
        names += literals.names
    return names


class RefuseNulCharacters(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        names = nul_inputs(ctx.query or "", ctx.graphql_document, ctx.variables)
        if names:
            raise typed_error("BAD_USER_INPUT", "text may not contain NUL characters (U+0000)",
                              field=names[0])
        yield
