"""The REST face: jobs in, status, zip out, cancel; problem+json errors; OpenAPI drift."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from gql.openapi_export import openapi_document
from tasks.service import control
from tests.gql.conftest import make_app
from tests.gql.support import PREFLIGHT, jpeg, pdf, png, wait_for

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def parts(files: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes]]]:
    """httpx `files` for POST /api/v1/jobs."""
    return [("files", (name, content)) for name, content in files]


async def post_job(
    client: httpx.AsyncClient, files: list[tuple[str, bytes]], **headers: str
) -> httpx.Response:
    """POST /api/v1/jobs with the CSRF header."""
    return await client.post("/api/v1/jobs", files=parts(files), headers={**PREFLIGHT, **headers})


async def wait_job(client: httpx.AsyncClient, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The job status once it is terminal."""

    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        return body if body["status"] in TERMINAL else None

    return dict(await wait_for(probe, f"job {job_id}", timeout))


async def download(client: httpx.AsyncClient, job_id: str) -> httpx.Response:
    """The job's zip, once the archive task has written it."""

    async def probe() -> httpx.Response | None:
        response = await client.get(f"/api/v1/jobs/{job_id}/download")
        return response if response.status_code == 200 else None

    return await wait_for(probe, f"zip of job {job_id}")  # type: ignore[no-any-return]


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert (body["status"], body["code"]) == (status, code)


async def test_job_runs_to_a_zip_matching_its_status(client: httpx.AsyncClient) -> None:
    response = await post_job(client, [("a.pdf", pdf(2)), ("b.png", png()), ("c.jpg", jpeg())])
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["file_count"] == 3
    assert created["status_url"] == f"http://test/api/v1/jobs/{created['job_id']}"
    job = await wait_job(client, created["job_id"])
    assert job["status"] == "COMPLETED"
    assert job["download_url"] == created["status_url"] + "/download"
    assert [f["filename"] for f in job["files"]] == ["a.pdf", "b.png", "c.jpg"]
    assert [len(f["pages"]) for f in job["files"]] == [2, 1, 1]
    assert all(f["pdf_url"] is None and f["error_code"] is None for f in job["files"])
    page = job["files"][1]["pages"][0]
    assert (page["number"], page["width"], page["height"]) == (1, 64, 48)
    assert (await client.get(page["url"])).content.startswith(b"\x89PNG")
    zipped = await download(client, created["job_id"])
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert [len(d["pages"]) for d in manifest["documents"]] == [2, 1, 1]
        for doc in manifest["documents"]:
            for entry in doc["pages"]:
                assert archive.read(entry["archive_path"]).startswith(b"\x89PNG")


async def test_idempotency_key_returns_the_first_job(client: httpx.AsyncClient) -> None:
    key = f"rest-{uuid4()}"
    first = (await post_job(client, [("a.png", png())], **{"Idempotency-Key": key})).json()
    again = (await post_job(client, [("b.png", png())], **{"Idempotency-Key": key})).json()
    assert again["job_id"] == first["job_id"]
    await wait_job(client, first["job_id"])


async def test_unsupported_file_fails_with_its_code(client: httpx.AsyncClient) -> None:
    created = (await post_job(client, [("notes.txt", b"plain text")])).json()
    job = await wait_job(client, created["job_id"])
    assert job["status"] == "FAILED"
    assert job["files"][0]["error_code"] == "UNSUPPORTED_FORMAT"


async def test_cancel_stops_a_waiting_job(client: httpx.AsyncClient) -> None:
    await control.set_paused(True)
    try:
        created = (await post_job(client, [("a.pdf", pdf(1))])).json()
        job_id = created["job_id"]
        assert_problem(await client.get(f"/api/v1/jobs/{job_id}/download"), 409, "NOT_READY")
        cancelled = (await client.delete(f"/api/v1/jobs/{job_id}")).json()
    finally:
        await control.set_paused(False)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["files"][0]["error_code"] == "CANCELLED"
    assert (await download(client, job_id)).status_code == 200


async def test_malformed_and_unknown_ids_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/jobs/not-a-uuid"), 400, "BAD_USER_INPUT")
    assert_problem(await client.get(f"/api/v1/jobs/{uuid4()}"), 404, "NOT_FOUND")
    assert_problem(await client.delete(f"/api/v1/jobs/{uuid4()}"), 404, "NOT_FOUND")
    assert_problem(await client.get(f"/api/v1/jobs/{uuid4()}/download"), 404, "NOT_FOUND")


async def test_missing_files_part_is_bad_user_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/jobs", files={"other": ("a.png", png())}, headers=PREFLIGHT
    )
    assert_problem(response, 400, "BAD_USER_INPUT")


async def test_multipart_without_csrf_header_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/jobs", files=parts([("a.png", png())]))
    assert_problem(response, 400, "CSRF_BLOCKED")


async def test_limits_are_the_graphql_limits(db: str) -> None:
    app = make_app(max_file_bytes=100, api_tokens=["secret"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        auth = {"Authorization": "Bearer secret"}
        assert_problem(await client.get(f"/api/v1/jobs/{uuid4()}"), 401, "UNAUTHENTICATED")
        response = await client.post("/api/v1/jobs", files=parts([("a.png", png())]), headers=auth)
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    app = make_app(max_request_bytes=1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await post_job(client, [("a.pdf", pdf(3))])
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


def test_openapi_json_is_generated_from_the_code() -> None:
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == openapi_document(), "openapi.json is stale: run make openapi"


async def test_unsupported_method_is_a_problem_naming_every_allowed_method(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(f"/api/v1/jobs/{uuid4()}")
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "DELETE"}


async def test_malformed_job_id_is_bad_user_input(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/jobs/nope"), 400, "BAD_USER_INPUT")
