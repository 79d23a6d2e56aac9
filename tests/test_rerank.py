"""The reranker: look-alike documents (same template, different facts) put the right one first, and a missing,
busy or failing model leaves the search's order alone."""

from __future__ import annotations

import threading

import pytest
import torch

from assistant.config import Settings
from assistant.knowledge.rerank import document_scores, rerank
from assistant.knowledge.service import KnowledgeBase

# Two handbooks from one template: the office's name and street are only in each introduction, so the parking
# chunks differ by their numbers alone.
TEMPLATE = """# Harbourline Logistics: {city} Depot Handbook

Welcome to the {city} depot at {street}. The site manager is {manager}.

## Parking

Staff may use the parking spaces behind the loading bay. The depot has {spaces} parking spaces for staff and
{visitors} for visitors; park facing the exit.

## Deliveries

Deliveries are accepted from {opens} to 16:00 on weekdays at gate {gate}.
"""
DEPOTS = {
    "depot-arden.md": dict(city="Arden", street="14 Kestrel Lane", manager="Ines Marlowe", spaces=12,
                           visitors=3, opens="07:30", gate="B"),
    "depot-colby.md": dict(city="Colby", street="9 Quarry Row", manager="Tobias Wren", spaces=40,
                           visitors=8, opens="06:00", gate="D"),
}
QUESTION = "How many parking spaces does the depot on Quarry Row have for staff?"


@pytest.fixture()
def depots(tmp_path) -> KnowledgeBase:
    corpus = tmp_path / "knowledge"
    corpus.mkdir()
    for name, facts in DEPOTS.items():
        (corpus / name).write_text(TEMPLATE.format(**facts))
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=corpus, auto_index_knowledge=False,
                        rerank="off")
    settings.ensure_dirs()
    kb = KnowledgeBase(settings)
    assert not kb.sync_folder().errors
    return kb


def _parking(hits: list) -> list[str]:
    return [h.source for h in hits if "parking" in h.location.lower()]


def test_document_rerank_puts_the_named_depot_first_whatever_the_search_order(depots):
    hits = depots.search(QUESTION, k=10)
    parking = [h for h in hits if "parking" in h.location.lower()]
    assert len(parking) == 2
    # Worst case for the search: the neighbour's parking chunk first, the right one right after it.
    wrong_first = sorted(parking, key=lambda h: h.source != "knowledge/depot-arden.md")
    assert _parking(wrong_first)[0] == "knowledge/depot-arden.md"
    reranked = rerank(depots.index, QUESTION, wrong_first, "document", top=10)
    assert _parking(reranked) == ["knowledge/depot-colby.md", "knowledge/depot-arden.md"]
    assert reranked[0].source == "knowledge/depot-colby.md"
    # "Quarry Row" is in Colby's handbook only; "parking", "spaces", "depot" are in both and weigh nothing.
    scores = dict(zip([h.source for h in wrong_first], document_scores(depots.index, QUESTION, wrong_first),
                      strict=True))
    assert scores["knowledge/depot-colby.md"] > 0 == scores["knowledge/depot-arden.md"]


def test_the_setting_reranks_every_search_and_off_keeps_the_search_order(depots):
    plain = depots.search(QUESTION, k=10)
    depots.settings.rerank = "document"
    reranked = depots.search(QUESTION, k=10)
    assert reranked[0].source == "knowledge/depot-colby.md"
    assert _parking(reranked)[0] == "knowledge/depot-colby.md"
    assert sorted(h.row for h in reranked) == sorted(h.row for h in plain)  # same chunks, new order
    top2 = depots.search(QUESTION, k=2)  # k below rerank_top: the best of the reranked pool
    assert [h.row for h in top2] == [h.row for h in reranked[:2]]
    # The other name in the question moves the other depot up.
    other = depots.search("How many parking spaces does the depot on Kestrel Lane have for staff?", k=10)
    assert _parking(other)[0] == "knowledge/depot-arden.md"


class FakeJudge:
    """Stands in for an engine: says "yes" to passages that mention `liked`, "no" to the rest."""

    def __init__(self, liked: str, fail: bool = False) -> None:
        self.liked, self.fail, self.calls = liked, fail, 0

        class Template:
            @staticmethod
            def apply_chat_template(messages, tokenize, add_generation_prompt):  # noqa: ANN001, ANN205
                return messages[-1]["content"]

        self.tokenizer = Template()

    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("decode failed")
        assert choices == ["yes", "Yes", "no", "No"]
        return [[-0.1, -3.0, -5.0, -6.0] if self.liked in p.split("):", 1)[1] else [-5.0, -6.0, -0.1, -3.0]
                for p in prompts]


def test_model_rerank_follows_the_judgement_and_degrades_to_the_search_order(depots, monkeypatch):
    from assistant.knowledge import rerank as module

    monkeypatch.setattr(module, "MODEL_WEIGHT", 3.0)  # a judge trusted over the search's order
    monkeypatch.setattr(module, "_engine_ref", None)  # no model loaded (an earlier test may have registered one)
    hits = depots.search(QUESTION, k=10)
    judged = rerank(depots.index, QUESTION, hits, "model", top=10, engine=FakeJudge("40 parking spaces"))
    assert "40 parking spaces" in judged[0].text
    # no model yet, a failing model, a model busy with another request: the search's order, nothing raised
    assert rerank(depots.index, QUESTION, hits, "model", top=10, engine=None) == hits
    assert rerank(depots.index, QUESTION, hits, "model", top=10, engine=FakeJudge("x", fail=True)) == hits
    from assistant.llm.base import MODEL_LOCK

    held, release = threading.Event(), threading.Event()

    def busy() -> None:
        with MODEL_LOCK:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=busy)
    thread.start()
    held.wait(5)
    judge = FakeJudge("40 parking spaces")
    try:
        assert rerank(depots.index, QUESTION, hits, "model", top=10, engine=judge) == hits and judge.calls == 0
    finally:
        release.set()
        thread.join()


def test_torch_choice_logprobs_match_a_plain_forward_pass(settings):
    """The batched, left-padded scoring gives each prompt the log-softmax a lone forward pass gives it."""
    from assistant.llm.engine import TorchEngine
    from assistant.llm.loader import load_model

    engine = TorchEngine(load_model(settings), settings)
    prompts = ["Question: where?\nPassage: a short one.\nAnswer:", "Q: 2 + 2?\nA longer passage " * 3 + "\nAnswer:"]
    got = engine.choice_logprobs(prompts, ["yes", "no"])
    ids = [engine.tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in ("yes", "no")]
    for prompt, row in zip(prompts, got, strict=True):
        tokens = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            want = torch.log_softmax(engine.model(**tokens).logits[0, -1].float(), dim=-1)[ids]
        assert row == pytest.approx(want.tolist(), abs=1e-4)


@pytest.mark.e2e
def test_llamacpp_choice_logprobs_say_yes_to_the_passage_that_answers(tmp_path):
    """The default model on llama.cpp: batched scoring equals one-at-a-time scoring, and judges sensibly."""
    from assistant.knowledge.rerank import JUDGE_SYSTEM
    from assistant.llm.select import load_engine

    engine = load_engine(Settings(engine="llamacpp", data_dir=tmp_path / "data"))

    def prompt(passage: str) -> str:
        user = f"Question: What is the capital of Japan?\n\nPassage:\n{passage}\n\nDoes this passage answer the " \
               "question? Answer yes or no."
        return engine.tokenizer.apply_chat_template([{"role": "system", "content": JUDGE_SYSTEM},
                                                     {"role": "user", "content": user}],
                                                    tokenize=False, add_generation_prompt=True)

    prompts = [prompt("Tokyo is the capital of Japan."), prompt("Bread needs flour, water and yeast.")]
    both = engine.choice_logprobs(prompts, ["yes", "no"])
    alone = [engine.choice_logprobs([p], ["yes", "no"])[0] for p in prompts]
    # Q4 matmuls quantize activations per batch shape: side by side and alone differ by up to ~0.1 nat
    assert [x for row in both for x in row] == pytest.approx([x for row in alone for x in row], abs=0.15)
    assert both[0][0] - both[0][1] > both[1][0] - both[1][1]
