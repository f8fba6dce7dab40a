"""Offer-history aggregates cached until the next write for that user, on Redis.

The aggregate (:class:`~domain.behavior.history.OfferHistorySummary`) changes in two ways only:

* a write for the user: an offer set generated, an offer accepted or declined (withdrawing the
  others), a policy change withdrawing or re-pricing offers;
* the passing of time: an open answer lapses when its offers' ``valid_until`` passes, and an old
  answer leaves the repository's one-year window. The repository returns that moment with the
  summary (:class:`~application.ports.HistorySnapshot`), and the entry expires then.

So an entry lives until the next write for its user, until it changes by itself, or at most
``max_ttl`` seconds (the bound on staleness if an invalidation could not reach Redis).

Every write bumps the user's **generation** (``loan-offers:history-gen:{user_id}``, ``INCR``)
after its commit; a policy change bumps the global **epoch** (``loan-offers:history-epoch``).
An entry (``loan-offers:history:{user_id}``) records the generation and epoch it was computed
under and counts only while both are current. A reader's ``MGET`` of entry, generation and
epoch is one round trip, and hands back the pair it saw as a :data:`HistoryToken`. Filling the
cache after a database read is conditional (a Lua script): the entry is written only if the
generation and epoch are still those of the token, i.e. no write committed after the read
began. Hence no stale entry, whatever the interleaving across processes:

* a write that committed before the database read is in the value;
* a write that commits after it bumps the generation after its commit, so after the token was
  taken: either before the fill (the fill is refused) or after it (the entry stops counting).

The writer of an offer set computes the user's new aggregate in its own transaction and stores
it the same way, bumping the generation at once (:meth:`RedisHistoryCache.written`), so the next
``loanOffers`` of that user reads the history from Redis instead of PostgreSQL.

The entries never go to the in-process level: an accept on another process must be seen at
once, and the generation check needs the Redis round trip anyway. Without Redis,
:class:`InProcessHistoryCache` does the same within one process.

Fails open like the applicant cache: a Redis error is logged and counted, reads become misses
(no token: no fill), and for ``retry_after`` seconds reads and fills skip Redis. Invalidations
and writers' stores always try (they bump generations), so a black-holed Redis adds up to the
client's socket timeout to each write group. A bump that cannot reach Redis at all (Redis
unreachable from this process but not from others) leaves the older entry current for at most
``max_ttl``. The keys are plain Redis keys, one node (no cluster hash tags).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from application.ports import HistorySnapshot, HistoryToken
from domain.behavior.history import OfferHistorySummary

log = logging.getLogger(__name__)

PREFIX = "loan-offers:"
EPOCH_KEY = f"{PREFIX}history-epoch"

# KEYS: entry, generation, epoch. ARGV: token generation, token epoch, value JSON, entry TTL in
# ms (0: do not store), bump (1: INCR the generation first), generation TTL in ms.
# Stores "generation|epoch|json" if the token is still current; a bump makes the write's own
# entry current under the new generation.
_STORE = """
local gen = redis.call('GET', KEYS[2]) or '0'
local epoch = redis.call('GET', KEYS[3]) or '0'
local current = gen == ARGV[1] and epoch == ARGV[2]
if ARGV[5] == '1' then
  gen = tostring(redis.call('INCR', KEYS[2]))
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
if current and ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], gen .. '|' .. epoch .. '|' .. ARGV[3], 'PX', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  return 1
end
if ARGV[5] == '1' then redis.call('DEL', KEYS[1]) end
return 0
"""


def history_to_dict(h: OfferHistorySummary) -> dict[str, Any]:
    return {"offers_seen": h.offers_seen, "answers": h.answers, "accepted": h.accepted,
            "declined": h.declined, "lapsed": h.lapsed,
            "last_accepted_at": None if h.last_accepted_at is None
            else h.last_accepted_at.isoformat()}


def history_from_dict(d: dict[str, Any]) -> OfferHistorySummary:
    at = d["last_accepted_at"]
    return OfferHistorySummary(
        offers_seen=d["offers_seen"], answers=d["answers"], accepted=d["accepted"],
        declined=d["declined"], lapsed=d["lapsed"],
        last_accepted_at=None if at is None else datetime.fromisoformat(at))


def entry_ttl_ms(snapshot: HistorySnapshot, now: datetime, max_ttl_s: float) -> int:
    """How long an entry may live: until it changes by itself, at most ``max_ttl_s``; 0 when
    it is already due (not stored)."""
    seconds = max_ttl_s
    if snapshot.changes_at is not None:
        seconds = min(seconds, (snapshot.changes_at - now).total_seconds())
    return max(0, int(seconds * 1000))


class RedisHistoryCache:
    """The ``HistoryCache`` port on Redis (``client``: a ``redis.asyncio.Redis``, bytes)."""

    def __init__(self, client: Redis, max_ttl_s: float = 300.0, retry_after: float = 1.0,
                 on_error: Callable[[str, BaseException], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._max_ttl = max_ttl_s
        self._gen_ttl_ms = int((2 * max_ttl_s + 60) * 1000)  # outlives every entry it guards
        self._store = client.register_script(_STORE)
        self._retry_after = retry_after
        self._on_error = on_error
        self._monotonic = monotonic
        self._down_until = 0.0
        self.hits = self.misses = self.errors = self.refused = 0

    @property
    def client(self) -> Redis:
        return self._client

    @staticmethod
    def entry_key(user_id: str) -> str:
        return f"{PREFIX}history:{user_id}"

    @staticmethod
    def generation_key(user_id: str) -> str:
        return f"{PREFIX}history-gen:{user_id}"

    #: Keys ``invalidate_all`` of the applicant cache must not delete (see module docstring).
    persistent_keys = frozenset({EPOCH_KEY.encode()})

    async def read(self, user_id: str) -> tuple[OfferHistorySummary | None, HistoryToken]:
        keys = self.read_keys(user_id)
        if keys is None:
            return None, None
        found = await self._call("read", lambda: self._client.mget(keys))
        return (None, None) if found is None else self.decode_read(found)

    # --- the steps of ``read``, for a caller reading Redis itself (``combined_read``) --------

    def read_keys(self, user_id: str) -> tuple[str, str, str] | None:
        """The keys ``read`` fetches (entry, generation, epoch), or ``None`` while Redis is
        skipped after an error."""
        if self._monotonic() < self._down_until:
            return None
        return self.entry_key(user_id), self.generation_key(user_id), EPOCH_KEY

    def decode_read(self, found: Sequence[bytes | None]
                    ) -> tuple[OfferHistorySummary | None, HistoryToken]:
        """What ``read`` returns once Redis answered ``found`` for ``read_keys``."""
        self._down_until = 0.0
        raw, gen, epoch = found
        token = ((gen or b"0").decode(), (epoch or b"0").decode())
        if raw is not None:
            entry_gen, entry_epoch, text = raw.decode().split("|", 2)
            if (entry_gen, entry_epoch) == token:
                try:
                    summary = history_from_dict(json.loads(text))
                except (ValueError, KeyError, TypeError) as exc:  # another format: a miss
                    self._count_error("decode", exc)
                else:
                    self.hits += 1
                    return summary, token
        self.misses += 1
        return None, token

    def read_failed(self, exc: BaseException) -> None:
        """A caller's read of ``read_keys`` failed: count it, skip Redis for ``retry_after``."""
        self._down_until = self._monotonic() + self._retry_after
        self._count_error("read", exc)

    async def fill(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
                   now: datetime) -> None:
        """Store what the database said, unless a write committed since ``token`` was read."""
        if token is None or self._monotonic() < self._down_until:
            return
        await self._call("fill", lambda: self._run(user_id, snapshot, token, now, bump=False))

    async def written(self, entries: Sequence[tuple[str, HistorySnapshot, HistoryToken]],
                      now: datetime) -> None:
        """After a commit that changed these users' history: bump each generation and store
        the aggregate the writing transaction saw, where the token is still current. One
        pipelined round trip for all of them."""
        if not entries:
            return
        calls = [self._store_call(user_id, snapshot, token, now, bump=True)
                 for user_id, snapshot, token in entries]
        await self._call("written", lambda: self._store_all(calls), probe=True)

    async def invalidate_many(self, user_ids: Iterable[str]) -> None:
        """Bump each user's generation (their entries stop counting at once)."""
        users = list(dict.fromkeys(user_ids))
        if not users:
            return

        async def run() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.incr(self.generation_key(user_id))
                    pipe.pexpire(self.generation_key(user_id), self._gen_ttl_ms)
                    pipe.delete(self.entry_key(user_id))
                await pipe.execute()

        await self._call("invalidate", run, probe=True)

    async def invalidate_all(self) -> None:
        await self._call("invalidate", lambda: self._client.incr(EPOCH_KEY), probe=True)

    async def _run(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
                   now: datetime, bump: bool) -> Any:
        keys, args = self._store_call(user_id, snapshot, token, now, bump)
        stored = await self._store(keys=keys, args=args)
        if stored == 0 and not bump:
            self.refused += 1
        return stored

    def _store_call(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
                    now: datetime, bump: bool) -> tuple[list[str], list[Any]]:
        """The keys and arguments of the ``_STORE`` script for one user."""
        gen, epoch = token if token is not None else ("", "")  # no token: never current
        value = json.dumps(history_to_dict(snapshot.summary), separators=(",", ":"))
        ttl = entry_ttl_ms(snapshot, now, self._max_ttl)
        return ([self.entry_key(user_id), self.generation_key(user_id), EPOCH_KEY],
                [gen, epoch, value, ttl, 1 if bump else 0, self._gen_ttl_ms])

    async def _store_all(self, calls: Sequence[tuple[list[str], list[Any]]]) -> None:
        """Run the ``_STORE`` script once per call in one pipelined round trip.

        Not through the registered script object: a pipeline holding one first asks Redis
        ``SCRIPT EXISTS`` on every ``execute``, a second round trip per write group. Redis
        forgets scripts only on a restart or ``SCRIPT FLUSH``; the calls it then answered with
        ``NOSCRIPT`` did not run, so they alone run again after loading the script."""
        results = await self._evalsha_each(calls)
        missing = [call for call, result in zip(calls, results, strict=True)
                   if isinstance(result, NoScriptError)]
        if missing:
            await self._client.script_load(_STORE)
            results = await self._evalsha_each(missing)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def _evalsha_each(self, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._store.sha, len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)

    async def _call(self, operation: str, call: Callable[[], Awaitable[Any]],
                    probe: bool = False) -> Any:
        if not probe and self._monotonic() < self._down_until:
            return None
        try:
            result = await call()
        except Exception as exc:  # fail open: the database is the source of truth
            self._down_until = self._monotonic() + self._retry_after
            self._count_error(operation, exc)
            return None
        self._down_until = 0.0
        return result

    def _count_error(self, operation: str, exc: BaseException) -> None:
        self.errors += 1
        log.warning("history cache %s failed, continuing without it: %r", operation, exc)
        if self._on_error is not None:
            self._on_error(operation, exc)


class InProcessHistoryCache:
    """The same contract within one process (no Redis configured): generations in a dict."""

    def __init__(self, max_ttl_s: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max_ttl = max_ttl_s
        self._monotonic = monotonic
        self._generations: dict[str, int] = {}
        self._entries: dict[str, tuple[HistoryToken, float, OfferHistorySummary]] = {}
        self._epoch = 0
        self.hits = self.misses = self.refused = 0

    persistent_keys: frozenset[bytes] = frozenset()

    def _token(self, user_id: str) -> HistoryToken:
        return str(self._generations.get(user_id, 0)), str(self._epoch)

    async def read(self, user_id: str) -> tuple[OfferHistorySummary | None, HistoryToken]:
        token = self._token(user_id)
        entry = self._entries.get(user_id)
        if entry is not None and entry[0] == token and entry[1] > self._monotonic():
            self.hits += 1
            return entry[2], token
        self.misses += 1
        return None, token

    async def fill(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
                   now: datetime) -> None:
        self._store(user_id, snapshot, token, now, bump=False)

    async def written(self, entries: Sequence[tuple[str, HistorySnapshot, HistoryToken]],
                      now: datetime) -> None:
        for user_id, snapshot, token in entries:
            self._store(user_id, snapshot, token, now, bump=True)

    async def invalidate_many(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._generations[user_id] = self._generations.get(user_id, 0) + 1
            self._entries.pop(user_id, None)

    async def invalidate_all(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def _store(self, user_id: str, snapshot: HistorySnapshot, token: HistoryToken,
               now: datetime, bump: bool) -> None:
        current = token is not None and token == self._token(user_id)
        if bump:
            self._generations[user_id] = self._generations.get(user_id, 0) + 1
        ttl_ms = entry_ttl_ms(snapshot, now, self._max_ttl)
        if current and ttl_ms > 0:
            self._entries[user_id] = (self._token(user_id), self._monotonic() + ttl_ms / 1000,
                                      snapshot.summary)
        elif bump:
            self._entries.pop(user_id, None)
        else:
            self.refused += 1
