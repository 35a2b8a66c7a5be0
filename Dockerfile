# One image for every pagemill role: `serve` (API), `worker`, `migrate`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MAGICK_HOME=/usr \
    WAND_MAGICK_LIBRARY_SUFFIX=-6.Q16 \
    PAGEMILL_STORAGE_DIR=/data \
    PAGEMILL_HOST=0.0.0.0

# LibreOffice (office documents) and python3-uno: the worker's LibreOffice bridge runs under
# Debian's /usr/bin/python3, the one Python that can import uno (PAGEMILL_OFFICE_PYTHON).
# libvips42 alone is enough: pyvips uses it in ABI mode (no headers, no compiler).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libvips42 imagemagick ghostscript libmagickwand-dev poppler-utils qpdf \
        libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
        python3-uno \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv

WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN uv sync --frozen --no-dev

# Debian's policy forbids the PDF coder and MAGICK_CONFIGURE_PATH cannot lift that:
# the project's allowlist policy replaces the system file.
RUN deploy/install-policy.sh tasks/sandbox/policy/policy.xml

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin pagemill \
    && mkdir -p /data \
    && chown pagemill:pagemill /data
USER pagemill
VOLUME ["/data"]
EXPOSE 8000

ENTRYPOINT ["pagemill"]
CMD ["serve", "--host", "0.0.0.0"]
