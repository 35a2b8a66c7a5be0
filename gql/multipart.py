"""Multipart bodies parsed with the upload limits applied while each part streams.

Starlette's parser (python-multipart underneath) caps the number of files but not their
size, so a 250 MB part was spooled to disk whole before the size check saw it. Here the
bytes of each file part are counted as they arrive: the part that passes
PAGEMILL_MAX_FILE_BYTES, or the file past PAGEMILL_MAX_FILES, ends the parse at once
(PAYLOAD_TOO_LARGE) and every spool made so far is closed by Starlette's parser.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response

from gql.errors import ApiError, BadUserInput, PayloadTooLarge
from settings import Settings

# Non-file fields (operations, map) stay in memory: Starlette's own default cap.
MAX_FIELD_BYTES = 1024 * 1024
MAX_FIELDS = 100


class LimitedMultiPartParser(MultiPartParser):
    """Starlette's multipart parser refusing a file part past `max_file_bytes` as it
    streams, and the file past `max_files`, with PAYLOAD_TOO_LARGE."""

    def __init__(self, *args: Any, max_file_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_file_bytes = max_file_bytes
        self._part_bytes = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._part_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._part_bytes += end - start
            if self._part_bytes > self.max_file_bytes:
                name = self._current_part.file.filename or "unnamed"
                raise PayloadTooLarge(
                    f"{name[:100]!r} has more than {self.max_file_bytes} bytes, the limit "
                    "per file (refused while it was being received)"
                )
        super().on_part_data(data, start, end)

    def on_headers_finished(self) -> None:
        try:
            super().on_headers_finished()
        except MultiPartException:
            if self._current_files > self.max_files:
                message = f"More than {self.max_files} files; at most {self.max_files} per request"
                raise PayloadTooLarge(message) from None
            raise


def is_multipart(request: Request) -> bool:
    """True for a request whose body is multipart/form-data."""
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == "multipart/form-data"


async def read_form(request: Request, settings: Settings) -> FormData:
    """The request's form, parsed under the upload limits and kept on the request (where
    `request.form()` finds it); a malformed body is BAD_USER_INPUT."""
    if request._form is not None:
        return request._form
    parser = LimitedMultiPartParser(
        request.headers,
        request.stream(),
        max_files=settings.max_files,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
        max_file_bytes=settings.max_file_bytes,
    )
    try:
        request._form = await parser.parse()
    except MultiPartException as exc:
        raise BadUserInput(f"Malformed multipart body: {exc.message}") from None
    return request._form


async def close_form(request: Request) -> None:
    """Close every spooled file of the request's form, if one was read."""
    if request._form is not None:
        await request._form.close()


def limited_form_route(settings: Settings) -> type[APIRoute]:
    """An APIRoute class whose multipart bodies are read by read_form before FastAPI's
    handler (which then finds the form parsed, and closes its files after the response)."""

    class LimitedFormRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                if request.method == "POST" and is_multipart(request):
                    try:
                        await read_form(request, settings)
                    except ApiError:
                        raise
                    except Exception as exc:  # as FastAPI answers any failure to read a form
                        raise BadUserInput("There was an error parsing the body") from exc
                return await handler(request)

            return limited

    return LimitedFormRoute
