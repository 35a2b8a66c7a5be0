"""What `pagemill upload --watch` and `pagemill status` show: a live progress bar fed by upload
events, then tables of documents, pages and errors."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table

from client.graphql import UPLOAD_STATUS, graphql, watch_events

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
console = Console()


class ProgressView:
    """Pages done / page count and documents done, fed by upload events."""

    def __init__(self, progress: Progress, documents: int) -> None:
        self.progress = progress
        self.documents = documents
        self.pages: dict[str, tuple[int, int | None]] = {}
        self.done: set[str] = set()
        self.task = progress.add_task("converting", total=None)

    def seed(self, upload: dict[str, Any]) -> None:
        """Per-document counts from a status query (the snapshot only has sums)."""
        for doc in upload["documents"]:
            self.pages[doc["id"]] = (len(doc["pages"]), doc["pageCount"])
            if doc["status"] in TERMINAL:
                self.done.add(doc["id"])
        self.render()

    def on_event(self, event: dict[str, Any]) -> None:
        """Fold one document event into the counters."""
        doc = event.get("documentId")
        if doc and event["kind"] != "SNAPSHOT":
            self.pages[doc] = (event.get("pagesDone") or 0, event.get("pageCount"))
            if event.get("documentStatus") in TERMINAL:
                self.done.add(doc)
        self.render()

    def render(self) -> None:
        """Redraw the bar; its total stays open until every page count is known."""
        # A document that failed before counting its pages adds none.
        counts = [0 if c is None and d in self.done else c for d, (_, c) in self.pages.items()]
        known = len(counts) == self.documents and None not in counts
        total = sum(c or 0 for c in counts) if known else None
        done = sum(d for d, _ in self.pages.values())
        label = f"documents {len(self.done)}/{self.documents}, pages"
        self.progress.update(self.task, completed=done, total=total, description=label)


def follow(url: str, upload: dict[str, Any], token: str | None) -> None:
    """Show a live progress bar for an upload until it is terminal."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        view = ProgressView(progress, len(upload["documents"]))

        def on_event(event: dict[str, Any]) -> None:
            if event["kind"] == "SNAPSHOT":
                view.seed(graphql(url, UPLOAD_STATUS, {"id": upload["id"]}, token)["upload"])
            else:
                view.on_event(event)

        asyncio.run(watch_events(url, upload["id"], token, on_event))


def print_upload(upload: dict[str, Any]) -> None:
    """Tables of an upload's documents, pages and errors."""
    console.print(f"upload [bold]{upload['id']}[/] {upload['status']}")
    docs = Table("#", "document", "filename", "status", "pages")
    pages = Table("document", "page", "size", Column("url", overflow="fold"))
    errors = Table("filename", "error", "message")
    for doc in upload["documents"]:
        docs.add_row(str(doc["index"]), doc["id"], doc["filename"], doc["status"],
                     str(doc["pageCount"] if doc["pageCount"] is not None else "-"))  # fmt: skip
        for page in doc["pages"]:
            size = f"{page['width']}x{page['height']}"
            pages.add_row(doc["filename"], str(page["number"]), size, page["url"])
        if doc["errorCode"]:
            errors.add_row(doc["filename"], doc["errorCode"], doc["errorMessage"] or "")
    console.print(docs)
    if pages.row_count:
        console.print(pages)
    if errors.row_count:
        console.print(errors)
    if upload.get("archiveUrl"):
        console.print(f"archive: {upload['archiveUrl']}")
