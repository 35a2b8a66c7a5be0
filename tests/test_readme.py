"""The README documents every setting and every make target the project has."""

from __future__ import annotations

import re
from pathlib import Path

from settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `PAGEMILL_([A-Z0-9_]+)` \|", readme, re.MULTILINE))
    settings = {name.upper() for name in Settings.model_fields}
    missing, stale = sorted(settings - documented), sorted(documented - settings)
    assert not missing, f"add to README.md's Settings table: {missing}"
    assert not stale, f"README.md documents settings that no longer exist: {stale}"


def test_every_make_target_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z]+):.*## ", makefile, re.MULTILINE)) - {"help", "setup"}
    targets -= {"services", "check-schema", "check-migrations"}  # parts of test and check
    assert {t for t in targets if f"`make {t}`" not in readme} == set()
