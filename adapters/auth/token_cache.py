"""Verified bearer tokens remembered until they expire, so a client's next request with the same
token skips the signature check.

Why: verifying an RS256 token costs ~0.12 ms of CPU (PyJWT parses the header twice and the
payload once, checking base64 character by character, then the RSA signature), about 2.5% of a
``loanOffers`` answer, and a client sends the same token with every request for its lifetime.

What stays exactly as before:

* The key is the whole token string: a token differing in any byte (claims, signature) is a
  different entry and is verified in full.
* Only tokens the wrapped verifier accepted are remembered; a refused token is checked in full
  every time (the same error, the same message).
* A remembered token is answered from here only while ``max(nbf, iat) <= now < exp`` without
  any clock-skew leeway; outside that window (the first or last seconds of its life, which the
  verifier's leeway may still accept) it goes back to the verifier, which decides as it always
  did. So an answer from here is one the verifier would give at that moment, and a token is
  never served past its ``exp``.
* Key rotation: the wrapped verifier's ``key_set_version`` (the JWKS is reloaded when an
  unknown key id arrives) is part of every entry: after a reload, whatever was remembered is
  verified again against the new key set, so a key the identity provider withdrew stops working
  as soon as it did before.
* Bounded: at most ``maxsize`` tokens (least recently used leave first; about 2.5 KB each with
  the token string).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from application.security import Principal, TokenVerifier


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    valid_from: float  # max(nbf, iat): never answered from here before it
    expires_at: float  # exp: never answered from here at or after it
    key_set_version: object


def _validity(principal: Principal) -> tuple[float, float] | None:
    """The token's own window (no leeway); None when it has no usable numeric ``exp``."""
    claims = principal.claims
    exp = claims.get("exp")
    if not _is_number(exp):
        return None
    starts = [claims[name] for name in ("nbf", "iat") if name in claims]
    if not all(_is_number(value) for value in starts):
        return None
    return float(max(starts, default=float("-inf"))), float(exp)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class CachingTokenVerifier:
    """The :class:`TokenVerifier` port over another verifier, with a bounded memory of verified
    tokens (see the module docstring for what is and is not remembered)."""

    def __init__(self, verifier: TokenVerifier, maxsize: int,
                 key_set_version: Callable[[], object] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive (0 means: do not wrap the verifier)")
        self._verifier = verifier
        self._maxsize = maxsize
        self._key_set_version = key_set_version
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self.hits = 0  # read by tests and benchmarks

    async def verify(self, token: str) -> Principal:
        now = self._clock()
        version = self._key_set_version()  # before verifying: a reload meanwhile wins
        entry = self._verified.get(token)
        if entry is not None:
            if (entry.key_set_version == version and entry.valid_from <= now
                    and now < entry.expires_at):
                self._verified.move_to_end(token)
                self.hits += 1
                return entry.principal
            del self._verified[token]
        principal = await self._verifier.verify(token)
        self._remember(token, principal, version)
        return principal

    def _remember(self, token: str, principal: Principal, version: object) -> None:
        window = _validity(principal)
        if window is None:
            return
        self._verified[token] = _Verified(principal, window[0], window[1], version)
        if len(self._verified) > self._maxsize:
            self._verified.popitem(last=False)

    @property
    def size(self) -> int:
        """Tokens remembered now. (Not ``__len__``: an empty cache must still be truthy where
        code writes ``verifier or fallback``.)"""
        return len(self._verified)
