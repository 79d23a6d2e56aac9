"""Chain-of-thought parsing: reasoning vs answer, final answers, majority vote."""

from assistant.prompts import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    END_THOUGHT,
    assistant_prefix,
    extract_final,
    majority_vote,
    normalize_answer,
    parse_reply,
    system_prompt,
)


def test_seed_markers_split_reasoning_from_answer():
    text = (
        f"Tom has 3 apples.\n\nHe buys 4 more.{END_THOUGHT}\n{BEGIN_SOLUTION}He has \\boxed{{7}} apples.{END_SOLUTION}"
    )
    parsed = parse_reply(text, "step-by-step")
    assert parsed.reasoning == "Tom has 3 apples.\n\nHe buys 4 more."
    assert parsed.answer == "He has \\boxed{7} apples."
    assert parsed.final == "7"


def test_headings_when_markers_are_missing():
    parsed = parse_reply("First, 12*3 = 36.\nThen add 4: 40.\n\nFinal answer: 40", "step-by-step")
    assert "12*3 = 36" in parsed.reasoning
    assert parsed.answer == "40"
    assert parsed.final == "40"


def test_last_paragraph_is_the_answer_without_any_marker():
    parsed = parse_reply("Step one.\n\nStep two.\n\nSo the answer is 9.", "step-by-step")
    assert parsed.reasoning == "Step one.\n\nStep two."
    assert parsed.answer == "So the answer is 9."
    assert parsed.final == "9"


def test_direct_mode_is_all_answer_and_unterminated_thought_is_reasoning():
    assert parse_reply("Paris.", "direct").reasoning == ""
    streaming = parse_reply("<|begin_of_thought|>\nLet me think", "step-by-step", partial=True)
    assert (streaming.reasoning, streaming.answer) == ("Let me think", "")


def test_final_answer_normalization():
    assert extract_final("costs $1,200.00 in total") == "1200"
    assert extract_final("\\boxed{Paris}") == "paris"
    assert normalize_answer(" 3.50 ") == "3.5"
    assert extract_final("no numbers here") is None


def test_majority_vote_counts_and_breaks_ties_by_first_seen():
    votes = majority_vote(["7", "8", "7", None, "8", "9"])
    assert [(v.answer, v.count) for v in votes] == [("7", 2), ("8", 2), ("9", 1)]
    assert votes[0].paths == [0, 2]


def test_system_prompt_and_prefix_per_mode():
    assert "step by step" not in system_prompt("Be nice.", "direct")
    assert END_THOUGHT in system_prompt("Be nice.", "step-by-step")
    assert assistant_prefix("direct") == ""
    assert assistant_prefix("self-consistency").startswith("<|begin_of_thought|>")


def test_mangled_markers_and_an_empty_solution():
    text = "Step 1: 12 * 7 = 84.\n\n- Therefore the answer is `84`.\n\n<|end_of_thought|"
    parsed = parse_reply(text, "step-by-step")
    assert "12 * 7" in parsed.reasoning and "end_of" not in parsed.answer
    assert parsed.final == "84" and "84" in parsed.answer


def test_fractions_are_one_answer_whatever_their_notation():
    from assistant.prompts import extract_final, majority_vote

    finals = [extract_final(t) for t in ("\\boxed{\\frac{7}{3}}", "so \\boxed{7/3}", "\\boxed{\\dfrac{1}{2}}")]
    assert finals == ["2.33333", "2.33333", "0.5"]
    assert majority_vote(finals)[0].count == 2
