"""Live fan-out: an API process sends each event of an upload once to all its subscribers.

Every subscriber gets its SNAPSHOT (and the events it asked to replay) through the ordinary
subscription path. Then, on graphql-transport-ws, it joins its upload's room: the room holds
one bus listener, executes each event once per distinct operation (query, variables, base
URL), encodes it once, and writes the same bytes to every member's WebSocket. Executing and
encoding per subscriber, through every layer of the GraphQL stack, cost ~10x more. A member
whose socket stalls, or whose query cannot be rendered here, goes back to the ordinary path
from the last event it got; the room never waits for one slow client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

from gql.context import Context
from gql.delivery import Delivery
from gql.internals import core_schema
from gql.members import Ending, Group, Member, Outcome, document_of
from gql.sequencer import Sequencer, sequence_of
from models import progress
from models.upload import EventKind
from settings import Settings
from tasks.bus import get_bus

logger = logging.getLogger(__name__)

POLL_SECONDS = 30.0  # idle check of the upload's sequence, as for a single subscriber
SEND_SECONDS = 0.5  # a member whose socket takes longer than this leaves the room


class Room:
    """The members following one upload in this process, fed by one bus listener."""

    def __init__(self, hub: Hub, upload_id: UUID) -> None:
        self.hub = hub
        self.upload_id = upload_id
        self.members: dict[Member, None] = {}  # in joining order
        self.groups: dict[tuple[str, ...], Group] = {}
        self.lock = asyncio.Lock()
        self.visitors = 0  # subscribers joining or in the room: it closes when none is left
        self.sequencer = Sequencer(upload_id, 0)
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run())

    def group_for(self, delivery: Delivery, context: Context) -> Group | None:
        """The members' group this delivery belongs to, built on first use."""
        variables = json.dumps(delivery.variables, sort_keys=True, default=str)
        key = (delivery.query, delivery.operation_name or "", variables, context.base_url)
        group = self.groups.get(key)
        if group is None:
            executor = delivery.schema.execution_context_class.build(
                core_schema(delivery.schema),
                document_of(delivery.query),
                context_value=context,
                raw_variable_values=delivery.variables,
                operation_name=delivery.operation_name,
            )
            if isinstance(executor, list):  # invalid variables: the ordinary path says why
                return None
            group = self.groups[key] = Group(executor, context)
        return group

    async def _run(self) -> None:
        try:
            async with self.hub.bus.listen(self.upload_id) as live:
                # Subscribed first: nothing after this head can pass the room unseen.
                self.sequencer.last = await progress.head(self.upload_id) or 0
                self.started.set_result(None)
                while True:
                    event = await live.next(POLL_SECONDS)
                    for ready in await self.sequencer.accept(event):
                        async with self.lock:
                            await self._deliver(ready)
                        if ready["kind"] == EventKind.UPLOAD_DONE:
                            self._close(Ending.DONE)
                            return
        except asyncio.CancelledError:
            self._close(Ending.FALLBACK, RuntimeError("room closed"))
            raise
        except Exception as exc:
            logger.warning("fan-out of upload %s failed; subscribers go on alone", self.upload_id)
            self._close(Ending.FALLBACK, exc)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        sequence = sequence_of(payload)
        pending = [m for m in self.members if m.last < sequence]
        sent = 0
        while sent < len(pending):
            try:
                # Sends normally complete at once; one waits only when its client stopped
                # reading (the socket's buffer is full).
                async with asyncio.timeout(SEND_SECONDS):
                    while sent < len(pending):
                        member = pending[sent]
                        sent += 1
                        if not await member.send(payload):
                            self.members.pop(member, None)
            except TimeoutError:
                slow = pending[sent - 1]
                self.members.pop(slow, None)
                slow.end(Ending.FALLBACK)

    async def join(self, member: Member) -> Outcome | None:
        """Bring a member level with the room from the log, then add it; an outcome if it
        ended while catching up."""
        async with self.lock:
            if member.last < self.sequencer.last:
                try:
                    async with asyncio.timeout(SEND_SECONDS * 4):
                        for missed in await progress.events_after(self.upload_id, member.last):
                            if not await member.send(missed):
                                return await member.outcome
                            if missed["kind"] == EventKind.UPLOAD_DONE:
                                return Outcome(Ending.DONE, member.last)
                except TimeoutError:
                    return Outcome(Ending.FALLBACK, member.last)
            self.members[member] = None
        return None

    def leave(self, member: Member | None) -> None:
        self.visitors -= 1
        if member is not None:
            self.members.pop(member, None)
        if self.visitors <= 0 and not self.task.done():
            self.task.cancel()
            self.hub.forget(self)

    def _close(self, ending: Ending, error: BaseException | None = None) -> None:
        if not self.started.done():
            self.started.set_exception(error or RuntimeError("room closed"))
        self.hub.forget(self)
        for member in list(self.members):
            member.end(ending)
        self.members.clear()


class Hub:
    """This process's rooms, by upload."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.get_running_loop()
        self.bus = get_bus(settings)
        self.rooms: dict[UUID, Room] = {}

    def forget(self, room: Room) -> None:
        if self.rooms.get(room.upload_id) is room:
            del self.rooms[room.upload_id]

    async def follow(
        self, upload_id: UUID, last: int, delivery: Delivery, context: Context, seconds: float
    ) -> Outcome:
        """Serve one subscriber from its upload's room until it ends."""
        room = self.rooms.get(upload_id)
        if room is None or room.task.done():
            room = self.rooms[upload_id] = Room(self, upload_id)
        room.visitors += 1
        member: Member | None = None
        try:  # the room is left however this ends, cancellation included
            try:
                await asyncio.shield(room.started)
            except Exception:
                return Outcome(Ending.FALLBACK, last)
            group = room.group_for(delivery, context)
            if group is None:
                return Outcome(Ending.FALLBACK, last)
            member = Member.of(delivery, group, last)
            ended = await room.join(member)
            if ended is not None:
                return ended
            try:
                async with asyncio.timeout(seconds):
                    return await member.outcome
            except TimeoutError:
                return Outcome(Ending.EXPIRED, member.last)
        finally:
            room.leave(member)


_hub: Hub | None = None


def hub_for(settings: Settings) -> Hub:
    """The hub of this process's event loop and event bus."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop or _hub.bus is not get_bus(settings):
        _hub = Hub(settings)
    return _hub
