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
    assert extract_final("There are no numbers anywhere in this reply.") is None


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


def test_fractions_and_repeating_decimals_are_one_answer_whatever_their_notation():
    texts = ("\\boxed{\\frac{7}{3}}", "so \\boxed{7/3}", "it is 2.333", "\\boxed{2.3333}", "\\boxed{\\dfrac{1}{2}}")
    finals = [extract_final(t) for t in texts]
    assert finals == ["7/3", "7/3", "7/3", "7/3", "0.5"]
    assert [(v.answer, v.count) for v in majority_vote(finals)] == [("7/3", 4), ("0.5", 1)]
    assert normalize_answer("0.667") == normalize_answer("\\frac{2}{3}") == "2/3"
    assert normalize_answer("14/6") == "7/3" and normalize_answer("7/2") == normalize_answer("3.5")
    # not every decimal is a fraction: too few places, or less than one period of the expansion shown
    assert normalize_answer("2.33") == "2.33" and normalize_answer("3.142") == "3.142"


def test_word_answers_are_the_final_answer_never_a_word_inside_a_sentence():
    assert extract_final("Feathers.") == extract_final("**feathers**") == "feathers"
    assert extract_final("The answer is Thursday.") == "thursday"
    assert extract_final("\\boxed{Carol}") == "carol"
    assert extract_final("Iron is heavier than feathers.") is None  # issue 14: the old scorer counted this
    assert extract_final("三个人中最矮的人是小红") != "小刚" and extract_final("小刚。") == "小刚"


def test_the_benchmark_scores_with_the_votes_normaliser():
    import importlib.util

    from assistant.config import REPO_ROOT

    spec = importlib.util.spec_from_file_location("cot_eval", REPO_ROOT / "benchmarks/cot_eval.py")
    cot_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cot_eval)
    score = lambda answer, expected, votes=(): cot_eval.correct(cot_eval.predicted(answer, "", list(votes)), expected)  # noqa: E731
    assert not score("Iron is heavier than feathers.", "feathers")
    assert score("Feathers.", "feathers")
    assert not score("…最矮的人是小红", "小刚")
    assert score("So 7/3 of a cake.", "2.333") and score("\\boxed{\\frac{7}{3}}", "7/3")
    assert not score("Tom has 12 apples and 15 now, so 27.", "15")  # the last number, not any number
    assert score("long reasoning that says 8", "7", votes=[{"answer": "7", "count": 3}])  # the vote decides
