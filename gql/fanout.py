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
import contextlib
import json
import logging
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

import strawberry
from graphql import DocumentNode, ExecutionResult, parse
from graphql.execution import execute_subscription_event
from starlette.websockets import WebSocket
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from gql.context import Context
from gql.sequencer import Sequencer, sequence_of
from gql.types import UploadEvent
from models import progress
from models.upload import EventKind
from settings import Settings
from tasks.events import get_bus

logger = logging.getLogger(__name__)

POLL_SECONDS = 30.0  # idle check of the upload's sequence, as for a single subscriber
SEND_SECONDS = 0.5  # a member whose socket takes longer than this leaves the room


@dataclass(frozen=True)
class Delivery:
    """Where the messages of one graphql-transport-ws operation go."""

    schema: strawberry.Schema
    websocket: WebSocket
    operation_id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


# Set by the WebSocket handler for the task that runs one operation.
DELIVERY: ContextVar[Delivery | None] = ContextVar("pagemill_delivery", default=None)


class FanOutWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, telling the operation's resolvers where its messages go."""

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        websocket = getattr(self.websocket, "ws", None)
        if isinstance(websocket, WebSocket) and isinstance(operation.query, str):
            DELIVERY.set(
                Delivery(
                    self.schema,  # type: ignore[arg-type]
                    websocket,
                    operation.id,
                    operation.query,
                    operation.variables,
                    operation.operation_name,
                )
            )
        await super().run_operation(operation)


class Ending(Enum):
    """How a member's time in a room ended."""

    DONE = "done"  # UPLOAD_DONE was sent: the subscription is complete
    FALLBACK = "fallback"  # continue on the ordinary path after `last`
    EXPIRED = "expired"  # the subscription's maximum lifetime is over
    GONE = "gone"  # the socket is closed


@dataclass(frozen=True)
class Outcome:
    """The ending and the sequence of the last event the member was sent."""

    ending: Ending
    last: int


@lru_cache(maxsize=256)
def _document(query: str) -> DocumentNode:
    return parse(query)


class Group:
    """Members sharing one operation, variables and base URL: rendered once per event."""

    def __init__(self, executor: Any, context: Context) -> None:
        self.executor = executor
        self.context = context
        self.rendered: tuple[int, str | None] = (-1, None)

    def render(self, payload: dict[str, Any]) -> str | None:
        """The "payload" JSON of a next message for this event; None if it errs here."""
        sequence = sequence_of(payload)
        if self.rendered[0] == sequence:
            return self.rendered[1]
        event = UploadEvent.from_payload(payload, self.context)
        result = execute_subscription_event(self.executor.build_per_event_executor(event))
        body = None
        if isinstance(result, ExecutionResult) and not result.errors:
            with contextlib.suppress(TypeError, ValueError):
                body = json.dumps({"data": result.data}, separators=(",", ":"))
        elif isinstance(result, Awaitable):  # never for UploadEvent's plain fields
            result.close()  # type: ignore[attr-defined]
        self.rendered = (sequence, body)
        return body


@dataclass(eq=False)
class Member:
    """One subscriber in a room."""

    websocket: WebSocket
    group: Group
    last: int
    head: str  # the next message up to its payload
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @classmethod
    def of(cls, delivery: Delivery, group: Group, last: int) -> Member:
        head = f'{{"id":{json.dumps(delivery.operation_id)},"type":"next","payload":'
        return cls(delivery.websocket, group, last, head)

    async def send(self, payload: dict[str, Any]) -> bool:
        """Send one event; False when this member cannot be served here."""
        body = self.group.render(payload)
        if body is None:
            self.end(Ending.FALLBACK)
            return False
        try:
            await self.websocket.send_text(f"{self.head}{body}}}")
        except Exception:  # disconnected: the operation is being cleaned up
            self.end(Ending.GONE)
            return False
        self.last = sequence_of(payload)
        return True

    def end(self, ending: Ending) -> None:
        if not self.outcome.done():
            self.outcome.set_result(Outcome(ending, self.last))


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
                delivery.schema._schema,  # the graphql-core schema strawberry executes on
                _document(delivery.query),
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


def current_delivery() -> Delivery | None:
    """The WebSocket delivery of the running operation, if it has one."""
    return DELIVERY.get()
