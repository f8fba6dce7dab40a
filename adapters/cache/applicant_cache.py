"""Applicant cache on aiocache: an in-process first level and an optional shared second level.

What is cached: applicants (credit profile, PII, behaviour metrics), keyed ``applicant:{user_id}``
as JSON. L1 is a small in-process TTL map (default 5 s) so hot applicants skip even Redis;
L2 is Redis when ``LOAN_OFFERS_REDIS_URL`` is set (default TTL 300 s). Every write path that changes
an applicant calls ``invalidate`` (both levels). The cache fails open: a backend error, timeout or
outage is logged, counted and treated as a miss; it never fails a request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from aiocache.base import BaseCache

from adapters.codecs import applicant_from_dict, applicant_to_dict
from domain.applicant import Applicant

log = logging.getLogger(__name__)


class CacheStats:
    """Counters read by the metrics adapter."""

    def __init__(self) -> None:
        self.hits = {"l1": 0, "l2": 0}
        self.misses = 0
        self.errors = 0


class AiocacheApplicantCache:
    def __init__(self, l1: BaseCache, l1_ttl: float, l2: BaseCache | None = None,
                 l2_ttl: float = 300.0, stats: CacheStats | None = None,
                 on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._l1, self._l1_ttl = l1, l1_ttl
        self._l2, self._l2_ttl = l2, l2_ttl
        self.stats = stats or CacheStats()
        self._on_error = on_error

    @staticmethod
    def key(user_id: str) -> str:
        return f"applicant:{user_id}"

    async def get(self, user_id: str) -> Applicant | None:
        key = self.key(user_id)
        hit = await self._safe("get", self._l1.get(key))
        if hit is not None:
            self.stats.hits["l1"] += 1
            return applicant_from_dict(json.loads(hit))
        if self._l2 is not None:
            raw = await self._safe("get", self._l2.get(key))
            if raw is not None:
                self.stats.hits["l2"] += 1
                await self._safe("set", self._l1.set(key, raw, ttl=self._l1_ttl))
                return applicant_from_dict(json.loads(raw))
        self.stats.misses += 1
        return None

    async def put(self, applicant: Applicant) -> None:
        key, raw = self.key(applicant.user_id), json.dumps(applicant_to_dict(applicant))
        await self._safe("set", self._l1.set(key, raw, ttl=self._l1_ttl))
        if self._l2 is not None:
            await self._safe("set", self._l2.set(key, raw, ttl=self._l2_ttl))

    async def invalidate(self, user_id: str) -> None:
        key = self.key(user_id)
        await self._safe("delete", self._l1.delete(key))
        if self._l2 is not None:
            await self._safe("delete", self._l2.delete(key))

    async def _safe(self, operation: str, awaitable):
        try:
            return await awaitable
        except Exception as exc:  # fail open: the database is the source of truth
            self.stats.errors += 1
            log.warning("cache %s failed, continuing without cache: %r", operation, exc)
            if self._on_error is not None:
                self._on_error(operation, exc)
            return None
