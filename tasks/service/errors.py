"""Refusals of a command, typed so the API can tell the client which rule was broken."""

from __future__ import annotations

from tasks.dependencies import SERVICE_UNAVAILABLE, STORAGE_FULL, failure_code

__all__ = [
    "SERVICE_UNAVAILABLE",
    "STORAGE_FULL",
    "InvalidInput",
    "Rejected",
    "RequestTooLarge",
    "failure_code",
]


class Rejected(Exception):
    """A command refused because of what the caller sent; `code` names the rule."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(Rejected):
    """The request itself is malformed or asks for something not possible."""

    code = "BAD_USER_INPUT"


class RequestTooLarge(Rejected):
    """Too many files, a file or the request over its size limit: nothing was stored."""

    code = "PAYLOAD_TOO_LARGE"


class StorageFailed(Rejected):
    """The file store did not take the files (a bucket outage): nothing was stored."""

    code = "STORAGE_UNAVAILABLE"
