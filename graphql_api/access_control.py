"""Enforcement of ``authorization.py`` before any resolver runs: the transport (a subscription
needs the WebSocket), role, object ownership (no BOLA), restricted fields, then the rate budget;
after execution, the audit trail.

Runs in the schema extension's ``on_execute`` hook, which Strawberry calls for queries, mutations
and subscriptions alike, so one check covers HTTP and WebSocket. The whole operation is refused
when any root field or selected field is not allowed: a partial answer would leak which parts exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.language import ListValueNode, NullValueNode
from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from application.security import Principal, Role
from graphql_api import audit
from graphql_api.authorization import (
    FIELDS,
    META_FIELDS,
    OPERATIONS,
    ArgumentOwner,
    Audit,
    OfferOwner,
    OperationRule,
)
from graphql_api.errors import call, typed_error
from graphql_api.retry import retry_read

log = logging.getLogger("loan_offers.security")
ROOT_TYPE = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


@dataclass(frozen=True)
class RootField:
    key: str              # e.g. "Query.loanOffers"
    node: FieldNode
    rule: OperationRule | None


@dataclass(frozen=True)
class DocumentAnalysis:
    operation_type: str
    roots: tuple[RootField, ...]
    restricted: tuple[tuple[str, frozenset[Role]], ...]  # restricted fields the document selects


class _SelectedFields(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.selected: set[str] = set()

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.type_info.get_parent_type()
        if parent is not None:
            self.selected.add(f"{parent.name}.{node.name.value}")


def _root_fields(selection_set: SelectionSetNode,
                 fragments: dict[str, FragmentDefinitionNode],
                 seen: frozenset[str] = frozenset()) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # cycles are a validation error anyway
                yield from _root_fields(fragments[name].selection_set, fragments, seen | {name})


class DocumentAnalyser:
    """What a document asks for, cached per (document, operation name): bounded LRU."""

    def __init__(self, schema: GraphQLSchema, maxsize: int = 1024) -> None:
        self._schema = schema
        self._cache: OrderedDict[tuple[str, str | None], DocumentAnalysis] = OrderedDict()
        self._maxsize = maxsize

    def analyse(self, query: str, document: Any, operation_name: str | None) -> DocumentAnalysis:
        key = (query, operation_name)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        analysis = self._analyse(document, operation_name)
        self._cache[key] = analysis
        if len(self._cache) > self._maxsize:
            self._cache.popitem(last=False)
        return analysis

    def _analyse(self, document: Any, operation_name: str | None) -> DocumentAnalysis:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None and len(operations) > 1:
            raise several_operations(operations)
        operation = next((o for o in operations if operation_name is None
                          or (o.name and o.name.value == operation_name)), None)
        if operation is None:
            raise typed_error("BAD_USER_INPUT", "unknown operation")
        fragments = {d.name.value: d for d in document.definitions
                     if isinstance(d, FragmentDefinitionNode)}
        root = ROOT_TYPE[operation.operation.value]
        roots = tuple(
            RootField(f"{root}.{node.name.value}", node, OPERATIONS.get(f"{root}.{node.name.value}"))
            for node in _root_fields(operation.selection_set, fragments)
            if node.name.value not in META_FIELDS
        )
        type_info = TypeInfo(self._schema)
        visitor = _SelectedFields(type_info)
        visit(document, TypeInfoVisitor(type_info, visitor))
        restricted = tuple(sorted((name, FIELDS[name]) for name in visitor.selected
                                  if name in FIELDS))
        return DocumentAnalysis(operation.operation.value, roots, restricted)


_MISSING = object()


def argument_value(node: FieldNode, path: tuple[str, ...], variables: dict[str, Any]) -> Any:
    """The value at ``path`` in a field's arguments (GraphQL names), variables substituted."""
    arguments = {a.name.value: a.value for a in node.arguments or ()}
    value: Any = arguments.get(path[0], _MISSING)
    for step in (*path[1:], None):
        value = _literal(value, variables)
        if step is None or value is _MISSING:
            return value
        if isinstance(value, ObjectValueNode):
            value = next((f.value for f in value.fields if f.name.value == step), _MISSING)
        elif isinstance(value, dict):
            value = value.get(step, _MISSING)
        else:
            return _MISSING
    return value  # pragma: no cover - the loop always returns


def _literal(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, VariableNode):
        return variables.get(value.name.value, _MISSING)
    if isinstance(value, NullValueNode | ListValueNode):
        return _MISSING
    if isinstance(value, ValueNode) and not isinstance(value, ObjectValueNode):
        return getattr(value, "value", _MISSING)
    return value


def inputs_hash(analysis: DocumentAnalysis, variables: dict[str, Any]) -> str:
    """SHA-256 of the operation's root fields and variables: proves what was asked without
    storing it (the arguments may carry PII)."""
    payload = json.dumps({"fields": [r.key for r in analysis.roots], "variables": variables},
                         sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def several_operations(operations: list[OperationDefinitionNode]) -> GraphQLError:
    """The GraphQL spec's GetOperation (section 6.1): with several operations and no
    ``operationName`` the request is an error. Strawberry would run the first one, so a client
    that forgot the name got an answer to a question it may not have meant."""
    names = ", ".join(o.name.value if o.name else "(anonymous)" for o in operations)
    return typed_error("BAD_REQUEST", f"the document has {len(operations)} operations ({names}): "
                       "name the one to run in operationName")


def subscription_over_http() -> GraphQLError:
    """Strawberry would run a POSTed subscription as a query, and its event stream cannot be an
    HTTP answer (no HTTP streaming protocol is enabled): refused by name, before it costs a rate
    budget or reaches a resolver, instead of failing inside as an "Internal error"."""
    return typed_error("METHOD_NOT_ALLOWED",
                       "subscriptions run over a WebSocket to /graphql (graphql-transport-ws or "
                       "graphql-ws); POST runs queries and mutations")


def forbidden(message: str, **extensions: object) -> GraphQLError:
    return typed_error("FORBIDDEN", message, **extensions)


def _requested_operation(ctx: Any) -> str | None:
    """The ``operationName`` the client sent. Strawberry's ``operation_name`` answers the first
    operation's name when none was sent (it keeps the sent one privately; should that name change,
    this falls back to Strawberry's choice and the hardening test of several operations fails)."""
    return getattr(ctx, "_provided_operation_name", ctx.operation_name)


class AccessControl(SchemaExtension):
    """One instance per operation (Strawberry calls the factory for each)."""

    def __init__(self, analyser: DocumentAnalyser) -> None:
        super().__init__()
        self._analyser = analyser

    async def on_execute(self) -> Any:  # type: ignore[override]
        ctx = self.execution_context
        context = ctx.context
        variables = dict(ctx.variables or {})
        analysis = self._analyser.analyse(ctx.query or "", ctx.graphql_document,
                                          _requested_operation(ctx))
        if analysis.operation_type == "subscription" and isinstance(
                getattr(context, "request", None), Request):
            raise subscription_over_http()
        principal: Principal | None = getattr(context, "principal", None)
        if principal is None:
            raise typed_error("UNAUTHENTICATED", "a bearer token is required")
        try:
            owners = await self._authorise(principal, analysis, variables, context)
        except GraphQLError as refusal:
            await self._audit_refusal(principal, analysis, variables, context, refusal)
            raise
        note = SecurityNote(principal, analysis, variables, owners)
        context.extras["security"] = note
        if not principal.is_staff:
            # use cases check it again (defence in depth): a customer acts as themselves only
            context.extras["acting_user_id"] = principal.subject
        await self._charge(principal, analysis, context)
        yield
        await self._audit(note, context, ctx.result)

    async def _audit(self, note: SecurityNote, context: Any, result: Any) -> None:
        roots = audit_worthy(note)
        if not roots:
            return
        errors = getattr(result, "errors", None) if result is not None else None
        details = context.extras.get("audit", {})
        digest = inputs_hash(note.analysis, note.variables)
        entries = []
        for root in roots:
            key = response_key(root.node)
            entries.append(audit.entry(
                context, actor=note.principal.subject, role=note.principal.primary_role,
                action=root.key, resource=_resource(note.owners.get(key), root, note.variables),
                outcome=audit.outcome_of(key, errors) if result is not None else "SUBSCRIBED",
                inputs_hash=digest, details=details.get(key)))
        await audit.record(context, entries)

    async def _audit_refusal(self, principal: Principal, analysis: DocumentAnalysis,
                             variables: dict[str, Any], context: Any,
                             refusal: GraphQLError) -> None:
        code = str((refusal.extensions or {}).get("code", "FORBIDDEN"))
        digest = inputs_hash(analysis, variables)
        await audit.record(context, [audit.entry(
            context, actor=principal.subject, role=principal.primary_role, action=root.key,
            resource=_resource(None, root, variables), outcome=code, inputs_hash=digest,
            details={"reason": refusal.message[:200]}) for root in analysis.roots])

    async def _authorise(self, principal: Principal, analysis: DocumentAnalysis,
                         variables: dict[str, Any], context: Any) -> dict[str, str | None]:
        owners: dict[str, str | None] = {}
        for root in analysis.roots:
            rule = root.rule
            if rule is None:
                raise forbidden(f"{root.key} has no authorisation rule", operation=root.key)
            granting = principal.roles & rule.roles
            if not granting:
                raise forbidden(f"{principal.primary_role} may not call {root.key}",
                                operation=root.key)
            owner = await self._owner(rule, root.node, variables, context)
            owners[response_key(root.node)] = owner
            if granting == {Role.CUSTOMER} and rule.owner is not None \
                    and owner is not None and owner != principal.subject:
                raise forbidden(f"{root.key}: a customer may act on their own resources only",
                                operation=root.key)
            if granting == {Role.CUSTOMER} and rule.owner is not None and owner is None \
                    and isinstance(rule.owner, ArgumentOwner):
                raise forbidden(f"{root.key}: no user id to check", operation=root.key)
        for name, roles in analysis.restricted:
            if not principal.roles & roles:
                raise forbidden(f"{name} is not available to {principal.primary_role}",
                                field=name)
        return owners

    async def _owner(self, rule: OperationRule, node: FieldNode, variables: dict[str, Any],
                     context: Any) -> str | None:
        if isinstance(rule.owner, ArgumentOwner):
            value = argument_value(node, rule.owner.path, variables)
            return None if value is _MISSING or value is None else str(value)
        if isinstance(rule.owner, OfferOwner):
            offer_id = argument_value(node, (rule.owner.argument,), variables)
            if offer_id is _MISSING or offer_id is None:
                return None
            get_offer = context.services.get_offer
            try:
                offer = await call(retry_read(lambda: get_offer.execute(str(offer_id)),
                                              getattr(context, "read_attempts", 1)))
            except GraphQLError as exc:
                if (exc.extensions or {}).get("code") == "NOT_FOUND":
                    return None  # the resolver answers NOT_FOUND itself
                raise
            return offer.user_id
        return None

    async def _charge(self, principal: Principal, analysis: DocumentAnalysis,
                      context: Any) -> None:
        limiter = getattr(context.services, "rate_limiter", None)
        if limiter is None:
            return
        cost = sum(r.rule.cost for r in analysis.roots if r.rule is not None) or 1
        mutations = len(analysis.roots) if analysis.operation_type == "mutation" else 0
        key = principal.subject if not principal.dev_anonymous else f"ip:{context.client_ip}"
        decision = await limiter.charge(key, cost, mutations)
        if not decision.allowed:
            response = getattr(context, "response", None)
            if response is not None:
                response.status_code = 429
                response.headers["Retry-After"] = str(decision.retry_after_s)
            raise typed_error("RATE_LIMITED", "rate limit exceeded; retry later",
                              retryAfter=decision.retry_after_s)


@dataclass(frozen=True)
class SecurityNote:
    """What access control learnt about the operation, kept for the audit trail."""

    principal: Principal
    analysis: DocumentAnalysis
    variables: dict[str, Any]
    owners: dict[str, str | None]


def response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _resource(owner: str | None, root: RootField, variables: dict[str, Any]) -> str:
    """Ids only: the customer concerned and, for offer operations, the offer."""
    parts = [f"user:{owner}"] if owner else []
    rule = root.rule
    if rule is not None and isinstance(rule.owner, OfferOwner):
        offer_id = argument_value(root.node, (rule.owner.argument,), variables)
        if offer_id is not _MISSING and offer_id is not None:
            parts.append(f"offer:{offer_id}")
    elif owner is None and rule is not None and isinstance(rule.owner, ArgumentOwner):
        value = argument_value(root.node, rule.owner.path, variables)
        if value is not _MISSING and value is not None:
            parts.append(f"user:{value}")
    return " ".join(parts) or "-"


def audit_worthy(note: SecurityNote) -> list[RootField]:
    chosen = []
    for root in note.analysis.roots:
        rule = root.rule
        if rule is None or rule.audit is Audit.NEVER:
            continue
        key = response_key(root.node)
        acting_for_other = note.owners.get(key) != note.principal.subject
        if rule.audit is Audit.ALWAYS or acting_for_other:
            chosen.append(root)
    return chosen
