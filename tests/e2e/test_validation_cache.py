"""Validated documents are reused across requests, and the document limits still hold."""

from __future__ import annotations

from strawberry.schema import schema as schema_module

from graphql_api.schema import SchemaOptions, build_schema

QUERY = '{ offer(offerId: "nope") { offerId roi } }'


async def test_the_same_document_is_validated_once() -> None:
    schema = build_schema(SchemaOptions(introspection=False, max_aliases=3))
    validated: list[object] = []

    real = schema_module.validate_document

    def counting(*args, **kwargs):
        validated.append(args[1])
        return real(*args, **kwargs)

    schema_module.validate_document = counting
    try:  # a fresh schema has its own, empty cache
        for _ in range(3):
            await schema.execute(QUERY, context_value=None)
    finally:
        schema_module.validate_document = real
    assert len(validated) == 1


async def test_alias_and_depth_limits_still_apply_with_the_shared_rules() -> None:
    schema = build_schema(SchemaOptions(introspection=False, max_aliases=3, max_depth=2))
    aliases = "{ " + " ".join(f'a{i}: offer(offerId: "x") {{ offerId }}' for i in range(4)) + " }"
    for _ in range(2):  # the second run comes from the validation cache
        result = await schema.execute(aliases)
        assert result.errors and "4 aliases found" in result.errors[0].message
    deep = '{ offer(offerId: "x") { explanation { priceResponse { slope } } } }'
    result = await schema.execute(deep)
    assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
