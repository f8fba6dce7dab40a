"""Security headers on every HTTP response, and the CORS policy.

The headers are computed once, when the app is built: per response the middleware only adds
the ones the response did not set itself (the GraphiQL page carries its own, stricter-for-a-page
Content-Security-Policy). Pure ASGI, no request or response objects: it runs on every request.

``Strict-Transport-Security`` is only meaningful over TLS (browsers ignore it on plain HTTP, and
sending it from a plain-HTTP development server would pin ``localhost`` to HTTPS): it is added
when the request arrived over TLS (``scope["scheme"] == "https"``: served with
``--ssl-certfile``, or ``X-Forwarded-Proto: https`` from a trusted proxy) or always when the
deployment says a TLS-terminating proxy sits in front (``LOAN_OFFERS_BEHIND_TLS_PROXY``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Header = tuple[bytes, bytes]

# An API answer is JSON, never a document to render, frame or embed: the strictest policies fit.
API_HEADERS: tuple[Header, ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
    # Applies to no-cors loads (<script>, <img>) from other sites; CORS reads are governed by
    # the CORS policy below, so allowed origins still read answers.
    (b"cross-origin-resource-policy", b"same-origin"),
    # Answers hold personal and pricing data: no shared or browser cache keeps them.
    (b"cache-control", b"no-store"),
)

# Request headers a cross-origin page may send, response headers it may read.
CORS_REQUEST_HEADERS = ("authorization", "content-type", "x-request-id")
CORS_EXPOSED_HEADERS = ("x-request-id", "x-instance-id", "retry-after")


@dataclass(frozen=True)
class TransportSecurity:
    hsts_max_age_s: int = 31_536_000
    hsts_include_subdomains: bool = True
    # A TLS-terminating proxy in front: every request reached the client over TLS.
    behind_tls_proxy: bool = False
    cors_allowed_origins: tuple[str, ...] = ()
    cors_max_age_s: int = 600

    def hsts_value(self) -> bytes | None:
        if self.hsts_max_age_s <= 0:
            return None
        value = f"max-age={self.hsts_max_age_s}"
        return (value + "; includeSubDomains" if self.hsts_include_subdomains else value).encode()


class SecurityHeaders:
    """The headers a response gets, worked out once (shared with graphql_api/edge.py)."""

    def __init__(self, security: TransportSecurity) -> None:
        hsts = security.hsts_value()
        self._plain = API_HEADERS
        self._tls = API_HEADERS + (((b"strict-transport-security", hsts),) if hsts else ())
        self._always_tls = security.behind_tls_proxy

    def for_scope(self, scope: Scope) -> tuple[Header, ...]:
        return self._tls if self._always_tls or scope.get("scheme") == "https" else self._plain


class SecureHeadersMiddleware:
    def __init__(self, app: ASGIApp, security: TransportSecurity) -> None:
        self.app = app
        self.headers = SecurityHeaders(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers.for_scope(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = merged(message.get("headers", ()), extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def merged(headers: Sequence[Header], extra: Sequence[Header]) -> list[Header]:
    """``headers`` and those of ``extra`` whose name the response did not set itself."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(header for header in extra if header[0] not in present)]


def cors_middleware(security: TransportSecurity) -> Middleware | None:
    """Starlette's CORS middleware for the configured origins; none (no CORS headers, preflights
    unanswered) when no origin is configured. Bearer tokens, not cookies: no credentials mode."""
    if not security.cors_allowed_origins:
        return None
    return Middleware(CORSMiddleware, allow_origins=list(security.cors_allowed_origins),
                      allow_methods=["GET", "POST"], allow_headers=list(CORS_REQUEST_HEADERS),
                      expose_headers=list(CORS_EXPOSED_HEADERS), allow_credentials=False,
                      max_age=security.cors_max_age_s)
