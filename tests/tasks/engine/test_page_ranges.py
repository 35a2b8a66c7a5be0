"""A PDF rendered a page range at a time: only pages first..last, the count always whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.engine.convert import convert
from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits
from tasks.engine.pages import PageResult


def render_range(source: Path, out: Path, first: int, last: int | None) -> tuple[int, list[int]]:
    pages: list[PageResult] = []
    count = convert(
        source, "pdf", out, Limits(), lambda n: False, lambda n: None, pages.append, first, last
    )
    return count, [p.number for p in pages]


def test_only_the_range_is_rendered(inputs: dict[str, Path], tmp_path: Path) -> None:
    count, numbers = render_range(inputs["many_pages_pdf"], tmp_path, 5, 7)

    assert (count, numbers) == (12, [5, 6, 7])
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["0005.png", "0006.png", "0007.png"]


def test_an_empty_range_only_counts(inputs: dict[str, Path], tmp_path: Path) -> None:
    assert render_range(inputs["many_pages_pdf"], tmp_path, 1, 0) == (12, [])


def test_range_before_the_damage_converts(inputs: dict[str, Path], tmp_path: Path) -> None:
    assert render_range(inputs["damaged_pdf"], tmp_path, 1, 2) == (4, [1, 2])


def test_range_holding_the_damage_names_the_bad_page(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ConversionError) as raised:
        render_range(inputs["damaged_pdf"], tmp_path, 3, 4)

    assert raised.value.code == "CORRUPT_FILE" and "page 3" in raised.value.message
