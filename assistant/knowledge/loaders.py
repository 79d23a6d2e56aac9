"""Read one file (txt, md, pdf, html, docx) into text sections, or refuse it with one clear message.

HTML and docx become markdown-like text ('#' heading lines) so the splitter keeps their sections the same way
as for markdown; PDFs give one section per page.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from assistant.storage import InvalidName, inside

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf", ".html": "html",
             ".htm": "html", ".docx": "docx"}


class LoadError(ValueError):
    """A file that cannot be indexed; the message says why in words a user can act on."""


@dataclass
class Section:
    text: str
    page: int | None = None  # 1-based PDF page


@dataclass
class LoadedFile:
    path: Path
    kind: str  # text | markdown | pdf | html | docx
    sections: list[Section]
    sha256: str
    size: int
    notes: list[str] = field(default_factory=list)  # non-fatal remarks, e.g. the fallback encoding used


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_path(path: Path, allowed_roots: list[Path], max_mb: float) -> tuple[Path, str]:
    """Validate place, extension and size before reading anything; return (resolved path, kind)."""
    path = Path(path)
    resolved = None
    for root in allowed_roots:
        try:
            resolved = inside(root, path.resolve())
            break
        except InvalidName:
            continue
    if resolved is None:
        roots = ", ".join(str(r) for r in allowed_roots)
        raise LoadError(f"{path}: outside the allowed folders ({roots}); copy or upload it there first")
    kind = SUPPORTED.get(resolved.suffix.lower())
    if kind is None:
        raise LoadError(f"{path.name}: unsupported file type {resolved.suffix or '(none)'!r}; "
                        f"supported: {', '.join(sorted(SUPPORTED))}")
    if not resolved.is_file():
        raise LoadError(f"{path.name}: not found or not a regular file")
    size = resolved.stat().st_size
    if size == 0:
        raise LoadError(f"{path.name}: the file is empty")
    if size > max_mb * 1024 * 1024:
        raise LoadError(f"{path.name}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit")
    return resolved, kind


def decode_text(data: bytes, name: str) -> tuple[str, str | None]:
    """Decode bytes as UTF-8, else the most plausible legacy encoding (GB18030, Latin-1 …); refuse binary data."""
    head = data[:8192]
    # Text files never contain NUL bytes (UTF-16 aside, which we do not accept as 'text').
    if b"\x00" in head or _control_ratio(head) > 0.05:
        raise LoadError(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise LoadError(f"{name}: not valid UTF-8 and no other text encoding fits")
    return str(best), f"not UTF-8: decoded as {best.encoding}"


def _control_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    controls = sum(1 for b in data if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(data)


def _read_pdf(path: Path) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            # Many "encrypted" PDFs only restrict printing and open with an empty password.
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                raise LoadError(f"{path.name}: encrypted PDF ({exc}); save an unencrypted copy") from exc
            if not ok:
                raise LoadError(f"{path.name}: encrypted PDF that needs a password; save an unencrypted copy")
        pages = [Section((page.extract_text() or "").strip(), page=i) for i, page in enumerate(reader.pages, 1)]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise LoadError(f"{path.name}: broken or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    sections = [s for s in pages if s.text]
    if not sections:
        raise LoadError(f"{path.name}: the PDF has no text layer ({len(pages)} pages; scanned?) and OCR is not "
                        "available; use a PDF with selectable text")
    return sections


def _read_html(data: bytes, name: str) -> str:
    from bs4 import BeautifulSoup

    text, _ = decode_text(data, name)
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer"]):
        tag.decompose()
    lines: list[str] = []
    body = soup.body or soup
    for el in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th", "blockquote"]):
        if el.find_parent(["p", "li", "pre", "td", "th", "blockquote"]) is not None:
            continue  # nested block: its text is already in the parent's
        content = el.get_text(" ", strip=True)
        if not content:
            continue
        if el.name[0] == "h":
            lines.append("#" * int(el.name[1]) + " " + content)
        else:
            lines.append(content)
    if not lines:  # HTML without block tags: fall back to all visible text
        lines = [body.get_text("\n", strip=True)]
    return "\n\n".join(lines)


# A .docx is a zip: refuse one that would inflate past these before python-docx reads it into memory.
MAX_UNZIPPED_MB = 200
MAX_ZIP_RATIO = 100  # real documents compress 3-20x; a bomb compresses 1000x


def check_zip(path: Path, max_mb: float = MAX_UNZIPPED_MB, max_ratio: float = MAX_ZIP_RATIO) -> None:
    """Refuse zip bombs by their directory (sizes declared, never inflated) and by their compression ratio."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoadError(f"{path.name}: broken or unreadable .docx ({type(exc).__name__})") from exc
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > max_mb * 1024 * 1024 or (info.file_size > 1024 * 1024 and ratio > max_ratio):
            raise LoadError(f"{path.name}: refused as a zip bomb ({info.filename} inflates to "
                            f"{info.file_size / 1e6:.0f} MB, {ratio:.0f}x its compressed size)")


def _read_docx(path: Path) -> str:
    import zipfile

    import docx

    check_zip(path)
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"{path.name}: broken or unreadable .docx ({type(exc).__name__})") from exc
    lines = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        match = re.match(r"Heading (\d)", para.style.name if para.style is not None else "")
        lines.append("#" * int(match.group(1)) + " " + text if match else text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(lines)


def load_file(path: Path, allowed_roots: list[Path], max_mb: float, max_chars: int | None = None) -> LoadedFile:
    """Check and read one file. Raises LoadError with a per-file message; never touches the index.

    `max_chars` bounds the text: 20 MB of plain text is ~30,000 chunks, 23 minutes of embedding that held the
    upload queue for every user (a hostile probe)."""
    resolved, kind = check_path(path, allowed_roots, max_mb)
    data = resolved.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    notes: list[str] = []
    if kind == "pdf":
        sections = _read_pdf(resolved)
    elif kind == "docx":
        sections = [Section(_read_docx(resolved))]
    elif kind == "html":
        sections = [Section(_read_html(data, resolved.name))]
    else:
        text, note = decode_text(data, resolved.name)
        notes += [note] if note else []
        sections = [Section(text)]
    if not any(s.text.strip() for s in sections):
        raise LoadError(f"{resolved.name}: no text in the file")
    chars = sum(len(s.text) for s in sections)
    if max_chars is not None and chars > max_chars:
        raise LoadError(f"{resolved.name}: {chars:,} characters of text; at most {max_chars:,} are indexed from one "
                        "document: split it into parts")
    return LoadedFile(resolved, kind, sections, sha, len(data), notes)
