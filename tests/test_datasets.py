"""The team-written evaluation and training data sets: they parse, hold the promised counts and follow their formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.prompts import normalize_answer

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks/data"
TRAIN = REPO / "assistant/training/data"

# Tool name -> its parameter names (the fixed built-ins plus the shipped example plugin).
TOOL_PARAMS: dict[str, set[str]] = {
    "search_knowledge": {"query", "k"},
    "generate_images": {"prompt", "n", "model", "seed"},
    "train_image_model": {"model", "dataset", "epochs"},
    "inpaint_image": {"model", "mask_ratio"},
    "list_adapters": set(),
    "switch_adapter": {"name"},
    "calculator": {"expression"},
    "current_datetime": set(),
    "convert_units": {"value", "from_unit", "to_unit"},
}
CJK = re.compile(r"[\u4e00-\u9fff]")
JSONL_FILES = [
    BENCH / "cot_problems.jsonl",
    BENCH / "tool_prompts.jsonl",
    *(TRAIN / f"{name}.{split}.jsonl" for name in ("concise", "zh-tutor") for split in ("train", "eval")),
    TRAIN / "feedback_prompts.jsonl",
]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def cjk_count(text: str) -> int:
    return len(CJK.findall(text))


def cjk_share(text: str) -> float:
    """Share of CJK characters among the letters (digits, symbols and punctuation do not count)."""
    letters = [c for c in text if c.isalpha()]
    return cjk_count("".join(letters)) / max(len(letters), 1)


def chat_pairs(name: str, split: str) -> list[tuple[str, str]]:
    pairs = []
    for row in rows(TRAIN / f"{name}.{split}.jsonl"):
        messages = row["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"], row
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages), row
        pairs.append((messages[0]["content"], messages[1]["content"]))
    return pairs


@pytest.mark.parametrize("path", JSONL_FILES, ids=lambda p: p.name)
def test_every_line_is_one_json_object_written_unescaped(path: Path):
    text = path.read_bytes().decode("utf-8")  # raises on anything that is not UTF-8
    lines = text.splitlines()
    assert lines and all(line.strip() for line in lines), "no blank lines"
    for number, line in enumerate(lines, 1):
        assert isinstance(json.loads(line), dict), f"{path.name}:{number}"
    # ensure_ascii=False: Chinese is stored as characters, not \\u escapes
    assert "\\u" not in text


def test_cot_problems_count_mix_and_answers():
    problems = rows(BENCH / "cot_problems.jsonl")
    assert len(problems) == 50
    assert [p["id"] for p in problems] == list(range(1, 51))
    assert sum(p["lang"] == "en" for p in problems) == 40 and sum(p["lang"] == "zh" for p in problems) == 10
    kinds = [p["kind"] for p in problems]
    assert (kinds.count("word"), kinds.count("arithmetic"), kinds.count("logic")) == (30, 10, 10)
    for p in problems:
        answer = p["answer"]
        assert isinstance(answer, str) and answer.strip() and len(answer.split()) == 1, p
        # the scorer compares normalized answers, so the stored one must already be in that form
        assert normalize_answer(answer) == answer.lower(), p
        assert (cjk_count(p["question"]) > 0) == (p["lang"] == "zh"), p


def test_tool_prompts_name_real_tools_with_checkable_args():
    prompts = rows(BENCH / "tool_prompts.jsonl")
    assert len(prompts) >= 48 and sum(p["lang"] == "zh" for p in prompts) >= 16
    assert len({p["prompt"] for p in prompts}) == len(prompts)
    assert 6 <= sum(p["tool"] is None for p in prompts) <= 10
    for p in prompts:
        assert p["lang"] in ("en", "zh") and (cjk_count(p["prompt"]) > 0) == (p["lang"] == "zh"), p
        assert p["tool"] is None or p["tool"] in TOOL_PARAMS, p
        args = p["args"]
        if p["tool"] is None:
            assert args == {}, p
            continue
        for key, value in args.items():
            param = "expression" if key == "expression_value" else key.removesuffix("_contains")
            assert param in TOOL_PARAMS[p["tool"]], f"{key} is no argument of {p['tool']}"
            if key.endswith("_contains"):
                assert isinstance(value, str) and value, p
        if p["tool"] == "train_image_model":
            assert args["model"] in {"vae", "gan", "ssl"} and args["dataset"] in {"digits", "shapes"}, p
        if p["tool"] == "switch_adapter":
            assert args["name"] in {"concise", "zh-tutor"}, p
        if "n" in args:
            assert isinstance(args["n"], int) and 1 <= args["n"] <= 16, p
    assert {p["tool"] for p in prompts} == set(TOOL_PARAMS) | {None}, "every tool is exercised"


def test_concise_answers_are_short_and_plain():
    train, held = chat_pairs("concise", "train"), chat_pairs("concise", "eval")
    assert len(train) >= 120 and len(held) >= 24
    questions = [q for q, _ in train + held]
    assert len(set(questions)) == len(questions), "no repeats, no held-out prompt in training"
    for question, answer in train + held:
        assert cjk_count(question + answer) == 0
        assert len(answer.split()) <= 25, answer
        assert "\n" not in answer and not re.match(r"\s*([-*•]|\d+\.\s)", answer), f"no lists: {answer}"
        assert not re.match(r"(sure|certainly|of course|great question|good question)\b", answer, re.I), answer


def test_zh_tutor_answers_are_chinese_numbered_steps():
    train, held = chat_pairs("zh-tutor", "train"), chat_pairs("zh-tutor", "eval")
    assert len(train) >= 120 and len(held) >= 24
    questions = [q for q, _ in train + held]
    assert len(set(questions)) == len(questions), "no repeats, no held-out prompt in training"
    for pairs in (train, held):
        chinese_questions = sum(cjk_count(q) > 0 for q, _ in pairs) / len(pairs)
        assert 0.4 <= chinese_questions <= 0.6, "about half the questions are in English"
    shares = []
    for _, answer in train + held:
        *steps, final = answer.split("\n")
        assert 2 <= len(steps) <= 4, answer
        assert all(step.startswith(f"{i}. ") for i, step in enumerate(steps, 1)), answer
        assert final.startswith(("答案：", "总结：")), answer
        assert 40 <= cjk_count(answer) <= 120, answer
        shares.append(cjk_share(answer))
        assert shares[-1] > 0.5, f"mostly Chinese: {answer}"
    # code and formulas bring Latin letters into a few replies; overall the replies are Chinese
    assert sum(shares) / len(shares) > 0.85


def test_feedback_prompts_are_varied_english_and_apart_from_adapter_data():
    prompts = [r["prompt"] for r in rows(TRAIN / "feedback_prompts.jsonl")]
    assert len(prompts) >= 240 and len(set(prompts)) == len(prompts)
    assert all(p.strip() and cjk_count(p) == 0 for p in prompts)
    # varied: no opening dominates (a templated list repeats the same first words over and over)
    openings = [" ".join(p.split()[:4]) for p in prompts]
    assert max(openings.count(o) for o in set(openings)) <= len(prompts) // 16
    adapter_questions = {
        q.lower() for name in ("concise", "zh-tutor") for split in ("train", "eval") for q, _ in chat_pairs(name, split)
    }
    assert not {p.lower() for p in prompts} & adapter_questions
