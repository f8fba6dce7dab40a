"""Input types made of plain scalars, built straight from graphql-core's coerced value.

Strawberry converts every argument value field by field (``convert_argument``): for each field
it checks the field's type against half a dozen kinds (``Maybe``, optional, list, scalar,
enum, lazy, object), converts the Python name to the GraphQL name and resolves the annotation,
on every request: ~8% of the GraphQL layer's CPU on a ``loanOffers`` answer (py-spy), for an
argument of three scalars. For a field whose type is a built-in scalar (or its optional) the
conversion hands the coerced value through unchanged, so :func:`plain_input` sets the type's
``from_input`` (Strawberry's hook for types that build themselves) to do just that with the
names worked out once: fields without a default start as ``None``, the fields the value holds
are copied, the class is called, exactly as the generic conversion does for such fields.
Anything else (lists, enums, nested inputs, ``Maybe``, custom scalars) is refused at import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import strawberry
from strawberry.schema.name_converter import NameConverter
from strawberry.types.base import StrawberryMaybe, StrawberryOptional

#: Built-in scalars, which Strawberry's conversion returns as graphql-core coerced them.
PLAIN_SCALARS: tuple[object, ...] = (str, int, float, bool, strawberry.ID)

T = TypeVar("T")


def _plain_type(type_: object) -> bool:
    if isinstance(type_, StrawberryMaybe):  # Maybe has its own null rules
        return False
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    return any(type_ is scalar for scalar in PLAIN_SCALARS)


def plain_input(cls: type[T]) -> type[T]:
    """Under ``@strawberry.input``: build the type without the per-field conversion. The
    GraphQL names are those of Strawberry's default name converter (``StrawberryConfig``'s
    ``auto_camel_case``), the one our schema uses."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    if not definition.is_input or definition.from_input is not None:
        raise TypeError(f"{cls.__name__} is not a plain Strawberry input type")
    names = NameConverter()
    fields: list[tuple[str, str]] = []
    required: list[str] = []
    for field in definition.fields:
        if not _plain_type(field.resolve_type(type_definition=definition)):
            raise TypeError(f"{cls.__name__}.{field.python_name} is not a built-in scalar")
        fields.append((names.from_field(field), field.python_name))
        if (field.default_value is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING):
            required.append(field.python_name)
    definition.from_input = _builder(tuple(fields), tuple(required))
    return cls


def _builder(fields: tuple[tuple[str, str], ...], required: tuple[str, ...]
             ) -> Callable[[type, Mapping[str, Any], Any], Any]:
    def from_input(type_: type, value: Mapping[str, Any], _context: Any) -> Any:
        # graphql-core has validated that required fields are present; None until then, as
        # Strawberry's own conversion does.
        kwargs: dict[str, Any] = dict.fromkeys(required)
        for graphql_name, python_name in fields:
            if graphql_name in value:
                kwargs[python_name] = value[graphql_name]
        return type_(**kwargs)

    return from_input
