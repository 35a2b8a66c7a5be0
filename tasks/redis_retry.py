"""Redis connection options every pagemill Redis client uses."""

from __future__ import annotations

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def reconnecting() -> dict[str, object]:
    """Connection options that retry a command on a fresh connection: pooled connections go
    stale when Redis restarts, and redis-py does not retry by default."""
    return {
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.1), 3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
