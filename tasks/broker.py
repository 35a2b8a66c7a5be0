"""The task broker, chosen from settings: Redis streams in production, in-memory when embedded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from settings import Settings, get_settings
from tasks.redis_retry import reconnecting

logger = logging.getLogger(__name__)

# The stream only needs to hold messages not yet delivered; acknowledged ones are history.
STREAM_MAXLEN = 100_000
RECONNECT_SECONDS = 1.0
# A lock lost with a restarted Redis cannot be released: the new server no longer has it.
LOST_CONNECTION = (RedisConnectionError, RedisTimeoutError, OSError, LockError)


class ReconnectingStreamBroker(RedisStreamBroker):
    """A RedisStreamBroker whose reader outlives Redis going away (it overrides the private
    `_ack_generator` and calls `_declare_consumer_group`, as of taskiq-redis 1.2.4;
    tests/test_internals.py checks they are still there).

    taskiq-redis lets the first connection error end `listen()`, which stops the worker
    process and its running conversions; and a Redis that restarts without its data has no
    consumer group any more (NOGROUP). Here the reader waits for Redis, declares the group
    again and runs `on_reset` hooks, since the queued messages were lost with the server.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.on_reset: list[Callable[[], Awaitable[None]]] = []

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Messages of the stream, across Redis outages and restarts."""
        reset = False
        while True:
            try:
                if reset:
                    await self._declare_consumer_group()
                    reset = False
                    await self._run_reset_hooks()
                async with aclosing(super().listen()) as messages:
                    async for message in messages:
                        yield message
            except LOST_CONNECTION as exc:
                logger.warning("lost the task stream (%s); reconnecting", exc)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                logger.warning("the task stream was lost with Redis; declaring it again")
                reset = True
                continue
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _run_reset_hooks(self) -> None:
        for hook in self.on_reset:
            try:
                await hook()
            except Exception:
                logger.exception("re-queueing after a Redis reset failed")

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:  # noqa: A002
        ack = super()._ack_generator(id, queue_name)

        async def tolerant_ack() -> None:
            # A message whose ack is lost is delivered again; the document lease makes that a
            # no-op, so a Redis outage must not fail the finished task.
            try:
                await ack()
            except (*LOST_CONNECTION, ResponseError) as exc:
                logger.warning("could not acknowledge message %s: %s", id, exc)

        return tolerant_ack


def make_broker(settings: Settings) -> AsyncBroker:
    """A RedisStreamBroker when Redis is configured, else taskiq's InMemoryBroker."""
    new: AsyncBroker
    if settings.redis_url:
        prefix = settings.redis_prefix
        new = ReconnectingStreamBroker(
            url=settings.redis_url,
            queue_name=f"{prefix}:tasks",
            consumer_group_name=f"{prefix}:workers",
            # "0", not "$": messages sent before the first worker created the group still count.
            consumer_id="0",
            # The default 100 lets one process hoard messages while it converts one at a time.
            xread_count=1,
            maxlen=STREAM_MAXLEN,
            # Re-delivery of unacknowledged messages (taskiq-redis #101) may happen while the
            # first delivery still runs; the document lease turns it into a no-op.
            idle_timeout=int(max(600.0, 2 * settings.document_timeout) * 1000),
            # A worker killed while holding the autoclaim lock must not block the others forever.
            unacknowledged_lock_timeout=30.0,
            **reconnecting(),
        )
    else:
        # Tasks run in the API process; conversions still go to a child process each.
        # The in-memory broker bypasses the receiver's limit: the runtime bounds concurrency.
        new = InMemoryBroker(max_stored_results=100)
    return new


def is_embedded(target: AsyncBroker) -> bool:
    """True when tasks run inside the API process."""
    return isinstance(target, InMemoryBroker)


# Made at import so tasks can be declared on it; no connection is opened until it is used.
# Worker startup and shutdown handlers are added by the runtime (tasks/runtime/lifecycle.py).
broker: AsyncBroker = make_broker(get_settings())
