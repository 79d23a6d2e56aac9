"""Split a loaded file into overlapping chunks that remember where they came from (page, section or lines)."""

from __future__ import annotations

import re

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant.knowledge.loaders import LoadedFile

# Paragraph, line, then sentence ends in English and Chinese, then clauses, then words: Chinese has no spaces,
# so without its punctuation a Chinese chunk would be cut mid-sentence.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ", ""]
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_sections(text: str) -> list[tuple[str, str]]:
    """Cut markdown at headings: [(heading path 'A › B', section text incl. its heading)]."""
    sections: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    current: list[str] = []
    in_fence = False

    def flush() -> None:
        body = "\n".join(current).strip()
        if body and all(_HEADING.match(line) for line in body.splitlines() if line.strip()):
            return  # a heading straight after a heading: keep it with the text that follows
        if body:
            sections.append((" › ".join(title for _, title in stack), body))
        current.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            stack = [(lvl, title) for lvl, title in stack if lvl < level]
            stack.append((level, match.group(2).strip()))
        current.append(line)
    flush()
    return sections


def index_text(doc: Document) -> str:
    """What is embedded and BM25-indexed: the chunk with its file and section, so a chunk deep in a section
    still matches a query that names the section's topic. The stored (and quoted) text stays the plain chunk."""
    return f"{doc.metadata.get('source', '')} › {doc.metadata.get('location', '')}\n{doc.page_content}"


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=SEPARATORS,
        keep_separator="end",  # the sentence-final '。' stays with its sentence
        add_start_index=True,
        strip_whitespace=True,
    )


def split_file(loaded: LoadedFile, source: str, chunk_size: int, chunk_overlap: int) -> list[Document]:
    """Chunks as LangChain Documents with metadata {source, location, chunk}."""
    splitter = make_splitter(chunk_size, chunk_overlap)
    pieces: list[tuple[str, str]] = []  # (location, text)
    for section in loaded.sections:
        if loaded.kind == "pdf":
            pieces += [(f"page {section.page}", t) for t in splitter.split_text(section.text)]
        elif loaded.kind in ("markdown", "html", "docx"):
            for heading, body in markdown_sections(section.text):
                location = f"section: {heading}" if heading else "introduction"
                pieces += [(location, t) for t in splitter.split_text(body)]
        else:
            for doc in splitter.create_documents([section.text]):
                start = doc.metadata["start_index"]
                first = section.text.count("\n", 0, start) + 1
                last = first + doc.page_content.count("\n")
                pieces.append((f"lines {first}–{last}" if last > first else f"line {first}", doc.page_content))
    return [
        Document(page_content=text, metadata={"source": source, "location": location, "chunk": i})
        for i, (location, text) in enumerate(pieces)
        if text.strip()
    ]
