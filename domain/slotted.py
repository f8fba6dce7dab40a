"""A cheaper ``__init__`` for the frozen, slotted dataclasses the engine builds per applicant.

A frozen dataclass's generated ``__init__`` stores each field with
``object.__setattr__(self, "name", value)``, which looks the name up on the class every time
before it reaches the slot's descriptor. :func:`fast_init` replaces that ``__init__`` with one
that calls each slot descriptor's ``__set__`` directly: same signature, same defaults and
default factories, same ``__post_init__`` call, same frozen instances afterwards (the
descriptors are what ``object.__setattr__`` ends up calling). An offer set builds some 80 such
objects, so this is a measurable share of the engine's time (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

C = TypeVar("C", bound=type)

class _Factory:
    """Marks "not given" for a field with a default factory (shown like dataclasses' own)."""

    def __repr__(self) -> str:
        return "<factory>"


_NO_ARGUMENT = _Factory()


def fast_init(cls: C) -> C:
    """Decorate a ``@dataclass(frozen=True, slots=True)`` class (put it above the dataclass
    decorator). Refuses classes it cannot reproduce exactly (not frozen, no slots, InitVars)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: fast_init needs @dataclass(frozen=True, slots=True)")
    fields = dataclasses.fields(cls)
    if len(fields) != len(cls.__dataclass_fields__):
        raise TypeError(f"{cls.__name__}: fast_init does not handle InitVar or ClassVar fields")
    namespace: dict[str, Any] = {"_NO_ARGUMENT": _NO_ARGUMENT}
    positional: list[str] = []
    keyword_only: list[str] = []
    body: list[str] = []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        value = _value_expression(f, namespace)
        if f.init:
            parameter = f.name if value is None else f"{f.name}={value[0]}"
            (keyword_only if f.kw_only else positional).append(parameter)
            stored = f.name if value is None or value[1] is None else value[1]
        elif value is not None:
            stored = value[1] or value[0]
        else:
            continue  # set by __post_init__, as with the generated __init__
        body.append(f"    _set_{f.name}(self, {stored})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *positional, *(["*", *keyword_only] if keyword_only else [])])
    source = f"def __init__({signature}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {f.name: f.type for f in fields if f.init} | {"return": None}
    cls.__init__ = init
    return cls


def _value_expression(f: dataclasses.Field, namespace: dict[str, Any]
                      ) -> tuple[str, str | None] | None:
    """(parameter default, expression to store) for a field with a default; None without."""
    if f.default is not dataclasses.MISSING:
        namespace[f"_default_{f.name}"] = f.default
        return f"_default_{f.name}", None
    if f.default_factory is not dataclasses.MISSING:
        namespace[f"_factory_{f.name}"] = f.default_factory
        if not f.init:
            return f"_factory_{f.name}()", None
        return ("_NO_ARGUMENT",
                f"_factory_{f.name}() if {f.name} is _NO_ARGUMENT else {f.name}")
    return None
