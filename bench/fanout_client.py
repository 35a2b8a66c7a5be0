"""Many graphql-transport-ws subscribers in one lean process, for the fan-out benchmark.

    python -m bench.fanout_client WS_URL UPLOAD_ID COUNT

Each connection is websockets' own sans-I/O client protocol on a bare asyncio transport
(uvloop when installed): a message is stamped with time.time() as its frame is parsed, and
stored; JSON is parsed only after the run. The per-message cost of a full client library
(a task wake-up, a queue and a parse per message) was larger than the server's, and would
have been measured as fan-out latency. Prints "ready" once every subscriber has its
SNAPSHOT, then, at the end, one JSON line: {"received": [[sequence, kind, time], ...] per
subscriber, "cpu_seconds": this process's CPU from "ready" until every stream completed}.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from bench.client import EVENTS

CONNECT_CONCURRENCY = 50
RUN_TIMEOUT = 300.0


class Subscriber(asyncio.Protocol):
    """One WebSocket subscription to uploadEvents."""

    def __init__(self, url: str, upload_id: str, ready: asyncio.Event) -> None:
        self.ws = ClientProtocol(
            parse_uri(url), subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None
        )
        self.upload_id = upload_id
        self.acknowledged = asyncio.get_running_loop().create_future()
        self.snapshot = ready
        self.done = asyncio.get_running_loop().create_future()
        self.messages: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                self._send({"type": "connection_init", "payload": {}})
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._message(now, bytes(event.data))
        self._flush()

    def _message(self, now: float, data: bytes) -> None:
        if not self.acknowledged.done():
            if json.loads(data).get("type") == "connection_ack":
                self.acknowledged.set_result(None)
            return
        if len(data) < 64 and json.loads(data).get("type") in ("complete", "error"):
            if not self.done.done():
                self.done.set_result(None)
            return
        if not self.messages:
            self.snapshot.set()
        self.messages.append((now, data))

    def subscribe(self) -> None:
        payload = {"query": EVENTS, "variables": {"id": self.upload_id}}
        self._send({"id": "1", "type": "subscribe", "payload": payload})
        self._flush()

    def _send(self, message: dict[str, Any]) -> None:
        self.ws.send_text(json.dumps(message).encode())

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk and self.transport is not None:
                self.transport.write(chunk)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def events(self) -> list[tuple[int, str, float]]:
        """(sequence, kind, receipt time) of every event received."""
        found = []
        for at, data in self.messages:
            event = json.loads(data)["payload"]["data"]["uploadEvents"]
            found.append((int(event["sequence"]), str(event["kind"]), at))
        return found


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(url: str, upload_id: str, count: int) -> dict[str, Any]:
    """Connect `count` subscribers, announce readiness, follow until every stream completes."""
    loop = asyncio.get_running_loop()
    uri = parse_uri(url)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect() -> Subscriber:
        ready = asyncio.Event()
        async with gate:
            _, sub = await loop.create_connection(
                lambda: Subscriber(url, upload_id, ready), uri.host, uri.port
            )
            await asyncio.wait_for(sub.acknowledged, 60)
            sub.subscribe()
            await asyncio.wait_for(ready.wait(), 120)
        return sub

    subscribers = await asyncio.gather(*(connect() for _ in range(count)))
    print("ready", flush=True)
    start = _cpu()
    async with asyncio.timeout(RUN_TIMEOUT):
        await asyncio.gather(*(sub.done for sub in subscribers))
    cpu = _cpu() - start
    for sub in subscribers:
        if sub.transport is not None:
            sub.transport.close()
    return {"received": [sub.events() for sub in subscribers], "cpu_seconds": cpu}


def main() -> None:
    url, upload_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(url, upload_id, count))), flush=True)


if __name__ == "__main__":
    main()
