"""System prompts, chain-of-thought modes and the parsing of reasoning vs final answer.

The step-by-step format follows the seed documents' Thought/Solution template
(`<|begin_of_thought|>…<|end_of_thought|>`, `<|begin_of_solution|>…<|end_of_solution|>`, answer in `\\boxed{}`).
Small models follow it loosely, so the parser also accepts `Thought:`/`Solution:`/`Final answer:` headings.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

COT_MODES = ("direct", "step-by-step", "self-consistency")

BEGIN_THOUGHT, END_THOUGHT = "<|begin_of_thought|>", "<|end_of_thought|>"
BEGIN_SOLUTION, END_SOLUTION = "<|begin_of_solution|>", "<|end_of_solution|>"

STEP_BY_STEP_INSTRUCTIONS = (
    "Think step by step before answering. Write your reasoning between "
    f"{BEGIN_THOUGHT} and {END_THOUGHT}, one short step per paragraph. Then write the final answer between "
    f"{BEGIN_SOLUTION} and {END_SOLUTION}; if the answer is a number or a single word, put it in \\boxed{{}}."
)


@dataclass
class ParsedReply:
    reasoning: str
    answer: str
    final: str | None = None  # the short answer (boxed or last number) used for voting and scoring


@dataclass
class Vote:
    answer: str
    count: int
    paths: list[int] = field(default_factory=list)


def check_mode(mode: str) -> str:
    if mode not in COT_MODES:
        raise ValueError(f"unknown chain-of-thought mode {mode!r}; choose one of {', '.join(COT_MODES)}")
    return mode


def system_prompt(base: str, mode: str, extra: str = "") -> str:
    """The system message for a turn: the user's base prompt + CoT instructions + extra context rules."""
    parts = [base.strip()]
    if check_mode(mode) != "direct":
        parts.append(STEP_BY_STEP_INSTRUCTIONS)
    if extra:
        parts.append(extra.strip())
    return "\n\n".join(p for p in parts if p)


def assistant_prefix(mode: str) -> str:
    """Text the assistant turn starts with: priming the thought block makes small models follow the format."""
    return BEGIN_THOUGHT + "\n" if mode != "direct" else ""


# Small models mangle the markers ("<|end_of_thought|" without ">", "<end_of_thought>"); accept those too.
_MARKER = re.compile(r"<\|?\s*(begin|end)_of_(thought|solution)\s*\|?>?", re.I)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_HEADING_ANSWER = re.compile(r"(?im)^\s*(?:\*\*)?(?:solution|final answer|answer|答案|结论)(?:\*\*)?\s*[:：]\s*")


def parse_reply(text: str, mode: str, partial: bool = False) -> ParsedReply:
    """Split a reply into reasoning and answer. `direct` replies are all answer.

    `partial` is for a reply still streaming: until a marker or heading shows up, everything is reasoning.
    """
    text = _MARKER.sub(lambda m: f"<|{m.group(1).lower()}_of_{m.group(2).lower()}|>", text)
    text = text.replace(BEGIN_THOUGHT, "", 1) if text.lstrip().startswith(BEGIN_THOUGHT) else text
    if mode == "direct":
        return ParsedReply("", text.strip(), extract_final(text))
    reasoning, answer = text, ""
    if END_THOUGHT in text:
        reasoning, answer = text.split(END_THOUGHT, 1)
    elif BEGIN_SOLUTION in text:
        reasoning, answer = text.split(BEGIN_SOLUTION, 1)
    else:
        # the last heading wins: "Answer:" can also appear inside the reasoning
        match = next(reversed(list(_HEADING_ANSWER.finditer(text))), None)
        if match:
            reasoning, answer = text[: match.start()], text[match.end() :]
        elif partial:
            reasoning, answer = text, ""
        else:
            paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
            if len(paragraphs) > 1:
                reasoning, answer = "\n\n".join(paragraphs[:-1]), paragraphs[-1]
            else:
                reasoning, answer = "", text
    answer = answer.replace(BEGIN_SOLUTION, "").replace(END_SOLUTION, "").replace(BEGIN_THOUGHT, "")
    answer = _HEADING_ANSWER.sub("", answer, count=1).strip()
    reasoning = reasoning.replace(BEGIN_THOUGHT, "").replace(END_THOUGHT, "").strip()
    final = extract_final(answer) or extract_final(reasoning)
    if not answer and reasoning and not partial:
        # The model closed its thoughts and stopped: the last line of the reasoning carries the answer.
        lines = [line.strip(" -*") for line in reasoning.splitlines() if line.strip(" -*")]
        answer = lines[-1] if lines and (final is None or final in normalize_answer(lines[-1])) else (final or "")
    return ParsedReply(reasoning, answer, final)


def extract_final(text: str) -> str | None:
    """The short final answer: the last \\boxed{} content, else the last number, else None."""
    boxed = _BOXED.findall(text)
    if boxed:
        return normalize_answer(boxed[-1])
    numbers = _NUMBER.findall(text)
    if numbers:
        return normalize_answer(numbers[-1])
    return None


def normalize_answer(answer: str) -> str:
    """Canonical form for voting/scoring: '1,000.0' -> '1000', ' Paris. ' -> 'paris'."""
    value = answer.strip().strip(".。").replace("$", "").replace("\\text", "").strip()
    value = re.sub(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", value)  # \frac{7}{3} -> (7)/(3)
    while value.startswith("{") and value.endswith("}"):  # only a matching outer pair, never half of \frac{}{}
        value = value[1:-1].strip()
    plain = value.replace(",", "").replace(" ", "")
    fraction = re.fullmatch(r"\(?(-?\d+(?:\.\d+)?)\)?/\(?(\d+(?:\.\d+)?)\)?", plain)
    try:
        number = float(fraction[1]) / float(fraction[2]) if fraction else float(plain)
        return str(int(number)) if number.is_integer() else f"{number:g}"
    except (ValueError, ZeroDivisionError):
        return value.lower()


def majority_vote(finals: list[str | None]) -> list[Vote]:
    """Votes per distinct final answer, most first; ties go to the answer seen first."""
    counts = Counter(f for f in finals if f)
    order = {answer: finals.index(answer) for answer in counts}
    votes = [Vote(a, c, [i for i, f in enumerate(finals) if f == a]) for a, c in counts.items()]
    return sorted(votes, key=lambda v: (-v.count, order[v.answer]))


def format_thinking(reasoning: str) -> str:
    return reasoning.strip()
