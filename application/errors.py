"""Expected failures of the use cases; the GraphQL layer maps each to a stable error code."""

from __future__ import annotations


class ApplicationError(Exception):
    # Raised only as one of the subclasses below; were the base raised itself, the client would
    # read the code of an unexpected failure.
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ApplicationError):
    code = "NOT_FOUND"


class InvalidInput(ApplicationError):
    code = "BAD_USER_INPUT"


class Conflict(ApplicationError):
    code = "CONFLICT"


class Forbidden(ApplicationError):
    code = "FORBIDDEN"


class Unavailable(ApplicationError):
    code = "UNAVAILABLE"
