"""Prometheus metrics the API exports that are read from the shared database at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge
from prometheus_client.core import REGISTRY, GaugeHistogramMetricFamily
from prometheus_client.registry import Collector

from models.upload import Document, Page, Status

PAGES = Gauge("pagemill_pages", "Pages recorded")
QUEUE_DEPTH = Gauge("pagemill_queue_depth", "Documents waiting to be converted (PENDING)")
IN_FLIGHT = Gauge("pagemill_in_flight", "Documents being converted (IN_PROGRESS)")
SUBSCRIPTIONS = Gauge("pagemill_subscriptions_open", "uploadEvents subscriptions open here")
RENDER_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
RENDER_WINDOW = timedelta(minutes=15)
# Bounds the scrape's cost on a busy cluster; the histogram describes the newest documents.
RENDER_SAMPLE = 5000


class RenderSeconds(Collector):
    """Conversion seconds of documents finished recently, as a gauge histogram.

    Conversions run in worker processes on other hosts, so the API cannot observe them
    directly; the database, which every worker writes, is the one place that sees all.
    """

    def __init__(self) -> None:
        self.samples: list[float] = []

    def collect(self) -> list[GaugeHistogramMetricFamily]:
        counts = [sum(1 for s in self.samples if s <= bound) for bound in RENDER_BUCKETS]
        buckets = [(str(b), float(c)) for b, c in zip(RENDER_BUCKETS, counts, strict=True)]
        buckets.append(("+Inf", float(len(self.samples))))
        family = GaugeHistogramMetricFamily(
            "pagemill_render_seconds",
            f"Seconds from start to finish of documents completed in the last {RENDER_WINDOW}",
            buckets=buckets,
            gsum_value=sum(self.samples),
        )
        return [family]


RENDER = RenderSeconds()
REGISTRY.register(RENDER)


async def refresh() -> None:
    """Read the database-backed gauges and the render histogram's window."""
    PAGES.set(await Page.all().count())
    QUEUE_DEPTH.set(await Document.filter(status=Status.PENDING).count())
    IN_FLIGHT.set(await Document.filter(status=Status.IN_PROGRESS).count())
    since = datetime.now(UTC) - RENDER_WINDOW
    rows = (
        await Document.filter(
            status=Status.COMPLETED, finished_at__gte=since, started_at__isnull=False
        )
        .order_by("-finished_at")
        .limit(RENDER_SAMPLE)
        .values_list("started_at", "finished_at")
    )
    RENDER.samples = [(end - start).total_seconds() for start, end in rows if end and start]
