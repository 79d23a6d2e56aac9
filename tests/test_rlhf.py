"""RLHF on a tiny random Qwen2: KTO/DPO via trl change the LoRA weights; REINFORCE uses generated-token log-probs."""

import pytest
import torch
from safetensors.torch import load_file

from assistant.chat import TurnRequest
from assistant.training.forward import token_logprobs
from assistant.training.reward import RewardConfig, train_reward
from assistant.training.rlhf import RLHFConfig, train_rlhf


def cast_votes(services, n=6):
    """Two replies per prompt (the second by Regenerate); the shorter one is liked."""
    for i in range(n):
        first = services.chat.run(TurnRequest(owner="u", message=f"Tell me about topic {i}", knowledge_mode="off",
                                              tools_enabled=False, params={"temperature": 1.0, "seed": i}))
        second = services.chat.run(TurnRequest(owner="u", message="", conversation_id=first.conversation_id,
                                               regenerate=True, knowledge_mode="off", tools_enabled=False,
                                               params={"temperature": 1.0, "seed": 100 + i}))
        first_short = len(first.answer) <= len(second.answer)
        services.feedback.vote("u", first.message_id, first_short)
        services.feedback.vote("u", second.message_id, not first_short)


def lora_b_norm(folder):
    weights = load_file(str(folder / "adapter_model.safetensors"))
    return sum(float(v.abs().sum()) for k, v in weights.items() if "lora_B" in k)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["kto", "dpo", "dpo+sft"])
def test_trl_methods_change_the_lora_weights(services, settings, method):
    cast_votes(services)
    name = "t-" + method.replace("+", "-")
    sft_weight = 1.0 if method == "dpo+sft" else 0.0  # RPO: DPO plus an NLL term on the chosen replies
    card = train_rlhf(RLHFConfig(method=method.split("+")[0], steps=2, batch_size=2, min_votes=2, evaluate=False,
                                 name=name, learning_rate=1e-2, max_length=128, sft_weight=sft_weight), settings)
    assert card["hyperparameters"]["sft_weight"] == sft_weight
    method = method.split("+")[0]
    folder = settings.adapters_dir / name
    assert card["method"] == f"rlhf-{method}" and card["metrics"]["votes_used"] >= 2
    assert lora_b_norm(folder) > 0  # LoRA B starts at zero: any change is the training
    services.adapters.check_compatible(name)
    assert not (folder / "ref").exists()  # trl's frozen reference copy is not part of the adapter


@pytest.mark.slow
def test_dpo_trains_on_grounded_votes_instead_of_dropping_them(services, settings, monkeypatch):
    """Four retrieved sources make a prompt of ~1,000 tokens, over the job's 384: trl dropped every such pair (its
    prompt alone filled max_length) and the job failed with nothing to train on. Fitted, the pairs train."""
    from assistant.knowledge.search import Hit

    hits = [Hit(f"doc{i}.md", f"p. {i}", 0.9, f"Part {i}: " + "the manual explains it at length " * 40)
            for i in range(1, 5)]
    monkeypatch.setattr(services, "knowledge_hits", lambda query, always=False, owner=None: hits)
    # the app's window: in the tests' 1,024 tokens the chat leaves sources this long out (and says so)
    monkeypatch.setattr(services.settings, "context_tokens", 4096)
    for i in range(4):
        options = dict(owner="u", knowledge_mode="always", tools_enabled=False)
        first = services.chat.run(TurnRequest(message=f"What does part {i} say?",
                                              params={"temperature": 1.0, "seed": i}, **options))
        second = services.chat.run(TurnRequest(message="", conversation_id=first.conversation_id, regenerate=True,
                                               params={"temperature": 1.0, "seed": 100 + i}, **options))
        assert "Part 4: the manual" in first.model_input["messages"][0]["content"]
        services.feedback.vote("u", first.message_id, True)
        services.feedback.vote("u", second.message_id, False)

    card = train_rlhf(RLHFConfig(method="dpo", steps=2, batch_size=2, min_votes=2, evaluate=False, name="t-grounded",
                                 learning_rate=1e-2), settings)
    assert card["metrics"]["prompts_fitted"] == {"rows": 4, "shortened": 4, "too_long": 0}
    assert lora_b_norm(settings.adapters_dir / "t-grounded") > 0


def test_too_few_votes_says_how_many_are_needed(services, settings):
    with pytest.raises(ValueError, match="at least 8 votes; the store has 0"):
        train_rlhf(RLHFConfig(method="kto"), settings)
    with pytest.raises(ValueError, match="preference pairs"):
        train_rlhf(RLHFConfig(method="dpo", min_votes=1), settings)


def test_auto_trains_dpo_on_pairs_and_kto_when_there_are_too_few(services, settings):
    from assistant.training.rlhf import training_rows

    cast_votes(services)  # 6 prompts, each with a liked and a disliked reply: 6 pairs, 12 votes
    config = RLHFConfig(min_votes=6)
    rows, _ = training_rows(services.feedback, config)
    assert config.method == "dpo" and len(rows) == 6 and {"chosen", "rejected"} <= set(rows[0])
    assert (config.steps, config.beta) == (20, 0.2)  # the method's defaults, where the config left them at 0
    config = RLHFConfig(min_votes=7)  # too few pairs: the unpaired thumbs still teach
    rows, _ = training_rows(services.feedback, config)
    assert config.method == "kto" and len(rows) == 12 and "label" in rows[0]
    assert (config.steps, config.beta) == (30, 0.1)
    config = RLHFConfig(method="dpo", min_votes=6, steps=3, beta=0.5)  # what the user set stays
    training_rows(services.feedback, config)
    assert (config.steps, config.beta) == (3, 0.5)


def test_token_logprobs_cover_only_the_generated_tokens(services):
    engine = services.llm
    model = engine.model
    sequence = torch.tensor([[5, 6, 7, 8, 9, 10]])
    logp = token_logprobs(model, sequence, prompt_length=4)
    assert logp.shape == (1, 2)  # tokens 9 and 10 only
    with torch.no_grad():
        full = torch.log_softmax(model(input_ids=sequence).logits[0].float(), -1)
    assert torch.allclose(logp[0], torch.stack([full[3, 9], full[4, 10]]), atol=1e-5)


@pytest.mark.slow
def test_reward_model_and_reinforce(services, settings):
    cast_votes(services)
    card = train_reward(RewardConfig(min_votes=4, epochs=50), settings, services.feedback.rows())
    assert card["votes"] == 12 and card["heldout_votes"] + card["train_votes"] == 12
    settings.gate_heldout_prompts, settings.gate_qa_questions = 4, 0
    result = train_rlhf(RLHFConfig(method="ppo", steps=2, batch_size=2, min_votes=2, evaluate=True,
                                   name="t-ppo", max_new_tokens=6, learning_rate=1e-2), settings)
    assert lora_b_norm(settings.adapters_dir / "t-ppo") > 0
    gate = result["metrics"]["gate"]
    assert gate["prompts"] == 4 and gate["win_rate"] is not None and gate["kl_to_base"] >= 0
    assert [c["step"] for c in result["metrics"]["training_curve"]] == [1, 2]


def test_reward_model_learns_a_preference_it_can_see(services, settings, monkeypatch):
    """Liked replies are short English, disliked ones long Chinese: even a tiny random model's features separate
    them, so the head must rank unseen replies of each kind correctly (a head that learned nothing fails)."""
    from assistant.training.reward import RewardModel
    from assistant.training.sft import load_base_for_training

    replies = iter([f"Yes, {i}." if i % 2 else "这是一个很长的回答，" * 6 + str(i) for i in range(20)])

    def stream(prompt, params, adapter=None, stop_event=None, stats=None, json_schema=None, bias=None):
        yield next(replies)

    monkeypatch.setattr(services.llm, "stream", stream)
    for i in range(20):
        result = services.chat.run(TurnRequest(owner="u", message=f"question {i}", knowledge_mode="off",
                                               tools_enabled=False))
        services.feedback.vote("u", result.message_id, result.answer.startswith("Yes"))
    card = train_reward(RewardConfig(min_votes=8, epochs=200, holdout=0.25), settings, services.feedback.rows())
    assert card["heldout_votes"] == 5 and card["heldout_accuracy"] == 1.0 and card["train_accuracy"] == 1.0
    assert card["heldout_auc"] in (None, 1.0)  # perfect accuracy orders every (👍, 👎) pair right
    model, tokenizer, _ = load_base_for_training(settings)
    liked, disliked = RewardModel.load(settings).score(model, tokenizer, [{"role": "user", "content": "new one"}],
                                                       ["Yes, 99.", "这是一个很长的回答，" * 6 + "99"])
    assert liked > disliked


def test_kto_weights_balance_the_rarer_vote():
    from assistant.training.rlhf import kto_weights

    rows = [{"label": True}] * 27 + [{"label": False}] * 173
    weights = kto_weights(rows)
    ratio = weights["desirable_weight"] * 27 / (weights["undesirable_weight"] * 173)
    assert 1.0 <= ratio <= 4 / 3  # trl's recommended band
    assert kto_weights([{"label": True}] * 5) == {}
    flipped = kto_weights([{"label": True}] * 30 + [{"label": False}] * 10)
    assert flipped["undesirable_weight"] == 3.0 and flipped["desirable_weight"] == 1.0
