"""Citations: retrieved chunks as a numbered context block for the prompt, and as a sources panel for people."""

from __future__ import annotations

import re

from assistant.knowledge.search import Hit

MAX_QUOTE = 300


def _field(hit: Hit | dict, name: str):  # noqa: ANN202 - chat results carry hits as dicts
    return hit.get(name) if isinstance(hit, dict) else getattr(hit, name)


def format_context(hits: list[Hit | dict]) -> str:
    """'[1] (source, location)\\ntext' blocks; the model is told to cite them as [1], [2]."""
    blocks = []
    for i, hit in enumerate(hits, 1):
        text = str(_field(hit, "text")).strip()
        blocks.append(f"[{i}] ({_field(hit, 'source')}, {_field(hit, 'location')})\n{text}")
    return "\n\n".join(blocks)


def quote(text: str, limit: int = MAX_QUOTE) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def sources_markdown(hits: list[Hit | dict]) -> str:
    """Markdown panel: one entry per [n] with document, location, score and the quoted chunk."""
    lines = []
    for i, hit in enumerate(hits, 1):
        lines.append(f"**[{i}] {_field(hit, 'source')}** — {_field(hit, 'location')} "
                     f"(score {float(_field(hit, 'score') or 0):.3f})\n> {quote(_field(hit, 'text'))}")
    return "\n\n".join(lines)


def cited_numbers(answer: str, n_sources: int) -> list[int]:
    """The [n] markers an answer actually uses (in order of first use, only valid numbers)."""
    seen: list[int] = []
    for match in re.finditer(r"\[(\d{1,2})\]", answer):
        number = int(match.group(1))
        if 1 <= number <= n_sources and number not in seen:
            seen.append(number)
    return seen


MIN_ANSWER_WORDS = 4  # "It needs 1.21 gigawatts [2]." says enough
_MARKER = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[^\W\u4e00-\u9fff]+|[\u4e00-\u9fff]")  # a Chinese character counts as a word
_SOURCE_LINE = re.compile(r"^\s*\[\d+\]\s*\([^\n)]*\)[^\n]*$", re.M)  # "[1] (doc.md, section …)" copied over


def grounded_answer(answer: str, n_sources: int, min_words: int = MIN_ANSWER_WORDS) -> bool:
    """An answer that cites the sources it was given and says something itself.

    At least one [n] marker, every marker a source that exists, and `min_words` words besides the markers and any
    source line copied from the prompt: "[1] [2]" or "[1] (retrieval.md, section …)" alone answers nothing (a DPO
    adapter trained on citing alone learned to write just that: docs/bench_feedback.md)."""
    numbers = [int(n) for n in _MARKER.findall(answer)]
    if not numbers or not all(1 <= n <= n_sources for n in numbers):
        return False
    return prose_words(answer) >= min_words


def prose_words(answer: str) -> int:
    """Words of an answer besides its [n] markers and any "[n] (source, location)" line copied from the prompt."""
    return len(_WORD.findall(_MARKER.sub(" ", _SOURCE_LINE.sub(" ", answer))))


PASTE_SPAN = 8  # words in a row: "the base weights never change, and the" is a quote, a shared phrase is not
PASTED = 0.5  # a reply at least this much inside copied spans pastes its source instead of answering


def word_spans(texts: list[str], span: int = PASTE_SPAN) -> set[tuple[str, ...]]:
    """Every run of `span` words (lower-cased; a Chinese character is a word) in the texts."""
    spans = set()
    for text in texts:
        words = _WORD.findall(text.lower())
        spans.update(tuple(words[i:i + span]) for i in range(len(words) - span + 1))
    return spans


def pasted_share(answer: str, spans: set[tuple[str, ...]], span: int = PASTE_SPAN) -> float:
    """The share of an answer's own words (markers and copied source lines left out) that sit inside a run of
    `span` words found verbatim in the sources (`word_spans`). A `cites` adapter learned to answer by pasting the
    retrieved passage under "[1]" (docs/bench_feedback.md, twenty-second session)."""
    words = _WORD.findall(_MARKER.sub(" ", _SOURCE_LINE.sub(" ", answer)).lower())
    if len(words) < span:
        return 0.0
    covered = [False] * len(words)
    for i in range(len(words) - span + 1):
        if tuple(words[i:i + span]) in spans:
            covered[i:i + span] = [True] * span
    return sum(covered) / len(words)


def is_pasted(answer: str, source_texts: list[str]) -> bool:
    """Does the answer paste its sources instead of answering (`PASTED` of its words inside copied spans)? What the
    gate counts and what the `cites` simulated user dislikes."""
    return bool(source_texts) and pasted_share(answer, word_spans(source_texts)) >= PASTED
