"""Status polls of an unchanged upload are answered from memory after one indexed read.

A query whose only root field is `upload(id:)` reads nothing but that upload's rows, and
every change to them either appends an event, which moves the upload's `sequence`, or moves
its `revision` in the same transaction (models/changes.py: a retry, a document put back to
PENDING, a page count or PDF rendition recorded); the zip's path, written after the last
event, is one exception; the webhook delivery log, which workers write without an event, is
the other, and queries that ask for it are never held. So the response to such a query,
keyed by the request (query, variables, operation, and the caller: token, host, accepted
types) and by the upload's (sequence, revision, zip written), stays right for as long as
those read back the same. That holds in every API process without
invalidation: a sequence never goes back, and the key is read before the answer is made, so
a stored answer is never older than its key.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any
from uuid import UUID

from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.prepared import parsed
from models.upload import Upload

ENTRIES = 4096  # per process; a status answer is a few KB
MAX_BYTES = 256 * 1024  # bigger requests or answers are not held
KEY_HEADERS = (b"authorization", b"host", b"accept", b"x-forwarded-proto", b"x-forwarded-host")
DELIVERY_LOG = "webhookDeliveries"  # a field name no other field's name contains
Key = tuple[Any, ...]
Answer = tuple[list[tuple[bytes, bytes]], bytes]  # response headers, body


def polled_upload(body: bytes) -> tuple[Key, UUID] | None:
    """The request's key and upload id when it is a single query of one upload."""
    try:
        request = json.loads(body)
        query, variables = request["query"], request.get("variables") or {}
        operation = request.get("operationName")
    except (ValueError, TypeError, KeyError, RecursionError):  # the view answers these
        return None
    if not isinstance(query, str) or not isinstance(variables, dict):
        return None
    if DELIVERY_LOG in query:
        # Webhook attempts are logged without an event: the sequence does not move with them.
        return None
    upload_id = _upload_argument(query, variables)
    if upload_id is None:
        return None
    return (query, operation, json.dumps(variables, sort_keys=True)), upload_id


def _upload_argument(query: str, variables: dict[str, Any]) -> UUID | None:
    try:
        document = parsed(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return None
    fields = operations[0].selection_set.selections
    field = fields[0] if len(fields) == 1 else None
    if not isinstance(field, FieldNode) or field.name.value != "upload" or field.directives:
        return None
    arguments = field.arguments or ()
    value = arguments[0].value if len(arguments) == 1 else None
    if isinstance(value, VariableNode):
        raw = variables.get(value.name.value)
    elif isinstance(value, StringValueNode):
        raw = value.value
    else:
        return None
    try:
        return UUID(str(raw))
    except ValueError:
        return None


async def version(upload_id: UUID) -> tuple[int, int, bool] | None:
    """The upload's (event sequence, revision, zip written): one read by primary key."""
    rows = await Upload.filter(id=upload_id).values_list("sequence", "revision", "archive_path")
    return (int(rows[0][0]), int(rows[0][1]), rows[0][2] is not None) if rows else None


class PollCache:
    """ASGI wrapper of the GraphQL view: stored answers for repeated status polls."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answers: OrderedDict[Key, Answer] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip()
        if scope["method"] != "POST" or content_type != b"application/json":
            await self.app(scope, receive, send)
            return
        body, complete = await _read(receive)
        found = polled_upload(body) if complete else None
        if found is None:
            await self.app(scope, _replay(body, receive), send)
            return
        request_key, upload_id = found
        current = await version(upload_id)
        key = (*request_key, *(headers.get(h) for h in KEY_HEADERS), upload_id, current)
        answer = self.answers.get(key)
        if answer is not None:
            self.answers.move_to_end(key)
            await _send(send, answer)
            return
        captured = await _capture(self.app, scope, _replay(body, receive), send)
        if current is not None and captured is not None:
            self.answers[key] = captured
            if len(self.answers) > ENTRIES:
                self.answers.popitem(last=False)


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether it was read whole (False past MAX_BYTES)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body") or size > MAX_BYTES:
            return b"".join(chunks), not message.get("more_body")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands out the body already read, then the rest of the stream."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    # A body cut at MAX_BYTES goes on from the original stream.
    if len(body) > MAX_BYTES:
        pending[0]["more_body"] = True

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _capture(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> Answer | None:
    """Run the view, passing its response on; the answer when it may be stored."""
    start: Message = {}
    chunks: list[bytes] = []

    async def recording_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        await send(message)

    await app(scope, receive, recording_send)
    body = b"".join(chunks)
    if start.get("status") != 200 or len(body) > MAX_BYTES:
        return None
    try:
        answered = "errors" not in json.loads(body)
    except ValueError:
        return None
    return (list(start.get("headers", [])), body) if answered else None


async def _send(send: Send, answer: Answer) -> None:
    headers, body = answer
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
