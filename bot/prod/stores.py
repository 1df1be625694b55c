"""Tracker and lock stores for production (endpoints.prod.yml names them).

A PostgreSQL or Redis restart takes seconds. These stores retry for a while (TRACKER_RETRY_SECONDS,
REDIS_RETRY_SECONDS) so that messages arriving meanwhile are only delayed, then fail loudly so that
the channel apologises ("temporarily unavailable, please try again").

Rasa on its own wraps every tracker store in FailSafeTrackerStore, which on a database error carries
on with an empty in-memory tracker: the user gets an answer without context and the message never
reaches PostgreSQL (and a later save can skip events, since the SQL store saves "events beyond the
count already stored"). `keep_failures_visible()` turns that wrapper off for our store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis.exceptions
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore, TicketLock
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import DBAPIError, OperationalError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StoreUnavailable(RuntimeError):
    """PostgreSQL or Redis stayed unreachable for the whole retry budget."""


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, "") or default))
    except ValueError:
        return default


def _db_down(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _redis_down(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:  # Rasa wraps Redis errors in LockError
        if isinstance(seen, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def retrying(
    what: str, call: Callable[[], Awaitable[T]], transient: Callable[[BaseException], bool], budget: float
) -> T:
    """`await call()`, retried with backoff while it fails transiently, for up to `budget` seconds."""
    deadline = time.monotonic() + budget
    delay = 0.2
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(f"{what} unavailable for {budget:.0f} s: {exc}") from exc
            logger.warning("%s unavailable (%s); retrying in %.1f s", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class ResilientSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store, retrying while the database is unreachable, then raising."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_seconds = _seconds("TRACKER_RETRY_SECONDS", 15)

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        return await retrying("tracker store", call, _db_down, self.retry_seconds)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._retry(lambda: SQLTrackerStore.retrieve(self, sender_id))

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return await self._retry(lambda: SQLTrackerStore.retrieve_full_tracker(self, conversation_id))

    async def keys(self) -> Any:
        return await self._retry(lambda: SQLTrackerStore.keys(self))

    async def save(self, tracker: DialogueStateTracker) -> None:
        # Safe to repeat: each attempt stores only the events beyond those already in the database.
        await self._retry(lambda: SQLTrackerStore.save(self, tracker))


class ResilientRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store, retrying while Redis is unreachable, then raising."""

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa builds a lock store named by module path
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs, **kwargs}
        kwargs["password"] = kwargs.get("password") or None
        kwargs.setdefault("socket_timeout", _seconds("REDIS_SOCKET_TIMEOUT", 2))
        super().__init__(**kwargs)
        self.retry_seconds = _seconds("REDIS_RETRY_SECONDS", 10)

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        return await retrying("lock store", call, _redis_down, self.retry_seconds)

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncIterator[TicketLock]:
        async def issue() -> int:
            return self.issue_ticket(conversation_id, lock_lifetime)

        ticket = await self._retry(issue)
        try:
            yield await self._retry(lambda: self._acquire_lock(conversation_id, ticket, wait_time_in_seconds))
        finally:
            await self._release(conversation_id, ticket)

    async def _release(self, conversation_id: str, ticket: int) -> None:
        """Best effort: the message was handled already, and a restarted Redis holds no locks."""

        async def cleanup() -> None:
            self.cleanup(conversation_id, ticket)

        try:
            await self._retry(cleanup)
        except Exception:
            logger.exception("could not release the lock of %s; it expires by itself", conversation_id)


def keep_failures_visible() -> None:
    """Make Rasa use ResilientSQLTrackerStore as it is, not inside FailSafeTrackerStore (see above)."""
    from rasa.core.agent import Agent

    original = Agent._create_tracker_store
    if getattr(original, "_kakehashi", False):
        return

    def create(store: Any, domain: Any) -> Any:
        if isinstance(store, ResilientSQLTrackerStore):
            store.domain = domain
            return store
        return original(store, domain)

    create._kakehashi = True  # type: ignore[attr-defined]
    Agent._create_tracker_store = staticmethod(create)
