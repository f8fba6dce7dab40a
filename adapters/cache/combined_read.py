"""The applicant and their offer-history aggregate read from Redis in one round trip.

A ``loanOffers`` request needs both. Read one after the other they cost two round trips (the
applicant's ``GET``, the history's ``MGET`` of entry, generation and epoch); here one ``MGET``
of the four keys answers both, and each cache decodes its part exactly as its own read would
(the applicant's entry stays sealed in Redis and is opened by the applicant cache; the history's
token is the generation and epoch of that same ``MGET``, so the fill and write guarantees of
``history_cache`` are unchanged).

An applicant found in the in-process level (L1) needs no Redis for itself: then only the history
is read. Without Redis, or while either cache skips Redis after an error, the two caches are
read one after the other as before (each applies its own retry gap). An error of the combined
read counts for both caches and opens both retry gaps: a miss for both, never raised.
"""

from __future__ import annotations

from adapters.cache.applicant_cache import AiocacheApplicantCache
from adapters.cache.history_cache import RedisHistoryCache
from application.ports import HistoryCache, HistoryToken
from domain.applicant import Applicant
from domain.behavior.history import OfferHistorySummary


class CombinedApplicantHistoryRead:
    """The ``ApplicantHistoryCache`` port over the two caches (one ``MGET`` when both are on
    Redis; the history cache's client, which is the applicant cache's Redis level's)."""

    def __init__(self, applicants: AiocacheApplicantCache, history: HistoryCache) -> None:
        self._applicants = applicants
        self._history = history

    async def read(self, user_id: str
                   ) -> tuple[Applicant | None, OfferHistorySummary | None, HistoryToken]:
        applicant = await self._applicants.get_local(user_id)
        history = self._history
        if applicant is not None or not isinstance(history, RedisHistoryCache):
            applicant = applicant or await self._applicants.get(user_id)
            return applicant, *(await history.read(user_id))
        applicant_key = self._applicants.l2_key(user_id)
        history_keys = history.read_keys(user_id)
        if applicant_key is None or history_keys is None:
            return await self._applicants.get(user_id), *(await history.read(user_id))
        try:
            found = await history.client.mget((applicant_key, *history_keys))
        except Exception as exc:  # fail open, as each cache's own read does
            self._applicants.l2_failed("get", exc)
            history.read_failed(exc)
            return None, None, None
        applicant = await self._applicants.from_l2(user_id, found[0])
        return applicant, *history.decode_read(found[1:])
