"""Real PDFs nobody here made: manuals Debian ships under /usr/share/doc, in the packages the
benchmark installs when they are missing. They are copied (unzipped) into the benchmark's
scratch directory, never into the repository."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

from bench.inputs import Input

# name: (Debian package, path of the shipped file, pages)
REAL_PDFS = {
    "bzip2-manual.pdf": ("bzip2-doc", "/usr/share/doc/bzip2/manual.pdf.gz", 38),
    "libtasn1.pdf": ("libtasn1-doc", "/usr/share/doc/libtasn1-doc/libtasn1.pdf", 36),
    "shared-mime-info-spec.pdf": (
        "shared-mime-info",
        "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
        17,
    ),
}
# The long document: 397 pages of DocBook output.
LONG_PDF = (
    "valgrind-manual.pdf",
    ("valgrind", "/usr/share/doc/valgrind/valgrind_manual.pdf.gz", 397),
)


def ensure_packages(packages: list[str]) -> None:
    """apt-get install the packages whose files are missing (a root Debian machine)."""
    if not packages or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    # Debian's minimal images exclude /usr/share/doc: this install must keep the manuals.
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--reinstall", *packages],
        check=False,
        env=env,
    )


def _inputs(directory: Path, table: dict[str, tuple[str, str, int]]) -> list[Input]:
    missing = sorted({pkg for pkg, shipped, _ in table.values() if not Path(shipped).exists()})
    ensure_packages(missing)
    directory.mkdir(parents=True, exist_ok=True)
    found = []
    for name, (_, shipped, pages) in table.items():
        target = directory / name
        if not target.exists() and Path(shipped).exists():
            opener = gzip.open if shipped.endswith(".gz") else open
            with opener(shipped, "rb") as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
        if target.exists():
            found.append(Input(name, target, "pdf", pages))
    return found


def real_pdfs(directory: Path) -> list[Input]:
    """The real manuals, copied under directory (those whose package could be installed)."""
    return _inputs(directory, REAL_PDFS)


def long_pdf(directory: Path) -> Input | None:
    """The 397-page manual, or None when its package cannot be installed."""
    name, entry = LONG_PDF
    found = _inputs(directory, {name: entry})
    return found[0] if found else None
