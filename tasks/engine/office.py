"""Office documents: tell encrypted ones, configure LibreOffice, place the PDF rendition.

Office kinds are recognised by the one sniffer (tasks/engine/kinds.py). The worker's warm
LibreOffice instances (tasks/sandbox/office_server.py) turn a document into its PDF
rendition, which is then paged like any uploaded PDF.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tasks.engine.errors import ZIP_ERRORS


def is_encrypted(source: Path, kind: str) -> bool:
    """True for password-protected documents LibreOffice would ask a password for."""
    if kind == "encrypted-office":
        return True
    if kind in ("odt", "ods", "odp"):
        try:
            with zipfile.ZipFile(source) as zf:
                return b"encryption-data" in zf.read("META-INF/manifest.xml")
        except ZIP_ERRORS:
            return False
    if kind == "doc":
        return _doc_encrypted(source)
    return False


def _doc_encrypted(source: Path) -> bool:
    # The WordDocument stream starts with the FIB; bit fEncrypted (0x0100) of its flags word
    # at offset 0x0A. Without a stream parser, find the FIB by its magic 0xA5EC.
    with source.open("rb") as handle:
        data = handle.read(64 * 1024)
    at = data.find(b"\xec\xa5", 512)
    if at < 0 or at + 12 > len(data):
        return False
    n_fib = int.from_bytes(data[at + 2 : at + 4], "little")
    flags = int.from_bytes(data[at + 10 : at + 12], "little")
    return 0x65 <= n_fib <= 0x200 and bool(flags & 0x0100)


# Profile settings: macros never run, and documents fetch nothing (links go to a dead proxy).
REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetProxyType" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPSProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPSProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc">
 <prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


def rendition_path(pages_dir: Path) -> Path:
    """Where the PDF rendition of a document whose pages go to pages_dir is kept."""
    return pages_dir.parent / "document.pdf"
