"""Fitting a voted conversation into the trainer's length: the sources shrink, the question and the reply stay."""

import pytest
import torch
from transformers import AutoTokenizer

from assistant.chat import EARLIER_TOOLS, KNOWLEDGE_RULES
from assistant.knowledge.citations import format_context
from assistant.prompts import system_prompt
from assistant.training.fit import fit_messages, fit_rows, source_bodies

QUESTION = "How much power does the flux capacitor need?"
REPLY = "It needs 1.21 gigawatts [2]."


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def grounded(tool_note: str = "") -> list[dict]:
    hits = [{"source": f"doc{i}.md", "location": f"p. {i}", "text": f"Paragraph {i} says: " + "lorem ipsum " * 120}
            for i in range(1, 5)]
    extra = KNOWLEDGE_RULES + "\n\nSources:\n" + format_context(hits) + tool_note
    return [{"role": "system", "content": system_prompt("You are helpful.", "direct", extra)},
            {"role": "user", "content": QUESTION}]


def count(tokenizer, messages, reply=REPLY) -> int:
    text = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": reply}], tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_a_grounded_prompt_keeps_every_source_line_the_rules_the_question_and_the_reply(tokenizer):
    messages = grounded("\n\n" + EARLIER_TOOLS + "\n- a drawing of a seven")
    assert count(tokenizer, messages) > 1000
    fitted = fit_messages(tokenizer, messages, REPLY, 384)
    assert fitted.fits and fitted.shortened and fitted.tokens == count(tokenizer, fitted.messages) <= 384
    assert fitted.tokens > 384 - 60  # the budget is used, not emptied
    system = fitted.messages[0]["content"]
    assert KNOWLEDGE_RULES in system and system.endswith(EARLIER_TOOLS + "\n- a drawing of a seven")
    _, _, bodies = source_bodies(system)
    assert [line for line, _ in bodies] == [f"[{i}] (doc{i}.md, p. {i})" for i in range(1, 5)]
    assert all(text.startswith(f"Paragraph {i} says:") and text.endswith(" …") for i, (_, text) in enumerate(bodies, 1))
    assert fitted.messages[1:] == messages[1:]
    assert messages[0]["content"].count("lorem") == 480  # the vote's own copy is untouched


def test_a_short_prompt_is_left_as_it_is_and_old_turns_go_before_the_question(tokenizer):
    short = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
    assert fit_messages(tokenizer, short, REPLY, 384).messages == short
    assert not fit_messages(tokenizer, short, REPLY, 384).shortened
    history = [{"role": role, "content": f"turn {i} " + "words " * 60}
               for i, role in enumerate(["user", "assistant"] * 4)]
    long = [short[0], *history, short[1]]
    fitted = fit_messages(tokenizer, long, REPLY, 200)
    assert fitted.fits and fitted.messages[0] == short[0] and fitted.messages[-1] == short[1]
    kept = fitted.messages[1:-1]
    assert kept == history[len(history) - len(kept):] and len(kept) < len(history)  # the newest turns stay


def test_fit_rows_fits_each_pair_to_its_longer_reply_and_counts_what_it_did(tokenizer):
    long_reply = "A long answer. " * 40
    pair = {"prompt": grounded(), "chosen": [{"role": "assistant", "content": REPLY}],
            "rejected": [{"role": "assistant", "content": long_reply}]}
    short = {"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "hey"}],
             "label": True}
    rows, counts = fit_rows(tokenizer, [pair, short], 384)
    assert counts == {"rows": 2, "shortened": 1, "too_long": 0}
    assert count(tokenizer, rows[0]["prompt"], long_reply) <= 384 and rows[1] == short
    assert rows[0]["chosen"] == pair["chosen"] and rows[0]["rejected"] == pair["rejected"]


def test_the_reward_features_of_a_grounded_reply_depend_on_the_reply(settings, tokenizer):
    """Before fitting, the reply sat past the reward model's 384 tokens and was cut off: every reply behind the same
    sources got the same features, so no vote on a grounded reply could teach the reward model anything."""
    from transformers import AutoModelForCausalLM

    from assistant.training.reward import features

    model = AutoModelForCausalLM.from_pretrained(settings.model).eval()
    feats = features(model, tokenizer, [(grounded(), REPLY), (grounded(), "I do not know.")], 384)
    assert feats.shape == (2, 2 * model.config.hidden_size)
    assert not torch.allclose(feats[0], feats[1], atol=1e-4)
