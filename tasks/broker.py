"""The task broker, chosen from settings: Redis streams in production, in-memory when embedded."""

from __future__ import annotations

import logging

from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState
from taskiq_redis import RedisStreamBroker

from settings import Settings, get_settings

logger = logging.getLogger(__name__)

# The stream only needs to hold messages not yet delivered; acknowledged ones are history.
STREAM_MAXLEN = 100_000


def make_broker(settings: Settings) -> AsyncBroker:
    """A RedisStreamBroker when Redis is configured, else taskiq's InMemoryBroker."""
    new: AsyncBroker
    if settings.redis_url:
        prefix = settings.redis_prefix
        new = RedisStreamBroker(
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
        )
    else:
        # Tasks run in the API process; conversions still go to a child process each.
        # The in-memory broker bypasses the receiver's limit, so convert.py bounds concurrency.
        new = InMemoryBroker(max_stored_results=100)
    new.add_event_handler(TaskiqEvents.WORKER_STARTUP, _worker_startup)
    new.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, _worker_shutdown)
    return new


def is_embedded(target: AsyncBroker) -> bool:
    """True when tasks run inside the API process."""
    return isinstance(target, InMemoryBroker)


async def _worker_startup(state: TaskiqState) -> None:
    from tasks.worker import start_runtime

    await start_runtime(state, embedded=is_embedded(broker))


async def _worker_shutdown(state: TaskiqState) -> None:
    from tasks.worker import stop_runtime

    await stop_runtime(state, embedded=is_embedded(broker))


broker: AsyncBroker = make_broker(get_settings())
