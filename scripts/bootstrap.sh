#!/usr/bin/env bash
# Install what pagemill needs on a fresh Debian machine (as root), skipping what is present:
# libvips (pyvips loads it in ABI mode: the library alone, no headers or compiler),
# ImageMagick, Ghostscript, Wand's library, poppler, qpdf, LibreOffice (headless, for office
# documents), python3-uno (the system Python's uno, for the warm LibreOffice bridge), and for
# the tests through real clients Chromium (driven by Playwright), Node with npm and Info-ZIP
# zip (tests check the zips it makes), from Debian; uv from PyPI; then the project's virtual
# environment with `uv sync` and the test clients' npm packages with `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_ensure libvips42 imagemagick ghostscript libmagickwand-dev poppler-utils qpdf \
    libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno \
    chromium zip
# A NodeSource nodejs carries its own npm, which Debian's npm package would conflict with.
command -v node >/dev/null 2>&1 || apt_ensure nodejs
command -v npm >/dev/null 2>&1 || apt_ensure npm

if ! command -v uv >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_ensure python3-pip
    fi
    # Debian marks its Python as externally managed; uv is a standalone tool, so allow it.
    python3 -m pip install --quiet uv || python3 -m pip install --quiet --break-system-packages uv
    export PATH="$HOME/.local/bin:$PATH"
fi

uv sync --quiet
if [ ! -d tests/clients/node_modules ]; then
    (cd tests/clients && npm ci --silent --no-audit --no-fund)
fi
