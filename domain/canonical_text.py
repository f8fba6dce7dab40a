"""``repr`` of the engine's input dataclasses, as :mod:`dataclasses` writes it, for less.

The inputs hash (:func:`domain.offer_engine.inputs_hash`) is a SHA-256 over the reprs of the
applicant's credit profile, behaviour metrics and request, for every answer. The generated
``__repr__`` goes through a recursion guard (a thread id and a set per call) and formats enum
fields with ``Enum.__repr__``, written in Python; together about half of the hash's cost.
:func:`dataclass_repr` gives the same text from a formatter compiled once per class: one
f-string with ``!r`` per field (what the generated ``__repr__`` does) and enum members' reprs
looked up by identity. Tests compare it with ``repr``.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable
from typing import Any

_FORMATTERS: dict[type, Callable[[Any], str]] = {}


def dataclass_repr(value: Any) -> str:
    """``repr(value)`` for an instance of a dataclass with the generated ``__repr__``."""
    formatter = _FORMATTERS.get(type(value))
    if formatter is None:
        formatter = _FORMATTERS[type(value)] = _compile(type(value))
    return formatter(value)


def _compile(cls: type) -> Callable[[Any], str]:
    if not _generated_repr(cls):
        return repr  # the class's own repr, or not a dataclass: repr it is
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {}
    parts = []
    for f in dataclasses.fields(cls):
        if not f.repr:
            continue
        members = _enum_members(hints.get(f.name))
        if members:
            # id(member) -> repr(member) for the field's enum(s); anything else (a plain
            # value where a member was declared) is formatted by repr.
            table = f"_reprs_{f.name}"
            namespace[table] = {id(m): repr(m) for m in members}
            parts.append(f"{f.name}={{{table}.get(id(v.{f.name})) or repr(v.{f.name})}}")
        else:
            parts.append(f"{f.name}={{v.{f.name}!r}}")
    text = ", ".join(parts)
    source = f"def formatter(v):\n    return f\"{cls.__qualname__}({text})\"\n"
    exec(source, namespace)  # our own text from the class's field names
    return namespace["formatter"]


def _generated_repr(cls: type) -> bool:
    """Whether ``cls.__repr__`` is the one :mod:`dataclasses` generates (recognised by its
    recursion guard's wrapper around a function made by ``__create_fn__``); anything else,
    a repr of the class's own or of a base, keeps ``repr``."""
    if not dataclasses.is_dataclass(cls):
        return False
    wrapped = getattr(cls.__dict__.get("__repr__"), "__wrapped__", None)
    return "__create_fn__" in getattr(wrapped, "__qualname__", "")


def _enum_members(hint: Any) -> list[enum.Enum]:
    """The members of the enum classes a type hint names (``E`` or ``E | None``)."""
    options = typing.get_args(hint) if typing.get_args(hint) else (hint,)
    return [m for option in options
            if isinstance(option, type) and issubclass(option, enum.Enum) for m in option]
