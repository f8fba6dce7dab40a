"""Automatic persisted queries (Apollo's APQ protocol): a client sends the SHA-256 of its
document instead of the document.

Why: the full ``loanOffers`` selection is about 1 KB of query text on every request; with APQ
a client sends ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}``
and its variables only. An unknown hash answers ``PERSISTED_QUERY_NOT_FOUND``; the client then
sends the document with the same extension once, the server checks that the document hashes
to the given value (``PERSISTED_QUERY_HASH_MISMATCH`` otherwise) and remembers it. Apollo
Client, urql and Relay speak this protocol.

The store is per process, bounded (least recently used documents leave first), so endless
distinct documents cannot grow memory; a replica that has not seen a hash asks the client once.
Every document still goes through the same parsing, limits and validation as a plain one.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from graphql import GraphQLError
from strawberry.types import ExecutionContext

SUPPORTED_VERSION = 1


class PersistedQueryStore:
    """SHA-256 hex -> document, least recently used evicted beyond ``maxsize``."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._documents: OrderedDict[str, str] = OrderedDict()

    def get(self, digest: str) -> str | None:
        document = self._documents.get(digest)
        if document is not None:
            self._documents.move_to_end(digest)
        return document

    def put(self, digest: str, document: str) -> None:
        self._documents[digest] = document
        self._documents.move_to_end(digest)
        while len(self._documents) > self.maxsize:
            self._documents.popitem(last=False)

    def __len__(self) -> int:
        return len(self._documents)


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def resolve_persisted_query(context: ExecutionContext, store: PersistedQueryStore) -> None:
    """Before parsing (``document_setup.DocumentSetup``): ``extensions.persistedQuery`` into the
    operation's document, or the protocol's typed errors."""
    persisted = (context.operation_extensions or {}).get("persistedQuery")
    if persisted is None:
        return
    if not isinstance(persisted, dict) or persisted.get("version") != SUPPORTED_VERSION:
        raise _error("PERSISTED_QUERY_NOT_SUPPORTED",
                     f"persistedQuery: only version {SUPPORTED_VERSION} is supported")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise _error("BAD_USER_INPUT", "persistedQuery.sha256Hash must be 64 hex digits")
    digest = digest.lower()
    if context.query:
        if hashlib.sha256(context.query.encode()).hexdigest() != digest:
            raise _error("PERSISTED_QUERY_HASH_MISMATCH",
                         "persistedQuery.sha256Hash is not the SHA-256 of the query")
        store.put(digest, context.query)
        return
    document = store.get(digest)
    if document is None:
        raise _error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
    context.query = document
