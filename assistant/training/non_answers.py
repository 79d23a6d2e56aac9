"""Replies that do not answer: a harmless request declined, or the question handed back as a question.

The `short` simulated user liked any reply under 40 words, so 13 of its 35 👍 went to "I'm sorry, but I can't
assist with that." and to questions echoed back, and its DPO adapter learned both: 8 refusals and 5 echoes in 40
held-out replies (the base: 0 and 2), with a 100 % reward-model win rate (docs/bench_feedback.md). The gate counts
them (`gate.nonanswer_verdict`); the benchmark's user no longer likes them, as a person who wants short answers would
not.
"""

from __future__ import annotations

import re

MAX_WORDS = 25  # a longer reply says something besides the refusal or the question
REFUSAL = re.compile(
    r"\b(?:can(?:no|'|’)?t|can not|unable to|not able to|won(?:'|’)t)\s+"
    r"(?:assist|help|provide|answer|comply|fulfil|do that|support)"
    r"|(?:无法|不能)(?:帮助|协助|回答|提供)",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))  # a run of CJK characters counts as one word: generous to Chinese replies


def is_refusal(reply: str) -> bool:
    """A short reply that declines ("I'm sorry, but I can't assist with that."); a long one that explains a limit
    and then helps is an answer."""
    text = reply.strip()
    return bool(text) and _words(text) <= MAX_WORDS and REFUSAL.search(text) is not None


def is_question_back(reply: str) -> bool:
    """A short reply made of questions only ("Can you explain the difference between HTTP and HTTPS?")."""
    text = reply.strip()
    if not text or _words(text) > MAX_WORDS:
        return False
    return all(part.rstrip().endswith(("?", "？")) for part in SENTENCE_END.split(text) if part.strip())


def is_non_answer(reply: str) -> bool:
    return is_refusal(reply) or is_question_back(reply)
