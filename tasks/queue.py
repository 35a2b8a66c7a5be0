"""Enqueue by task name: the service sends messages without importing the worker's tasks."""

from __future__ import annotations

from typing import Any

from taskiq.kicker import AsyncKicker

from tasks.broker import broker

# Stable names: queued messages carry them, so they never change when code moves.
CONVERT_DOCUMENT = "documents.convert"
CONVERT_RANGE = "documents.convert_range"
ARCHIVE_UPLOAD = "uploads.archive"
DELIVER_WEBHOOK = "webhooks.deliver"


async def send(task_name: str, *args: Any) -> None:
    """Queue one message for the task registered under task_name."""
    await AsyncKicker(task_name=task_name, broker=broker, labels={}).kiq(*args)
