"""The only path from the service to the event bus: announce events already committed."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from settings import get_settings
from tasks.bus import get_bus

logger = logging.getLogger(__name__)


async def publish(upload_id: UUID, events: list[dict[str, Any]]) -> None:
    """Announce committed events (never before the commit)."""
    bus = get_bus(get_settings())
    for event in events:
        try:
            await bus.publish(upload_id, event)
        except Exception:
            # State is committed; a subscriber catches up from the event log on reconnect.
            logger.exception("publishing %s for upload %s failed", event.get("kind"), upload_id)
