"""System prompts, chain-of-thought modes and the parsing of reasoning vs final answer.

The step-by-step format follows the seed documents' Thought/Solution template
(`<|begin_of_thought|>…<|end_of_thought|>`, `<|begin_of_solution|>…<|end_of_solution|>`, answer in `\\boxed{}`).
Small models follow it loosely, so the parser also accepts `Thought:`/`Solution:`/`Final answer:` headings.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

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
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+(?:\.\d+)?)?")  # 7/3 is one number
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


_ANSWER_PHRASE = re.compile(
    r"(?i)(?:final answer|the answer|answer|答案|结果)\s*(?:is|was|would be|=|:|：|是|为)\s*"
    r"(.+?)\s*(?:[.。](?!\d)|\n|$)"  # up to the sentence's end (a decimal point does not end it)
)
_DECORATION = re.compile(r"[*_`\"'“”‘’「」]")
SHORT_ANSWER_WORDS = 4  # a reply with no number, box or "answer is" is its own final answer only when this short


def extract_final(text: str) -> str | None:
    """The short final answer of a reply, normalised; None when it has none.

    In order: the last \\boxed{}; the last "the answer is X" / "Answer: X" (its last number if it has one); the last
    number; the whole reply when it has no number and at most SHORT_ANSWER_WORDS words ("**Feathers.**"). A
    sentence is never reduced to a word inside it: "Iron is heavier than feathers." has no final answer.
    One function for voting (self-consistency) and scoring (benchmarks/cot_eval.py), so both agree.
    """
    boxed = _BOXED.findall(text)
    if boxed:
        return normalize_answer(boxed[-1])
    phrases = _ANSWER_PHRASE.findall(text)
    if phrases:
        numbers = _NUMBER.findall(phrases[-1])
        return normalize_answer(numbers[-1] if numbers else _DECORATION.sub("", phrases[-1]))
    numbers = _NUMBER.findall(text)
    if numbers:
        return normalize_answer(numbers[-1])
    short = _DECORATION.sub("", text).strip()
    if short and len(short.split()) <= SHORT_ANSWER_WORDS and "\n" not in short:
        return normalize_answer(short)
    return None


def reply_final(answer: str, reasoning: str = "") -> str | None:
    """The final answer of a parsed reply: from its answer part, else from its reasoning (as `parse_reply` does)."""
    return extract_final(answer) or (extract_final(reasoning) if reasoning else None)


def normalize_answer(answer: str) -> str:
    """Canonical form for voting and scoring; two answers are the same answer when their canonical forms are equal.

    Numbers become exact values: '1,000.0' -> '1000', '3.50' -> '3.5'; fractions reduce and print as a terminating
    decimal when they have one ('\\frac{1}{2}' -> '0.5') else as 'p/q' ('\\frac{7}{3}', '14/6' -> '7/3'). A decimal
    written to 3 or more places that shows at least one full period of a fraction with a denominator up to 100
    (rounded or cut) is that fraction: '2.333' and '2.3333' -> '7/3', '0.667' -> '2/3', but '3.142' is not 22/7
    (whose period is 6 digits). Words: ' Paris. ' -> 'paris'.
    """
    value = answer.strip().strip(".。!！").replace("$", "").replace("\\text", "").replace("\\mathrm", "").strip()
    value = re.sub(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", value)  # \frac{7}{3} -> (7)/(3)
    while value.startswith("{") and value.endswith("}"):  # only a matching outer pair, never half of \frac{}{}
        value = value[1:-1].strip()
    plain = value.replace(",", "").replace(" ", "")
    number = _exact_number(plain)
    if number is None:
        return value.strip().strip(".。").lower()
    return _canonical(number)


def _exact_number(plain: str) -> Fraction | None:
    fraction = re.fullmatch(r"\(?(-?\d+(?:\.\d+)?)\)?/\(?(-?\d+(?:\.\d+)?)\)?", plain)
    try:
        if fraction:
            return Fraction(fraction[1]) / Fraction(fraction[2])
        if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", plain):
            decimal = Fraction(plain)
            places = len(plain.split(".")[1]) if "." in plain else 0
            return _repeating(decimal, places) or decimal
    except ZeroDivisionError:
        return None
    return None


def _repeating(decimal: Fraction, places: int) -> Fraction | None:
    """The fraction a decimal with 3+ places is a rounded or cut repeating expansion of, if it shows one period."""
    if places < 3:
        return None
    candidate = decimal.limit_denominator(100)
    q = candidate.denominator
    if q == 1 or abs(candidate - decimal) >= Fraction(1, 10**places):
        return None
    rest, pre = q, 0
    for prime in (2, 5):
        count = 0
        while rest % prime == 0:
            rest, count = rest // prime, count + 1
        pre = max(pre, count)
    if rest == 1:
        return None  # a terminating fraction is written exactly or not at all
    period, power = 1, 10 % rest
    while power != 1:
        power, period = power * 10 % rest, period + 1
    scale = 10**places
    written = decimal * scale
    cut = Fraction(int(candidate * scale), 1) if candidate >= 0 else -Fraction(int(-candidate * scale), 1)
    rounded = Fraction(round(candidate * scale), 1)
    if places >= pre + period and written in (cut, rounded):
        return candidate
    return None


def _canonical(number: Fraction) -> str:
    if number.denominator == 1:
        return str(number.numerator)
    rest = number.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest == 1:  # terminating: the shortest decimal
        return f"{float(number):.12f}".rstrip("0").rstrip(".")
    return f"{number.numerator}/{number.denominator}"


def majority_vote(finals: list[str | None]) -> list[Vote]:
    """Votes per distinct final answer, most first; ties go to the answer seen first."""
    counts = Counter(f for f in finals if f)
    order = {answer: finals.index(answer) for answer in counts}
    votes = [Vote(a, c, [i for i, f in enumerate(finals) if f == a]) for a, c in counts.items()]
    return sorted(votes, key=lambda v: (-v.count, order[v.answer]))


def format_thinking(reasoning: str) -> str:
    return reasoning.strip()
