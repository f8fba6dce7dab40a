"""Who is calling: a bearer token on HTTP (``Authorization: Bearer ...``) or in the WebSocket
``connection_init`` payload (``{"Authorization": "Bearer ..."}``; ``authorization`` or ``token``
work too).

No token: the prod profile answers HTTP 401 (WebSocket: close 4403). A WebSocket lives no longer
than the token it authenticated with: when ``exp`` passes, the server closes it with 4403
(``TOKEN_EXPIRED_CLOSE_CODE``, graphql-transport-ws' "Forbidden"; the same code for graphql-ws)
and the client reconnects with a fresh token. The dev profile, when
``dev_anonymous`` is on, runs the request as :data:`DEV_PRINCIPAL`, a staff stand-in, and logs a
warning each time so nobody mistakes it for a secured deployment. A token that fails verification
is refused in every profile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import JSONResponse

from application.security import Principal, Role, TokenVerifier, Unauthenticated

log = logging.getLogger("loan_offers.security")

DEV_PRINCIPAL = Principal(subject="dev-anonymous", roles=frozenset({Role.AGENT, Role.ANALYST,
                                                                    Role.ADMIN}),
                          dev_anonymous=True)


@dataclass(frozen=True)
class Authenticator:
    verifier: TokenVerifier
    dev_anonymous: bool = False

    async def authenticate(self, credentials: str | None) -> Principal:
        """The principal for an ``Authorization`` value (``Bearer <jwt>`` or a bare token)."""
        token = bearer_token(credentials)
        if token is None:
            if self.dev_anonymous:
                _warn_anonymous()
                return DEV_PRINCIPAL
            raise Unauthenticated("a bearer token is required")
        return await self.verifier.verify(token)


_last_warning = [float("-inf")]
WARNING_INTERVAL_S = 60.0


def _warn_anonymous() -> None:
    """Loud but not a flood: at most once a minute per process."""
    now = time.monotonic()
    if now - _last_warning[0] >= WARNING_INTERVAL_S:
        _last_warning[0] = now
        log.warning("DEV PROFILE: requests without a token run as the anonymous dev staff "
                    "principal (never in prod; LOAN_OFFERS_AUTH_DEV_ANONYMOUS=false turns it off)")


#: Close code of a WebSocket whose token expired (graphql-transport-ws "Forbidden").
TOKEN_EXPIRED_CLOSE_CODE = 4403


def token_lifetime_s(principal: Principal, now: float) -> float | None:
    """Seconds until the principal's token expires (its ``exp`` claim, without the verifier's
    clock-skew leeway: a connection never outlives its token); None without an expiry (the dev
    profile's anonymous stand-in)."""
    exp = principal.claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp) - now
    return None


def bearer_token(credentials: str | None) -> str | None:
    if credentials is None:
        return None
    credentials = credentials.strip()
    if not credentials:
        return None
    scheme, _, rest = credentials.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return credentials if " " not in credentials else None


def connection_credentials(params: Mapping[str, object] | None) -> str | None:
    for key in ("Authorization", "authorization", "token"):
        value = (params or {}).get(key)
        if isinstance(value, str):
            return value
    return None


def unauthenticated_response(message: str, request_id: str) -> JSONResponse:
    """HTTP 401 with a GraphQL-shaped body, so clients handle it like any other typed error."""
    body = {"data": None, "errors": [{"message": message, "extensions": {
        "code": "UNAUTHENTICATED", "requestId": request_id}}]}
    return JSONResponse(body, status_code=401, headers={
        "WWW-Authenticate": 'Bearer realm="loan-offers", error="invalid_token"'})
