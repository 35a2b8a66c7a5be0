"""The plain-leaf executor answers exactly as strawberry's own executor does, errors included."""

from __future__ import annotations

import asyncio
import uuid
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

import gql.execution
from gql.context import Context
from gql.execution import PlainLeafExecutor
from gql.principals import ANONYMOUS
from gql.schema import build_schema
from models.upload import Document, ErrorCode, Page, Status, Upload


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    name: str
    size: int
    note: str | None
    colour: Colour | None
    ratio: float


@strawberry.type
class Box:
    label: str
    items: list[Item]

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.label.upper()

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.label * times


def _boxes() -> list[Box]:
    good = Item(name="a", size=1, note=None, colour=Colour.RED, ratio=0.5)
    return [
        Box(label="ok", items=[good, Item(name="b", size=-3, note="n", colour=None, ratio=2)]),
        Box(label="null", items=[good, Item(name=None, size=2, note=None, colour=None, ratio=1)]),  # type: ignore[arg-type]
        Box(label="big", items=[Item(name="c", size=2**40, note=None, colour=None, ratio=1)]),
        Box(label="type", items=[Item(name="d", size="x", note=None, colour=None, ratio=1)]),  # type: ignore[arg-type]
        Box(label="enum", items=[Item(name="e", size=1, note=None, colour="green", ratio=1)]),  # type: ignore[arg-type]
        Box(label="obj", items=[Item(name=object(), size=1, note=None, colour=None, ratio=1)]),  # type: ignore[arg-type]
    ]


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box | None]:
        return list(_boxes())


QUERIES = [
    "{ boxes { label items { name size note colour ratio } } }",
    "{ boxes { __typename label later shout(times: 2) items { __typename n: name s: size } } }",
    "query($skip: Boolean!) { boxes { items { name @skip(if: $skip) size ...F } } }"
    " fragment F on Item { note colour size }",
    "{ boxes { items { ... on Item { name } name ratio } } }",
]


def _schema(executor: type[Any]) -> strawberry.Schema:
    return strawberry.Schema(query=Query, execution_context_class=executor)


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("skip", [True, False])
async def test_same_data_and_errors_as_strawberry(query: str, skip: bool) -> None:
    results = [
        await _schema(executor).execute(query, variable_values={"skip": skip})
        for executor in (StrawberryGraphQLCoreExecutionContext, PlainLeafExecutor)
    ]
    plain, fast = results
    assert fast.data == plain.data
    assert [e.formatted for e in fast.errors or []] == [e.formatted for e in plain.errors or []]
    assert plain.errors  # the fixture's bad values do raise: nulls, overflow, wrong types


async def test_bad_values_fail_where_they_are() -> None:
    result = await _schema(PlainLeafExecutor).execute("{ boxes { label items { name size } } }")
    boxes = (result.data or {})["boxes"]
    items = [{"name": "a", "size": 1}, {"name": "b", "size": -3}]
    assert boxes[0] == {"label": "ok", "items": items}
    assert [box is None for box in boxes] == [False, True, True, True, False, True]
    paths = sorted(tuple(e.path or ()) for e in result.errors or [])
    assert paths == [
        ("boxes", 1, "items", 1, "name"),
        ("boxes", 2, "items", 0, "size"),
        ("boxes", 3, "items", 0, "size"),
        ("boxes", 5, "items", 0, "name"),
    ]


STATUS = """query($id: ID!, $pages: Boolean!) { upload(id: $id) {
  __typename id status documentCount pageCount createdAt finishedAt archiveUrl
  documents { id index filename status pageCount errorCode errorMessage contentType
    pages @include(if: $pages) { number width height url sizeBytes path } } } }"""


async def test_status_query_on_the_real_schema(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = await Upload.create(id=uuid.uuid4(), status=Status.FAILED, document_count=2)
    for index, error in ((1, None), (2, ErrorCode.CORRUPT_FILE)):
        doc = await Document.create(
            id=uuid.uuid4(), upload=upload, index=index, filename=f"näme\x00{index}.pdf",
            sha256="0" * 64, original_path="o", page_count=None if error else 3,
            status=Status.FAILED if error else Status.COMPLETED, error_code=error,
            error_message="bad xref" if error else None,
        )  # fmt: skip
        for number in range(1, 4 if error is None else 1):
            await Page.create(
                id=uuid.uuid4(), document=doc, number=number, width=10 * number, height=7,
                path=f"p/{number}.png", size_bytes=number,
            )  # fmt: skip
    fast_reads = 0
    read = gql.execution._read

    def counted(*args: Any) -> Any:
        nonlocal fast_reads
        fast_reads += 1
        return read(*args)

    monkeypatch.setattr(gql.execution, "_read", counted)
    schema = build_schema()
    assert schema.execution_context_class is PlainLeafExecutor
    answers = []
    for executor in (StrawberryGraphQLCoreExecutionContext, PlainLeafExecutor):
        schema.execution_context_class = executor
        for pages in (True, False):
            result = await schema.execute(
                STATUS,
                variable_values={"id": str(upload.id), "pages": pages},
                context_value=Context(base_url="http://h", principal=ANONYMOUS),
            )
            assert result.errors is None
            answers.append(result.data)
    assert answers[:2] == answers[2:]
    documents = answers[0]["upload"]["documents"]  # type: ignore[index]
    assert [d["errorCode"] for d in documents] == [None, "CORRUPT_FILE"]
    urls = [p["url"] for p in documents[0]["pages"]]
    assert urls == [f"http://h/files/p/{n}.png" for n in (1, 2, 3)]
    assert fast_reads >= 8 + 2 * 8 + 3 * 6  # upload and document leaves, and the pages'
