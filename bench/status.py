"""The status-poll piece of `make bench` alone: `uv run python -m bench.status [SECONDS]
[ROUNDS]`. A 20-page upload is converted on a real cluster, the workers stop, then the
`upload(id)` query and the bare FastAPI endpoint reading the same rows are loaded in
alternating rounds (bench.api.status_load); prints the median ratio of their requests/s."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bench.api import status_load
from bench.client import STATUS, create_upload, query
from bench.cluster import cluster
from tests.gql.support import pdf

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def main(seconds: float, rounds: int) -> float:
    """graphql/bare requests/s, the median over rounds."""
    logs = Path(tempfile.mkdtemp(prefix="pagemill-bench-status-"))
    async with cluster(logs) as running:
        await asyncio.to_thread(running.start_workers, 1)
        source = logs / "twenty.pdf"
        source.write_bytes(pdf(20))
        created = await create_upload(running.graphql_url, [source])
        while True:
            found = (await query(running.graphql_url, STATUS, {"id": created["id"]}))["upload"]
            if found["status"] in TERMINAL and found["archiveUrl"]:
                break
            await asyncio.sleep(0.5)
        await asyncio.to_thread(running.stop, "worker1")  # nothing else runs while measured
        result = await status_load(running, created["id"], seconds, rounds, log)
    (g_rps, g50, _), (b_rps, b50, _) = result.summary("graphql"), result.summary("bare")
    log(f"graphql {g_rps:.0f} req/s (p50 {g50:.1f} ms), bare {b_rps:.0f} req/s (p50 {b50:.1f} ms)")
    log(f"status poll: {result.share():.2f}x the bare endpoint ({result.tool})")
    return result.share()


if __name__ == "__main__":
    arguments = [float(a) for a in sys.argv[1:3]]
    asyncio.run(
        main(arguments[0] if arguments else 4.0, int(arguments[1]) if len(arguments) > 1 else 4)
    )
