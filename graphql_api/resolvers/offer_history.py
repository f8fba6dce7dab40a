"""Query.offerHistory: a customer's offers, newest first, as a Relay connection."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_api.context import GraphQLContext
from graphql_api.errors import call
from graphql_api.types import LoanOffer


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="Always false: the history pages forward only (first/after)")
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class OfferEdge:
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after it")
    node: LoanOffer


@strawberry.type(description="A page of a customer's offers, newest first.")
class OfferConnection:
    edges: list[OfferEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="All of the customer's offers")


@strawberry.type
class OfferHistoryQueries:
    @strawberry.field(description="A customer's offers, newest first: `first` 1-100 (default "
                                  "20), `after` an `endCursor` of a previous page.")
    async def offer_history(self, info: Info[GraphQLContext, None], user_id: strawberry.ID,
                            first: int | None = None, after: str | None = None
                            ) -> OfferConnection:
        page = await call(info.context.services.offer_history.execute(str(user_id), first, after))
        edges = [OfferEdge(cursor=cursor, node=LoanOffer.of(offer))
                 for offer, cursor in zip(page.offers, page.cursors, strict=True)]
        return OfferConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, has_previous_page=False,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=page.end_cursor),
            total_count=page.total,
        )
