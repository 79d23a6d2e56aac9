"""The evaluation gate decides promotion: a losing candidate is refused with its reasons; an admin can force it."""

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from assistant.adapters import AdapterCard, save_adapter
from assistant.training.gate import (
    GateRefused,
    empty_verdict,
    nonanswer_verdict,
    pasted_verdict,
    promote,
    qa_correct,
    qa_questions,
    reward_verdict,
    run_gate,
    wilson,
)
from assistant.training.reward import ranking_accuracy


def make_adapter(services, settings, name, gate=None):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(settings.model)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"]))
    folder = settings.adapters_dir / name
    folder.mkdir()
    save_adapter(model, folder, AdapterCard(name=name, base_model=settings.model, method="rlhf-kto",
                                            metrics={"gate": gate} if gate else {}))
    return folder


def report(passed, current="base", reasons=()):
    return {"passed": passed, "current": current, "reasons": list(reasons), "win_rate": 0.3 if reasons else 0.8}


def test_replies_that_only_cite_are_counted_and_refused(settings):
    """The `cites` user's first DPO adapter answered "[1] [2]" and copied source lines: the reward model and the
    CoT set let it through, this check does not."""
    answered = "It needs 1.21 gigawatts [2]."
    empty = ["[1] [2]", "[1] (knowledge/vae.md, section: VAE › The trick)", "[1] [2] [3] [4] [5] [6] [7] ["]
    rows = [{"candidate": c, "current": answered} for c in [*empty, answered]]
    verdict, reasons = empty_verdict(rows, settings)
    assert verdict == {"candidate": 3, "current": 0, "of": 4}
    assert reasons == ["3 of 4 held-out replies say nothing besides citation markers (current: 0; may add 1)"]
    assert empty_verdict(rows[:1] + rows[3:], settings) == ({"candidate": 1, "current": 0, "of": 2}, [])


def test_replies_that_paste_a_source_passage_are_counted_and_refused(settings):
    """The twenty-second session's `cites` adapter (21 pairs) answered by pasting the retrieved passage under its
    source line: cited, long enough, liked by the user's rule and the reward model; this check counts it."""
    from assistant.chat import KNOWLEDGE_RULES
    from assistant.knowledge.citations import format_context
    from assistant.prompts import system_prompt

    passage = ("Fine-tuning can make a model forget what it knew. LoRA reduces the risk because the base weights "
               "never change, and the adapter can be switched off at any time.")
    hits = [{"source": "knowledge/lora-peft.md", "location": "section: Catastrophic forgetting", "text": passage},
            {"source": "knowledge/vae.md", "location": "section: VAE", "text": "A VAE encodes an image."}]
    system = system_prompt("You are helpful.", "direct", KNOWLEDGE_RULES + "\n\nSources:\n" + format_context(hits))
    grounded = [{"role": "system", "content": system}, {"role": "user", "content": "Does LoRA help, and why?"}]
    pasted = "[1] (knowledge/lora-peft.md, section: Catastrophic forgetting)\n" + passage
    answered = "Yes [1]: the base weights stay frozen, so switching the adapter off gives back the original model."
    rows = [{"messages": grounded, "candidate": pasted, "current": answered} for _ in range(3)]
    rows.append({"messages": grounded, "candidate": answered, "current": answered})
    verdict, reasons = pasted_verdict(rows, settings)
    assert verdict == {"candidate": 3, "current": 0, "of": 4}
    assert reasons == ["3 of 4 held-out replies paste a source passage instead of answering (current: 0; may add 1)"]
    # a quote of a few words inside an answer is not a paste, and without sources there is nothing to paste
    quoting = ("Yes [1]. LoRA trains two small matrices beside frozen layers, so what the model knew stays in place: "
               "as the source puts it, the base weights never change, and the adapter can be switched off.")
    ungrounded = [{"role": "system", "content": "You are helpful."}, grounded[1]]
    rows = [{"messages": grounded, "candidate": quoting, "current": answered},
            {"messages": ungrounded, "candidate": pasted, "current": answered}]
    assert pasted_verdict(rows, settings) == ({"candidate": 0, "current": 0, "of": 2}, [])


def test_replies_that_decline_or_ask_back_are_counted_and_refused(settings):
    """The twenty-fourth session's `short` adapter declined 8 of 40 harmless held-out questions and handed 5 back
    (the base: 0 and 2) with a 100 % reward-model win rate: short replies, liked by the user and the reward model."""
    from assistant.training.non_answers import is_non_answer

    declined = ["I'm sorry, but I can't assist with that.", "Sorry, I can’t help with that.",
                "抱歉，我无法回答这个问题。", "Can you explain the difference between HTTP and HTTPS?",
                "How do I give constructive feedback?"]
    answers = ["Boil it for 8 to 12 minutes, then taste a piece.",
               "I'm sorry to hear that. Restart the phone and check which app uses the battery.",
               "Which language? In Python, a function is a named block of code you call with arguments.",
               "Dark matter is matter that does not emit light; we see it only through its gravity.",
               "I can't stress this enough: " + "test the backup before you need it, " * 5]
    assert [is_non_answer(r) for r in declined + answers] == [True] * 5 + [False] * 5
    rows = [{"candidate": c, "current": answers[0]} for c in declined[:3]]
    rows += [{"candidate": a, "current": a} for a in answers] * 3  # 18 rows: 2 may be added (12.5 %)
    verdict, reasons = nonanswer_verdict(rows, settings)
    assert verdict == {"candidate": 3, "current": 0, "of": 18}
    assert reasons == ["3 of 18 held-out replies decline or only ask a question back (current: 0; may add 2)"]
    assert nonanswer_verdict(rows[1:], settings) == ({"candidate": 2, "current": 0, "of": 17}, [])


def test_a_grounded_answer_cites_real_sources_and_says_something():
    from assistant.knowledge.citations import grounded_answer

    assert grounded_answer("It needs 1.21 gigawatts [2].", 2)
    assert grounded_answer("因为 VAE 生成的图片通常比 GAN 更模糊 [1]。", 1)  # a Chinese character is a word
    assert not grounded_answer("It needs 1.21 gigawatts [3].", 2)  # a source that was not given
    assert not grounded_answer("It needs 1.21 gigawatts, as the manual says.", 2)  # no citation
    assert not grounded_answer("[1] [2]", 2)
    assert not grounded_answer("[1] (knowledge/vae.md, section: VAE › The trick)", 1)


def test_wilson_interval():
    low, high = wilson(13, 20)
    assert (round(low, 3), round(high, 3)) == (0.433, 0.819)  # 65 % of 20: the textbook values
    assert wilson(0, 0) == (0.0, 1.0)


def test_reward_verdict_refuses_a_narrow_majority_with_a_lower_mean_reward(settings):
    """The eighth session's lists run: 9 of 16 pairs won by a little, 7 lost by a lot, and the held-out preference
    fell; the pairs alone passed it."""
    def pairs(candidate: float, current: float, n: int) -> list[dict]:
        return [{"reward_candidate": candidate, "reward_current": current}] * n

    rows = pairs(2.1, 2.0, 9) + pairs(0.0, 4.0, 7)
    verdict, reasons = reward_verdict(rows, settings)
    assert verdict["win_rate"] == 0.562 and verdict["win_rate_ci95"][0] > settings.gate_min_win_rate_lower
    assert verdict["reward_mean"]["candidate"] < verdict["reward_mean"]["current"]
    assert reasons == [f"mean reward {verdict['reward_mean']['candidate']} < the current default's "
                       f"{verdict['reward_mean']['current']}"]
    winner = pairs(3.0, 1.0, 13) + pairs(1.0, 1.5, 3)
    assert reward_verdict(winner, settings)[1] == []


def test_a_win_judged_by_a_reward_model_that_cannot_rank_its_votes_does_not_pass(settings):
    winner = [{"reward_candidate": 3.0, "reward_current": 1.0}] * 16
    assert reward_verdict(winner, settings, {"heldout_auc": 0.82})[1] == []
    reasons = reward_verdict(winner, settings, {"heldout_auc": 0.5})[1]
    assert len(reasons) == 1 and "AUC 0.50" in reasons[0]


def test_ranking_accuracy_counts_ordered_pairs():
    scores, labels = torch.tensor([0.9, 0.1, 0.4, 0.4]), torch.tensor([1.0, 0.0, 0.0, 1.0])
    # pairs (up, down): (0.9, 0.1) (0.9, 0.4) (0.4, 0.1) right, (0.4, 0.4) a tie
    assert ranking_accuracy(scores, labels) == 3.5 / 4
    assert ranking_accuracy(scores, torch.ones(4)) is None


def test_a_grounded_answer_is_scored_by_its_final_answer_not_by_a_citation_or_a_substring():
    """The grounded check once counted a reply correct when it cited the question's document: the base model cites in
    no greedy reply, so it scored 0 of 16 on questions it answered right and no candidate could fall below it."""
    assert qa_correct("7860 [1]", ["7860", "port 7860"]) and qa_correct("Port 7860.", ["7860"])
    assert qa_correct("**20 MB**", ["20 MB", "20MB"]) and qa_correct("ASSISTANT_DATA_DIR", ["`ASSISTANT_DATA_DIR`"])
    assert not qa_correct("Not 7860 but 8080 [2].", ["7860"])  # the final answer, not a number somewhere in it
    assert not qa_correct("It is set with the ASSISTANT_DATA_DIR variable.", ["ASSISTANT_DATA_DIR"])  # a sentence
    assert not qa_correct("[1]", ["7860"]) and not qa_correct("", ["7860"])
    test, dev = qa_questions("test"), qa_questions("dev")
    assert len(test) >= 16 and dev and {q["question"] for q in test}.isdisjoint(q["question"] for q in dev)
    assert all(q["answers"] for q in test + dev)


def test_a_losing_candidate_is_refused_with_reasons_and_an_admin_can_force_it(services, settings):
    make_adapter(services, settings, "rlhf-loser", report(False, reasons=["reward-model win rate 30% < 50%"]))
    with pytest.raises(GateRefused, match="win rate 30% < 50%"):
        promote(services, "rlhf-loser", by="alice")
    assert services.adapters.default() is None and services.adapters.history() == []
    record = promote(services, "rlhf-loser", force=True, by="alice", note="trying it out")
    assert services.adapters.default() == "rlhf-loser"
    [entry] = services.adapters.history()
    assert entry["action"] == "force-promote" and entry["evaluation"]["forced"] is True
    assert entry["evaluation"]["by"] == "alice" and entry["evaluation"]["overridden"] == record["overridden"]
    assert "win rate 30% < 50%" in entry["evaluation"]["overridden"][0]


def test_a_winner_is_promoted_but_only_against_the_default_it_was_compared_with(services, settings):
    make_adapter(services, settings, "rlhf-a", report(True))
    make_adapter(services, settings, "rlhf-b", report(True))
    make_adapter(services, settings, "rlhf-none")
    with pytest.raises(GateRefused, match="no gate report"):
        promote(services, "rlhf-none")
    assert promote(services, "rlhf-a", by="cli")["forced"] is False
    assert services.adapters.history()[0]["action"] == "promote"
    with pytest.raises(GateRefused, match="default is now rlhf-a"):  # b beat the base, not a
        promote(services, "rlhf-b")


@pytest.mark.slow  # 100 CoT generations on the tiny model: minutes on a busy 2-core machine
def test_the_gate_runs_end_to_end_and_refuses_without_a_reward_model(services, settings):
    settings.gate_heldout_prompts, settings.gate_qa_questions, settings.context_tokens = 4, 1, 2048
    from assistant.chat import TurnRequest

    services.chat.run(TurnRequest(
        owner="u", message="a recent question nobody voted on", knowledge_mode="off", tools_enabled=False))
    folder = make_adapter(services, settings, "rlhf-new")
    result = run_gate(settings, "rlhf-new")
    assert result["prompts"] == 4 and result["prompt_sources"] == ["conversation", "shipped held-out list"]
    assert result["cot"]["of"] == 50 and result["passed"] is False
    assert any("no reward model" in r for r in result["reasons"])
    assert services.adapters.get("rlhf-new").metrics["gate"]["reasons"] == result["reasons"]
    assert (folder / "gate.md").read_text().count("|") > 10 and (folder / "gate.svg").exists()
    # the current default's replies are kept for the next candidate judged on the same prompts
    cached = list((settings.data_dir / "gate_cache").glob("base-base-*-heldout-*.json"))
    assert len(cached) == 1
    assert json.loads(cached[0].read_text())[:3] == [e["current"] for e in result["examples"]]
    # and the candidate's own results: once promoted, it is the next job's current default
    mine = list((settings.data_dir / "gate_cache").glob("rlhf-new-*-cot-batched.json"))
    assert len(mine) == 1 and sum(json.loads(mine[0].read_text())) == result["cot"]["candidate"]
    with pytest.raises(GateRefused, match="no reward model"):
        promote(services, "rlhf-new")
    # the grounded question's results are kept per model input: once an upload changes what retrieval finds for
    # it, the base's kept result answered other sources and is not read back (the cache once keyed on the count)
    assert result["grounded_qa"]["of"] == 1

    def qa_cached() -> list:
        return sorted((settings.data_dir / "gate_cache").glob("base-base-*-qa*.json"))

    assert len(qa_cached()) == 1
    question = qa_questions()[0]["question"]
    report = services.knowledge.add_upload("note.md", f"# {question}\n\n{question} See this note.\n".encode())
    assert not report.errors
    run_gate(settings, "rlhf-new")
    assert len(qa_cached()) == 2


def test_gate_results_are_read_back_for_the_same_weights_and_model_and_not_for_another_model(settings, tmp_path):
    """The cache once keyed the base's results on the engine kind alone: after a switch of base model the gate
    compared a candidate with another model's CoT and QA results."""
    from assistant.services import Services
    from assistant.training.gate import _cached

    computed: list[int] = []

    def compute() -> list[int]:
        computed.append(len(computed) + 1)
        return [computed[-1]]

    services = Services(settings)
    assert _cached(services, None, "probe", compute) == [1]
    assert _cached(services, None, "probe", compute) == [1] and computed == [1]  # read back, not computed
    another = tmp_path / "another-model"
    another.symlink_to(settings.model)
    assert _cached(Services(settings.model_copy(update={"model": str(another)})), None, "probe", compute) == [2]
    make_adapter(services, settings, "cand")
    assert _cached(services, "cand", "probe", compute) == [3]  # an adapter's results are its own


def test_reward_and_kl_share_the_base_forward_and_match_separate_passes(settings):
    """Per held-out row: the base's pass over the conversation gives the candidate's reward and the base side of
    the KL; the scores equal those of separate passes, with three backbone forwards per row instead of four. A
    grounded row's reward reads it fitted to the budget (sources shortened), but its KL reads the reply in the whole
    prompt it was generated from: on a fitted prompt the k3 estimate blew up to 13.5 on a real held-out row."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.training.forward import backbone, token_logprobs
    from assistant.training.gate import torch_scores
    from assistant.training.reward import FEATURES, RewardModel

    folder = settings.adapters_dir / "cand"
    base = AutoModelForCausalLM.from_pretrained(settings.model)
    lora = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, weight in lora.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.5)  # a candidate that differs from the base
    folder.mkdir(parents=True)
    save_adapter(lora, folder, AdapterCard(name="cand", base_model=settings.model, method="rlhf-dpo"))
    dims = 2 * base.config.hidden_size  # the conversation's and the reply's mean states
    heads = settings.data_dir / "reward_models" / "r"
    heads.mkdir(parents=True)
    torch.save({"weight": torch.randn(dims), "bias": torch.tensor(0.1), "mean": torch.zeros(dims),
                "std": torch.ones(dims)}, heads / "head.pt")
    (heads / "card.json").write_text(json.dumps({"name": "r", "base_model": settings.model, "max_length": 384,
                                                 "features": FEATURES}))

    tokenizer = AutoTokenizer.from_pretrained(settings.model)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(settings.model), str(folder)).eval()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name two colours."}]
    sources = "\n\n".join(f"[{i}] (knowledge/c{i}.md, section: Colours)\n" + f"Colour fact {i}: " * 60
                           for i in (1, 2))
    grounded = [{"role": "system", "content": "Answer from the sources.\n\nSources:\n" + sources},
                {"role": "user", "content": "Which colours?"}]
    rows = [{"messages": messages, "candidate": "- red\n- blue", "current": "Red and blue."},
            {"messages": grounded, "candidate": "Red [1] and blue [2].", "current": "Red."}]
    lengths = []
    hook = backbone(model).register_forward_hook(lambda _m, args, kwargs, _out: lengths.append(
        kwargs["input_ids"].shape[1]), with_kwargs=True)
    torch_scores(settings, "cand", rows, model, tokenizer)
    hook.remove()
    grounded_prompt = tokenizer(tokenizer.apply_chat_template(grounded, tokenize=False, add_generation_prompt=True),
                                add_special_tokens=False)["input_ids"]
    whole = grounded_prompt + tokenizer("Red [1] and blue [2].", add_special_tokens=False)["input_ids"]
    # the grounded row: both rewards on the fitted conversation, then base and candidate over the whole prompt
    assert len(grounded_prompt) > 384 and len(lengths) == 7
    assert max(lengths[3:5]) <= 384 and lengths[5:] == [len(whole), len(whole)]

    reward = RewardModel.load(settings)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    sequence = torch.tensor([prompt_ids + tokenizer("- red\n- blue", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        with model.disable_adapter():
            expected_rewards = reward.score(model, tokenizer, messages, ["- red\n- blue", "Red and blue."])
            logp_base = token_logprobs(model, sequence, len(prompt_ids))
        ratio = logp_base - token_logprobs(model, sequence, len(prompt_ids))
    assert rows[0]["reward_candidate"] == pytest.approx(expected_rewards[0], abs=1e-4)
    assert rows[0]["reward_current"] == pytest.approx(expected_rewards[1], abs=1e-4)
    assert rows[0]["kl_to_base"] == pytest.approx(round(float((torch.exp(ratio) - 1 - ratio).mean()), 4), abs=2e-4)
    assert rows[0]["kl_to_base"] > 0

    with torch.no_grad():
        with model.disable_adapter():
            logp_base = token_logprobs(model, torch.tensor([whole]), len(grounded_prompt))
        ratio = logp_base - token_logprobs(model, torch.tensor([whole]), len(grounded_prompt))
    assert rows[1]["kl_to_base"] == pytest.approx(round(float((torch.exp(ratio) - 1 - ratio).mean()), 4), abs=2e-4)
