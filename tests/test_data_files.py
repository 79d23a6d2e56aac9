"""The team-written data files parse and hold what their READMEs promise."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS = {
    "search_knowledge",
    "generate_images",
    "train_image_model",
    "inpaint_image",
    "list_adapters",
    "switch_adapter",
    "calculator",
    "current_datetime",
    "convert_units",
}


def rows(path: str) -> list[dict]:
    return [json.loads(line) for line in (REPO / path).read_text(encoding="utf-8").splitlines() if line.strip()]


def cjk_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum("\u4e00" <= c <= "\u9fff" for c in letters) / max(len(letters), 1)


def test_cot_problems():
    problems = rows("benchmarks/data/cot_problems.jsonl")
    assert len(problems) == 50 and len({p["id"] for p in problems}) == 50
    assert all(p["question"] and str(p["answer"]).strip() for p in problems)
    assert sum(p["lang"] == "zh" for p in problems) >= 5


def test_tool_prompts_name_real_tools():
    prompts = rows("benchmarks/data/tool_prompts.jsonl")
    assert len(prompts) >= 40 and sum(p["lang"] == "zh" for p in prompts) >= 12
    assert all(p["tool"] is None or p["tool"] in TOOLS for p in prompts)
    assert sum(p["tool"] is None for p in prompts) >= 5


def test_retrieval_eval_points_at_shipped_documents():
    questions = rows("benchmarks/data/retrieval_eval.jsonl")
    assert len(questions) >= 30 and sum(q["lang"] == "zh" for q in questions) >= 12
    assert all((REPO / "knowledge" / q["source"]).is_file() for q in questions)
    assert len(list((REPO / "knowledge").glob("*.md"))) >= 15


def test_adapter_training_data():
    for name in ("concise", "zh-tutor"):
        train, held = (
            rows(f"assistant/training/data/{name}.train.jsonl"),
            rows(f"assistant/training/data/{name}.eval.jsonl"),
        )
        assert len(train) >= 80 and len(held) >= 15
        prompts = {r["messages"][0]["content"] for r in train}
        assert not prompts & {r["messages"][0]["content"] for r in held}, "held-out prompts leak into training"
        for r in train + held:
            reply = r["messages"][-1]["content"]
            if name == "concise":
                assert len(reply.split()) <= 25
            else:
                assert cjk_share(reply) > 0.3 and ("答案：" in reply or "总结：" in reply)
        if name == "zh-tutor":  # code and formulas bring Latin letters; the replies are Chinese overall
            shares = [cjk_share(r["messages"][-1]["content"]) for r in train]
            assert sum(shares) / len(shares) > 0.8
    assert len(rows("assistant/training/data/feedback_prompts.jsonl")) >= 200
