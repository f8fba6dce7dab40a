"""Completion of plain data objects without a resolver call per field.

Most of a ``loanOffers`` answer is ~150 fields of frozen data (offers, explanations, risk
figures) whose Strawberry fields have no resolver: each is ``getattr(source, python_name)``
then the type's ``coerce_output_value``. graphql-core still runs its whole per-field machinery
for each of them (a resolve-info object, a path, a resolver call through Strawberry's wrapper,
awaitable checks, list and null bookkeeping): about two thirds of the GraphQL layer's CPU for
that answer, measured with ``benchmarks.graphql_bench``.

:class:`FastCompletionExecutor` completes such an object directly: per execution it builds a
*plan* for each (object type, selection) pair - response key, attribute, and a completer made
from the field's GraphQL type (non-null, list, leaf, nested plain object) - from the very
fields graphql-core collects (so ``@skip``/``@include``, fragments and aliases behave the same),
then applies it. A selection is plain only when every field is a Strawberry field without
resolver or field extensions, without arguments or directives, and every object type in it has
no ``is_type_of`` check; abstract types, ``@defer``/``@stream`` and graphql-core middleware
(tracing) keep the generic path.

Plans outlive a request when the operation has no directive and no fragment arguments (then
what graphql-core collects depends on the document alone, not on variables): they are kept per
schema and per operation node (the parser cache hands back the same document for the same
text, so a persisted ``loanOffers`` reuses its plans), least recently used operations leaving
first; otherwise they are built per execution.

Same answer, byte for byte: keys in collection order, values through the same
``coerce_output_value``. Anything unusual - a null where the schema says non-null, a value a
scalar refuses, a missing attribute, a value that is not a list where a list is due - abandons
the plan for that object (nothing has been written anywhere: planning only reads), and the
generic path completes it instead, producing the errors and paths graphql-core always produced.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from math import isfinite
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    Visitor,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    visit,
)
from graphql.pyutils import Undefined
from graphql.type.scalars import (
    serialize_boolean,
    serialize_float,
    serialize_id,
    serialize_int,
    serialize_string,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Completer = Callable[[Any], Any]
_NOT_PLAIN = object()  # plan cache marker: this selection takes the generic path


MAX_OPERATIONS = 256  # operations whose plans are kept, per schema


class _VariableDependence(Visitor):
    """Finds what makes field collection depend on variables: directives (``@skip(if: $x)``,
    ``@defer``...) and fragment spreads with arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, *_: object) -> Any:
        self.found = True
        return self.BREAK

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> Any:
        if getattr(node, "arguments", None):
            self.found = True
            return self.BREAK
        return None


def _depends_on_variables(operation: OperationDefinitionNode, fragments: dict[str, Any]) -> bool:
    for node in (operation, *fragments.values()):
        finder = _VariableDependence()
        visit(node, finder)
        if finder.found:
            return True
    return False


class _SharedPlans:
    """Per schema: operation node -> its plans, for operations that do not depend on variables.
    The entry holds the operation and its fragments, so node ids in the keys stay theirs."""

    def __init__(self) -> None:
        self._operations: OrderedDict[int, tuple[Any, Any, dict | None]] = OrderedDict()

    def for_operation(self, operation: OperationDefinitionNode,
                      fragments: dict[str, Any]) -> dict | None:
        entry = self._operations.get(id(operation))
        if entry is not None and entry[0] is operation:
            self._operations.move_to_end(id(operation))
            return entry[2]
        plans = None if _depends_on_variables(operation, fragments) else {}
        self._operations[id(operation)] = (operation, dict(fragments), plans)
        while len(self._operations) > MAX_OPERATIONS:
            self._operations.popitem(last=False)
        return plans


_SHARED: weakref.WeakKeyDictionary[GraphQLSchema, _SharedPlans] = weakref.WeakKeyDictionary()


def _shared_plans(schema: GraphQLSchema) -> _SharedPlans:
    shared = _SHARED.get(schema)
    if shared is None:
        shared = _SHARED[schema] = _SharedPlans()
    return shared


class _Abandon(Exception):
    """The value is not the plain case: complete it the generic way."""


def _basic_attribute(field_def: Any) -> str | None:
    """The attribute a field reads, when it is a plain Strawberry attribute (no resolver, no
    field extension: Strawberry marks its resolver ``_is_default``) read with ``getattr``."""
    if not getattr(field_def.resolve, "_is_default", False) or field_def.args:
        return None
    field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if field is None or field.base_resolver is not None or field.extensions:
        return None
    if field.default_resolver is not getattr:
        return None
    return field.python_name


def _non_null(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            raise _Abandon
        return inner(value)

    return complete


def _nullable(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        return inner(value)

    return complete


#: Built-in scalars: (exact Python type, check) whose coercion returns such a value unchanged
#: (graphql-core's serialize_float returns ``float(v)``, which is ``v`` for a float, and so on).
_UNCHANGED: dict[Any, tuple[type, Callable[[Any], bool]]] = {
    GraphQLFloat: (float, isfinite),
    GraphQLString: (str, lambda _v: True),
    GraphQLID: (str, lambda _v: True),
    GraphQLBoolean: (bool, lambda _v: True),
    GraphQLInt: (int, lambda v: GRAPHQL_MIN_INT <= v <= GRAPHQL_MAX_INT),
}
_BUILT_IN_COERCION = {GraphQLFloat: serialize_float, GraphQLString: serialize_string,
                      GraphQLID: serialize_id, GraphQLBoolean: serialize_boolean,
                      GraphQLInt: serialize_int}


def _leaf(gql_type: Any) -> Completer:
    coerce = gql_type.coerce_output_value
    unchanged = _UNCHANGED.get(gql_type)
    if unchanged is not None and coerce is _BUILT_IN_COERCION[gql_type]:
        exact, check = unchanged
        general = _coerced(coerce)

        def complete_built_in(value: Any) -> Any:
            # The common case without the isinstance ladder; anything else as graphql-core does.
            if type(value) is exact and check(value):
                return value
            return general(value)

        return complete_built_in
    return _coerced(coerce)


def _coerced(coerce: Callable[[Any], Any]) -> Completer:
    def complete(value: Any) -> Any:
        if isinstance(value, Exception):
            raise _Abandon
        try:
            coerced = coerce(value)
        except Exception as exc:
            raise _Abandon from exc
        if coerced is None or coerced is Undefined:
            raise _Abandon
        return coerced

    return complete


def _list(item: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if type(value) not in (list, tuple):  # anything else: graphql-core decides
            raise _Abandon
        return [item(v) for v in value]

    return complete


def _object(fields: tuple[tuple[str, str | None, Any, Completer | None], ...]) -> Completer:
    def complete(value: Any) -> Any:
        if isinstance(value, Exception):
            raise _Abandon
        out = {}
        try:
            for key, attribute, constant, completer in fields:
                if completer is None:
                    out[key] = constant  # __typename
                else:
                    out[key] = completer(getattr(value, attribute))  # type: ignore[arg-type]
        except AttributeError as exc:
            raise _Abandon from exc
        return out

    return complete


class FastCompletionExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with the plain-object fast path (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Any]] = {}
        self._shared: dict | None = _shared_plans(self.schema).for_operation(
            self.operation, self.fragment_definitions)

    def complete_object_value(self, return_type: GraphQLObjectType, field_details_list: Any,
                              info: Any, path: Any, result: Any,
                              position_context: Any) -> Any:
        plan = self._object_plan(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except _Abandon:
                pass
        return super().complete_object_value(return_type, field_details_list, info, path,
                                             result, position_context)

    def _object_plan(self, return_type: GraphQLObjectType,
                     field_details_list: Any) -> Completer | None:
        # Memoised like collect_subfields: on the list's identity, the list kept alive with it.
        key = (return_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is None and self._shared is not None:
            # Across requests: the same nodes of the same operation give the same fields.
            shared_key = (return_type.name, tuple(id(d.node) for d in field_details_list))
            found = self._shared.get(shared_key)
            if found is None:
                found = self._build_object_plan(return_type, field_details_list) or _NOT_PLAIN
                self._shared[shared_key] = found
            cached = self._plans[key] = (field_details_list, found)
        if cached is None:
            found = self._build_object_plan(return_type, field_details_list) or _NOT_PLAIN
            cached = self._plans[key] = (field_details_list, found)
        plan = cached[1]
        return None if plan is _NOT_PLAIN else plan

    def _build_object_plan(self, return_type: GraphQLObjectType,
                           field_details_list: Any) -> Completer | None:
        if self._wraps_resolvers() or return_type.is_type_of is not None:
            return None
        grouped, defer_usages, _ = self.collect_subfields(return_type, field_details_list)
        if defer_usages:
            return None
        fields: list[tuple[str, str | None, Any, Completer | None]] = []
        for response_key, sub_details in grouped.items():
            nodes = [details.node for details in sub_details]
            if any(node.directives or node.arguments for node in nodes):
                return None
            name = nodes[0].name.value
            if name == "__typename":
                fields.append((response_key, None, return_type.name, None))
                continue
            field_def = return_type.fields.get(name)
            attribute = _basic_attribute(field_def) if field_def is not None else None
            if attribute is None:
                return None
            completer = self._type_plan(field_def.type, sub_details)
            if completer is None:
                return None
            fields.append((response_key, attribute, None, completer))
        return _object(tuple(fields))

    def _wraps_resolvers(self) -> bool:
        """Strawberry always passes a middleware manager; it wraps resolvers only when an
        extension implements ``resolve`` (tracing does): then every field must run."""
        manager = self.middleware_manager
        return manager is not None and bool(getattr(manager, "_middleware_resolvers", True))

    def _type_plan(self, gql_type: GraphQLOutputType, sub_details: Any) -> Completer | None:
        if is_non_null_type(gql_type):
            assert isinstance(gql_type, GraphQLNonNull)
            inner = self._inner_plan(gql_type.of_type, sub_details)
            return None if inner is None else _non_null(inner)
        inner = self._inner_plan(gql_type, sub_details)
        return None if inner is None else _nullable(inner)

    def _inner_plan(self, gql_type: Any, sub_details: Any) -> Completer | None:
        if is_list_type(gql_type):
            assert isinstance(gql_type, GraphQLList)
            item = self._type_plan(gql_type.of_type, sub_details)
            return None if item is None else _list(item)
        if is_leaf_type(gql_type):
            return _leaf(gql_type)
        if is_object_type(gql_type):
            return self._object_plan(gql_type, sub_details)
        return None  # interfaces and unions: the runtime type is decided per value
