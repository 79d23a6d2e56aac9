"""The evaluation gate: a candidate adapter may become the default only when it beats the current one.

Three checks, thresholds in `Settings` (`gate_*`):
(a) held-out prompts — recent user messages of conversations whose votes were never trained on (the shipped
    held-out list fills up), each given exactly as the model saw it — answered greedily by the candidate and the
    current default, both replies scored by the reward model: the candidate's win rate (ties count half) with a 95 %
    Wilson interval;
(b) no regression beyond a tolerance on the 50 chain-of-thought problems and on knowledge-grounded questions asked
    with what retrieval finds for them, as the chat asks them (both greedy, answer only, the final answer matched
    exactly after the vote's normalisation);
(c) the candidate's mean KL to the base model per generated token on its held-out replies stays under a bound.
On the same held-out replies it counts three ways a candidate met a simulated user's preference without
answering, each found by a benchmark run: replies with nothing besides citation markers, pasted source
passages, and short replies that decline or hand the question back.

Tokens come from the serving engine (llama.cpp on CPU: the candidate's GGUF LoRA is exported if missing); torch is
used only for what needs logits (reward-model features, log-probabilities for KL). The current default's CoT and QA
results are cached per adapter weights, so a second candidate costs half. `promote()` is the one promotion path
(UI, CLI, API): it refuses a candidate whose report failed or was made against another default, with the reasons,
unless forced, and the promotion history records who forced what.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from pathlib import Path

import torch

from assistant.config import REPO_ROOT, Settings
from assistant.prompts import extract_final, normalize_answer
from assistant.storage import atomic_write_text

HELDOUT_PROMPTS = REPO_ROOT / "assistant/training/data/feedback_prompts.jsonl"
COT_PROBLEMS = REPO_ROOT / "benchmarks/data/cot_problems.jsonl"
# written apart from the gate from the knowledge/ documents alone, with every accepted way to write each answer; the
# gate asks the "test" half (the "dev" half is for checking the prompt and scorer: docs/bench_feedback.md)
QA_QUESTIONS = REPO_ROOT / "benchmarks/data/grounded_qa.jsonl"
ANSWER_ONLY = " Answer with the number or word only."
QA_ANSWER_ONLY = " Answer with the answer only, in a few words."
REPLY_TOKENS, COT_TOKENS, QA_TOKENS = 96, 24, 32


class GateRefused(ValueError):
    """Promotion refused: the message lists the gate's reasons (an admin may force it)."""

    def __init__(self, name: str, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(f"{name} is not promoted: " + "; ".join(reasons) + " (an admin can force it)")


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wilson(wins: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (wins may be fractional: ties count half)."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --- (a) held-out prompts ---------------------------------------------------------------------------------------
def heldout_prompts(services, trained_on: set[int], n: int) -> list[dict]:  # noqa: ANN001 - Services
    """Up to n prompts the candidate never trained on: recent user messages first (with the exact model input of
    the reply they got, so sources and instructions are there), then the shipped held-out list."""
    from sqlalchemy import select

    from assistant.db import Message

    out, seen = [], set()
    with services.db.session() as s:
        replies = s.scalars(select(Message).where(Message.role == "assistant").order_by(Message.id.desc())
                            .limit(20 * n)).all()
        voted = set(trained_on)
        for reply in replies:
            meta = reply.meta or {}
            model_input, user_id = meta.get("model_input"), meta.get("user_message_id")
            if not model_input or user_id in voted or user_id is None:
                continue
            messages = [{"role": m["role"], "content": m["content"]} for m in model_input["messages"]]
            key = messages[-1]["content"]
            if key in seen or key.lstrip().startswith("/") or meta.get("cot_mode") == "self-consistency":
                continue
            seen.add(key)
            out.append({"messages": messages, "from": "conversation", "user_message_id": user_id})
            if len(out) >= n:
                return out
    system = services.settings.system_prompt
    for row in _jsonl(HELDOUT_PROMPTS)[::-1]:  # the list's tail is what the benchmarks never vote on
        if len(out) >= n:
            break
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            out.append({"messages": [{"role": "system", "content": system}, {"role": "user", "content": row["prompt"]}],
                        "from": "shipped held-out list"})
    return out


def _generate(services, adapter: str | None, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:  # noqa: ANN001
    """Greedy replies, decoded side by side where the engine can (llama.cpp: 16 at a time, ~3x faster here)."""
    from assistant.llm.base import GenerationParams

    engine = services.llm
    params = GenerationParams.from_settings(services.settings, temperature=0.0, max_new_tokens=max_new_tokens)
    prompts = [engine.build_prompt(messages, max_new_tokens)[0] for messages in conversations]
    return [reply.strip() for reply in engine.generate_many(prompts, params, adapter)]


# --- (b) regression sets ----------------------------------------------------------------------------------------
def cot_results(services, adapter: str | None) -> list[bool]:  # noqa: ANN001
    """All 50 problems, greedy, answer only; scored with `extract_final`/`normalize_answer` (the vote's)."""
    from assistant.prompts import system_prompt

    system = system_prompt(services.settings.system_prompt, "direct")
    problems = _jsonl(COT_PROBLEMS)
    replies = _generate(services, adapter, [[{"role": "system", "content": system},
                                             {"role": "user", "content": p["question"] + ANSWER_ONLY}]
                                            for p in problems], COT_TOKENS)
    finals = [extract_final(reply) for reply in replies]
    return [final is not None and final == normalize_answer(p["answer"]) for final, p in zip(finals, problems,
                                                                                             strict=True)]




QAInputs = tuple[list[dict], list[list[dict]], list[list]]  # questions, the conversations the model is given, hits


def qa_questions(split: str = "test") -> list[dict]:
    return [row for row in _jsonl(QA_QUESTIONS) if row["split"] == split]


def qa_inputs(services, n: int, split: str = "test") -> QAInputs | str:  # noqa: ANN001
    """The first n grounded questions with what retrieval finds for each now: (questions, the conversations the
    model is given, the hits). A reason string when the knowledge base cannot be used here."""
    if n <= 0:
        return "skipped (ASSISTANT_GATE_QA_QUESTIONS=0)"
    try:
        kb = services.knowledge
        if not kb.documents():
            kb.sync_folder()
    except Exception as exc:  # noqa: BLE001 - an optional check: say why it did not run
        return f"not run: knowledge base unavailable ({exc})"
    from assistant.chat import KNOWLEDGE_RULES
    from assistant.prompts import system_prompt

    questions, conversations, retrieved = qa_questions(split)[:n], [], []
    for question in questions:
        hits = kb.search(question["question"], k=services.settings.retrieval_k)
        context = services.format_sources(hits)
        system = system_prompt(services.settings.system_prompt, "direct", KNOWLEDGE_RULES + "\n\nSources:\n" + context)
        conversations.append([{"role": "system", "content": system},
                              {"role": "user", "content": question["question"] + QA_ANSWER_ONLY}])
        retrieved.append(hits)
    return questions, conversations, retrieved


def qa_correct(reply: str, answers: list[str]) -> bool:
    """The reply's final answer (`extract_final`, citation markers aside) is one of the accepted answers, each read
    the same way: "7860 [1]" and "Port 7860." answer "7860"; "The app listens on port 7860 by default." states it
    in a sentence and has a final answer only through its number. Never a substring: "not 7860 but 8080" is 8080."""
    final = extract_final(re.sub(r"\[\d+\]", "", reply))
    return final is not None and final in {extract_final(answer) for answer in answers}


def qa_results(services, adapter: str | None, inputs: QAInputs) -> list[bool]:  # noqa: ANN001
    """Grounded questions answered greedily with the chat's grounded prompt; correct when `qa_correct`."""
    questions, conversations, _ = inputs
    replies = _generate(services, adapter, conversations, QA_TOKENS)
    return [qa_correct(reply, question["answers"]) for question, reply in zip(questions, replies, strict=True)]


def _digest(conversations: list[list[dict]]) -> str:
    return hashlib.sha256(json.dumps(conversations).encode()).hexdigest()[:16]


def _adapter_digest(settings: Settings, adapter: str | None) -> str:
    if not adapter:
        return "base"
    folder = settings.adapters_dir / adapter
    return hashlib.sha256((folder / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]


def _engine_digest(engine) -> str:  # noqa: ANN001 - LLMEngine
    """Which model answers: the same adapter on another base model, file or quantization answers differently."""
    info = engine.loaded
    identity = [engine.kind, info.name, info.quant, Path(str(info.path)).name]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]


def _cached(services, adapter: str | None, what: str, compute):  # noqa: ANN001, ANN202
    """Results that depend only on the adapter's weights, the serving model and the inputs, computed once. Both
    sides are kept: a candidate that is promoted is the next job's current default, whose results are then read
    back instead of generated again."""
    engine = services.llm
    key = (f"{adapter or 'base'}-{_adapter_digest(services.settings, adapter)}-{engine.kind}-"
           f"{_engine_digest(engine)}-{what}-batched")
    path = services.settings.data_dir / "gate_cache" / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    atomic_write_text(path, json.dumps(value))
    return value


# --- (c) torch scoring: reward and KL ---------------------------------------------------------------------------
def torch_scores(settings: Settings, candidate: str, rows: list[dict], model=None, tokenizer=None) -> dict:  # noqa: ANN001
    """Reward of both replies per prompt (frozen base features) and the candidate's KL to the base per token.

    The reward reads the conversation fitted to its token budget (sources shortened, as the RLHF job trained on it);
    the KL reads the reply in the whole prompt it was generated from. Measured on a fitted prompt, a reply that
    quotes a source the fitting cut away is no sample of the candidate there, and the k3 estimate exploded: 13.5
    nats/token on one row of 16, 0.036 on its real prompt (docs/bench_feedback.md, twenty-third session).

    `model` may be the job's trained PeftModel (its active adapter is the candidate); else the candidate is loaded.
    """
    from peft import PeftModel

    from assistant.training.forward import last_hidden_state, logprobs_from_hidden, token_logprobs
    from assistant.training.reward import RewardModel, conversation_ids, pooled

    try:
        reward_model = RewardModel.load(settings)
    except (FileNotFoundError, ValueError) as exc:
        reward_model, reward_error = None, str(exc)
    if model is None:
        from assistant.training.sft import load_base_for_training

        model, tokenizer, _ = load_base_for_training(settings)
        model = PeftModel.from_pretrained(model, str(settings.adapters_dir / candidate))
    model.eval()
    kls = []
    with torch.no_grad():
        for row in rows:
            text = tokenizer.apply_chat_template(row["messages"], tokenize=False, add_generation_prompt=True)
            prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            reply_ids = tokenizer(row["candidate"], add_special_tokens=False)["input_ids"]
            sequence = torch.tensor([prompt_ids + reply_ids], device=model.device)
            with model.disable_adapter():
                base_hidden = None
                if reward_model is not None:
                    # the reward reads the base's states over the whole conversation; when its tokens start with
                    # prompt + reply (they do unless the template splits them differently or the prompt had to be
                    # fitted to the reward model's length), the same pass gives the base's log-probs for the KL:
                    # one forward of the base per row instead of two
                    ids, reply_start = conversation_ids(tokenizer, row["messages"], row["candidate"],
                                                        reward_model.max_length)
                    conversation = torch.tensor([ids], device=model.device)
                    hidden = last_hidden_state(model, input_ids=conversation)
                    row["reward_candidate"] = float(reward_model.score_features(pooled(hidden, reply_start)[None])[0])
                    row["reward_current"] = reward_model.score(model, tokenizer, row["messages"], [row["current"]])[0]
                    if conversation[:, :sequence.shape[1]].equal(sequence):
                        base_hidden = hidden
                if reply_ids:
                    logp_base = (token_logprobs(model, sequence, len(prompt_ids)) if base_hidden is None else
                                 logprobs_from_hidden(model, base_hidden, sequence, len(prompt_ids)))
            if reply_ids:
                logp_new = token_logprobs(model, sequence, len(prompt_ids))
                # k3 estimator (Schulman): E[exp(r) - 1 - r], r = log p_base - log p_new, over the candidate's own
                # tokens; never negative, unlike the plain mean of log-ratios on a handful of replies
                ratio = logp_base - logp_new
                row["kl_to_base"] = round(float((torch.exp(ratio) - 1 - ratio).mean()), 4)
                kls.append(row["kl_to_base"])
    out = {"kl_to_base": round(sum(kls) / len(kls), 4) if kls else 0.0}
    if reward_model is None:
        out["reward_error"] = reward_error
    else:
        out["reward_model"] = {k: reward_model.card.get(k) for k in ("name", "votes", "heldout_accuracy",
                                                                     "heldout_majority_baseline", "heldout_auc",
                                                                     "base_dtype")}
    return out


# --- the gate ---------------------------------------------------------------------------------------------------
def reward_verdict(rows: list[dict], settings, judge: dict | None = None) -> tuple[dict, list[str]]:  # noqa: ANN001 - Settings
    """Win rate (with its 95 % interval) and mean reward of candidate vs current over the held-out replies, and
    the reasons they refuse the candidate. A candidate the reward model scores lower on average has not won, even
    when it wins a narrow majority of the pairs (the eighth session's `lists` run: 56 % of pairs, mean 1.83 vs
    2.99, and its held-out preference fell). Nor does a win count when the judge (`judge`: the reward model's card)
    ranks its own held-out votes little better than chance: that run's scored 0.775 against a majority of 0.90."""
    wins = sum(1.0 if r["reward_candidate"] > r["reward_current"] else
               0.5 if r["reward_candidate"] == r["reward_current"] else 0.0 for r in rows)
    low, high = wilson(wins, len(rows))
    mean = {k: round(sum(r[f"reward_{k}"] for r in rows) / max(len(rows), 1), 3) for k in ("candidate", "current")}
    verdict = {"win_rate": round(wins / max(len(rows), 1), 3), "win_rate_ci95": [round(low, 3), round(high, 3)],
               "reward_mean": mean}
    reasons = []
    if verdict["win_rate"] < settings.gate_min_win_rate:
        reasons.append(f"reward-model win rate {verdict['win_rate']:.0%} < {settings.gate_min_win_rate:.0%}")
    if low < settings.gate_min_win_rate_lower:
        reasons.append(f"win rate's 95 % interval starts at {low:.0%} < {settings.gate_min_win_rate_lower:.0%}")
    if mean["candidate"] < mean["current"]:
        reasons.append(f"mean reward {mean['candidate']} < the current default's {mean['current']}")
    auc = (judge or {}).get("heldout_auc")
    if auc is not None and auc < settings.gate_min_reward_auc:
        reasons.append(f"the reward model ranks its held-out votes at AUC {auc:.2f} < {settings.gate_min_reward_auc}: "
                       "it cannot tell 👍 from 👎 well enough to judge")
    return verdict, reasons


def _rise_verdict(counts: dict, n: int, allowed: float, what: str) -> tuple[dict, list[str]]:
    """A count of held-out replies that fail one way, candidate vs current, and the reason to refuse when the
    candidate adds more than `allowed` of them."""
    reasons = []
    if counts["candidate"] - counts["current"] > allowed:
        reasons.append(f"{counts['candidate']} of {n} held-out replies {what} (current: {counts['current']}; "
                       f"may add {allowed:.0f})")
    return {**counts, "of": n}, reasons


def empty_verdict(rows: list[dict], settings: Settings) -> tuple[dict, list[str]]:
    """Held-out replies that say nothing besides citation markers, candidate vs current, and the reason to refuse.

    A reply that is only "[1] [2]" or a copied source line is what DPO on citations alone learned to write, and
    neither the reward model (it liked the markers) nor the CoT set (no sources) caught it."""
    from assistant.knowledge.citations import MIN_ANSWER_WORDS, prose_words

    empty = {k: sum(prose_words(r[k]) < MIN_ANSWER_WORDS for r in rows) for k in ("candidate", "current")}
    return _rise_verdict(empty, len(rows), settings.gate_max_empty_rise, "say nothing besides citation markers")


def pasted_verdict(rows: list[dict], settings: Settings) -> tuple[dict, list[str]]:
    """Held-out replies that paste a source passage instead of answering, candidate vs current, and the reason to
    refuse. A `cites` adapter trained on 21 pairs learned this: its pastes carry a citation and enough words, so the
    user's rule, the reward model and the grounded QA all liked them (docs/bench_feedback.md)."""
    from assistant.knowledge.citations import is_pasted
    from assistant.training.fit import source_bodies

    pasted = {"candidate": 0, "current": 0}
    for row in rows:
        system = row["messages"][0]["content"] if row["messages"][0]["role"] == "system" else ""
        found = source_bodies(system)
        if not found:
            continue  # nothing was retrieved: nothing to paste
        texts = [text for _, text in found[2]]
        for key in pasted:
            pasted[key] += is_pasted(row[key], texts)
    return _rise_verdict(pasted, len(rows), settings.gate_max_pasted_rise * len(rows),
                         "paste a source passage instead of answering")


def nonanswer_verdict(rows: list[dict], settings: Settings) -> tuple[dict, list[str]]:
    """Held-out replies that decline or hand the question back, candidate vs current, and the reason to refuse. Short,
    so liked by a user who wants short answers and by a reward model fitted to their votes (`non_answers`)."""
    from assistant.training.non_answers import is_non_answer

    counts = {k: sum(is_non_answer(r[k]) for r in rows) for k in ("candidate", "current")}
    return _rise_verdict(counts, len(rows), settings.gate_max_nonanswer_rise * len(rows),
                         "decline or only ask a question back")


def run_gate(settings: Settings, candidate: str, current: str | None = "default", model=None, tokenizer=None,  # noqa: ANN001, C901
             trained_on: list[int] | None = None, curve: list[dict] | None = None, progress=None) -> dict:
    """Evaluate `candidate` against `current` ("default" = the promoted adapter now), write the report to its card
    (plus a plot) and return it. `passed` and `reasons` decide promotion."""
    from assistant.adapters import AdapterRegistry, write_card
    from assistant.services import Services

    progress = progress or (lambda fraction, message="": None)
    started = time.perf_counter()
    services = Services(settings)
    registry: AdapterRegistry = services.adapters
    card = registry.get(candidate)
    if current == "default":
        current = registry.default()
    current = None if current in (None, "", "none", "base", candidate) else current
    trained = set(trained_on if trained_on is not None else card.metrics.get("trained_on", []))
    prompts = heldout_prompts(services, trained, settings.gate_heldout_prompts)
    timings = {}
    t = time.perf_counter()
    # the current default's greedy replies depend only on its weights and the prompts: a second candidate judged on
    # the same held-out prompts (a retrain, another method) reuses them, which halves this step
    conversations = [p["messages"] for p in prompts]
    prompts_digest = _digest(conversations)
    current_replies = _cached(services, current, f"heldout-{REPLY_TOKENS}-{prompts_digest}",
                              lambda: _generate(services, current, conversations, REPLY_TOKENS))
    progress(0.2, "gate: the current default's replies")
    candidate_replies = _cached(services, candidate, f"heldout-{REPLY_TOKENS}-{prompts_digest}",
                                lambda: _generate(services, candidate, conversations, REPLY_TOKENS))
    rows = [{**item, "candidate": mine, "current": theirs}
            for item, mine, theirs in zip(prompts, candidate_replies, current_replies, strict=True)]
    progress(0.4, f"gate: {len(prompts)} held-out prompts answered")
    timings["heldout_generation_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    cot_candidate = _cached(services, candidate, "cot", lambda: cot_results(services, candidate))
    cot_current = _cached(services, current, "cot", lambda: cot_results(services, current))
    progress(0.65, "gate: chain-of-thought set")
    timings["cot_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    inputs = qa_inputs(services, settings.gate_qa_questions)
    if isinstance(inputs, str):
        qa_candidate = qa_current = inputs
    else:
        # keyed on the exact model input (questions and the sources retrieved now): after an upload or a change of
        # retrieval settings, cached results would judge the candidate against other prompts ("-exact": the
        # exact-answer scorer of the twenty-sixth session)
        qa_key = f"qa-{_digest(inputs[1])}-exact"
        qa_candidate = _cached(services, candidate, qa_key, lambda: qa_results(services, candidate, inputs))
        qa_current = _cached(services, current, qa_key, lambda: qa_results(services, current, inputs))
    progress(0.8, "gate: grounded questions")
    timings["qa_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    scores = torch_scores(settings, candidate, rows, model, tokenizer)
    timings["torch_scoring_s"] = round(time.perf_counter() - t, 1)
    progress(0.95, "gate: reward and KL scored")

    reasons: list[str] = []
    report: dict = {"candidate": candidate, "current": current or "base", "engine": services.llm.kind,
                    "prompts": len(rows), "prompt_sources": sorted({r["from"] for r in rows}),
                    "thresholds": {k: getattr(settings, k) for k in type(settings).model_fields if
                                   k.startswith("gate_")}}
    if "reward_error" in scores:
        reasons.append(f"no reward model to compare replies ({scores['reward_error']})")
        report["win_rate"] = None
    else:
        verdict, why = reward_verdict(rows, settings, scores["reward_model"])
        report.update(verdict, reward_model=scores["reward_model"])
        reasons += why
    report["cot"] = {"candidate": sum(cot_candidate), "current": sum(cot_current), "of": len(cot_candidate),
                     "lost": [i + 1 for i, (a, b) in enumerate(zip(cot_candidate, cot_current, strict=True))
                              if b and not a]}
    if sum(cot_current) - sum(cot_candidate) > settings.gate_max_cot_drop:
        reasons.append(f"CoT {sum(cot_candidate)}/{len(cot_candidate)} vs {sum(cot_current)}: more than "
                       f"{settings.gate_max_cot_drop} problems lost")
    if isinstance(qa_candidate, str):
        report["grounded_qa"] = qa_candidate
    else:
        report["grounded_qa"] = {"candidate": sum(qa_candidate), "current": sum(qa_current), "of": len(qa_candidate)}
        if sum(qa_current) - sum(qa_candidate) > settings.gate_max_qa_drop:
            reasons.append(f"grounded QA {sum(qa_candidate)}/{len(qa_candidate)} vs {sum(qa_current)}: more than "
                           f"{settings.gate_max_qa_drop} lost")
    report["empty_replies"], why = empty_verdict(rows, settings)
    reasons += why
    report["pasted_replies"], why = pasted_verdict(rows, settings)
    reasons += why
    report["nonanswer_replies"], why = nonanswer_verdict(rows, settings)
    reasons += why
    report["kl_to_base"] = scores["kl_to_base"]
    if scores["kl_to_base"] > settings.gate_max_kl:
        reasons.append(f"KL to the base {scores['kl_to_base']:.3f} > {settings.gate_max_kl}")
    report["mean_words"] = {k: round(sum(len(r[k].split()) for r in rows) / max(len(rows), 1), 1)
                            for k in ("candidate", "current")}
    report.update(passed=not reasons, reasons=reasons, seconds=round(time.perf_counter() - started, 1),
                  timings=timings, examples=[{k: r.get(k) for k in ("candidate", "current", "reward_candidate",
                                                                     "reward_current", "kl_to_base")} | {
                      "prompt": r["messages"][-1]["content"]} for r in rows[:3]])
    if curve is None:
        curve = card.metrics.get("training_curve", [])
    folder = settings.adapters_dir / candidate
    atomic_write_text(folder / "gate.md", report_markdown(report, curve))
    atomic_write_text(folder / "gate.svg", curve_svg(curve))
    card.metrics["gate"] = report
    write_card(folder, card)
    return report


# --- the report -------------------------------------------------------------------------------------------------
def report_markdown(report: dict, curve: list[dict] | None = None) -> str:
    """The table shown in the Feedback & Training tab and saved beside the card (gate.md)."""
    if not report:
        return "_no gate report on this adapter: run the gate (`python -m assistant adapters gate NAME`)_"
    verdict = "✅ **passes**" if report.get("passed") else "❌ **fails**: " + "; ".join(report.get("reasons", []))
    lines = [f"**{report['candidate']}** vs **{report['current']}** — {verdict}", "",
             "| check | candidate | current | threshold |", "|---|---|---|---|"]
    t = report.get("thresholds", {})
    if report.get("win_rate") is not None:
        low, high = report["win_rate_ci95"]
        lines.append(f"| reward-model win rate ({report['prompts']} held-out prompts) | {report['win_rate']:.0%} "
                     f"(95 % CI {low:.0%}–{high:.0%}) | — | ≥ {t.get('gate_min_win_rate', 0):.0%}, CI low ≥ "
                     f"{t.get('gate_min_win_rate_lower', 0):.0%} |")
        lines.append(f"| mean reward | {report['reward_mean']['candidate']} | {report['reward_mean']['current']} | — |")
        judge = report.get("reward_model") or {}
        if judge.get("heldout_auc") is not None:
            lines.append(f"| reward model: held-out AUC (accuracy, majority baseline) | {judge['heldout_auc']} "
                         f"({judge.get('heldout_accuracy')}, {judge.get('heldout_majority_baseline')}) | — | ≥ "
                         f"{t.get('gate_min_reward_auc', 0)} |")
    cot = report["cot"]
    lines.append(f"| CoT problems (greedy, answer only) | {cot['candidate']}/{cot['of']} | "
                 f"{cot['current']}/{cot['of']} | lose ≤ {t.get('gate_max_cot_drop')} |")
    qa = report["grounded_qa"]
    if isinstance(qa, dict):
        lines.append(f"| grounded QA (greedy, answer only, exact) | {qa['candidate']}/{qa['of']} | "
                     f"{qa['current']}/{qa['of']} | lose ≤ {t.get('gate_max_qa_drop')} |")
    else:
        lines.append(f"| grounded QA | {qa} | | |")
    if "empty_replies" in report:  # reports written before 2026-12-05 lack it
        empty = report["empty_replies"]
        lines.append(f"| held-out replies with nothing besides [n] markers | {empty['candidate']}/{empty['of']} | "
                     f"{empty['current']}/{empty['of']} | add ≤ {t.get('gate_max_empty_rise')} |")
    if "pasted_replies" in report:  # reports written before the twenty-second session lack it
        pasted = report["pasted_replies"]
        lines.append(f"| held-out replies that paste a source passage | {pasted['candidate']}/{pasted['of']} | "
                     f"{pasted['current']}/{pasted['of']} | add ≤ {t.get('gate_max_pasted_rise', 0):.0%} of them |")
    if "nonanswer_replies" in report:  # reports written before the twenty-fourth session lack it
        declined = report["nonanswer_replies"]
        lines.append(f"| held-out replies that decline or only ask back | {declined['candidate']}/{declined['of']} | "
                     f"{declined['current']}/{declined['of']} | add ≤ {t.get('gate_max_nonanswer_rise', 0):.0%} of "
                     "them |")
    lines.append(f"| KL to base (nats/token) | {report['kl_to_base']} | — | ≤ {t.get('gate_max_kl')} |")
    lines.append(f"| mean words per reply | {report['mean_words']['candidate']} | {report['mean_words']['current']} "
                 "| — |")
    lines.append(f"\nengine {report['engine']}, {report['seconds']} s ({report.get('timings', {})}); prompts from "
                 f"{', '.join(report['prompt_sources'])}")
    if curve:
        lines += ["", "| step | loss | reward | KL |", "|---|---|---|---|"]
        lines += [f"| {c['step']} | {c.get('loss', '')} | {c.get('reward', '')} | {c.get('kl', '')} |" for c in curve]
    return "\n".join(lines)


def _scale(value: float, low: float, high: float, size: int) -> float:
    return 10 + (size - 20) * ((value - low) / (high - low) if high > low else 0.5)


def curve_svg(curve: list[dict], width: int = 480, height: int = 180) -> str:
    """Reward and KL over training steps as a small SVG (no plotting library needed)."""
    series = {"reward": "#1f77b4", "kl": "#d62728"}
    points = {k: [(c["step"], c[k]) for c in curve if isinstance(c.get(k), int | float)] for k in series}
    body = []
    for key, colour in series.items():
        values = points[key]
        if len(values) < 2:
            continue
        xs, ys = [x for x, _ in values], [y for _, y in values]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        path = " ".join(f"{_scale(x, x0, x1, width):.1f},{height - _scale(y, y0, y1, height):.1f}"
                        for x, y in values)
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        body.append(f'<text x="{12 if key == "reward" else width // 2}" y="14" fill="{colour}" font-size="12">'
                    f"{key}: {ys[0]:.3g} → {ys[-1]:.3g} (step {xs[0]}–{xs[-1]})</text>")
    if not body:
        body.append('<text x="12" y="20" font-size="12">no reward/KL logged during training</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="white" stroke="#ccc"/>'
            + "".join(body) + "</svg>")


# --- promotion --------------------------------------------------------------------------------------------------
def promote(services, name: str, force: bool = False, by: str = "", note: str = "") -> dict:  # noqa: ANN001
    """Make `name` the default if its gate report passed against the current default; `force` (admins: the caller
    checks) promotes anyway and records the overridden reasons. Raises GateRefused with the reasons."""
    registry = services.adapters
    card = registry.get(name)
    report = card.metrics.get("gate") or {}
    current = registry.default() or "base"
    reasons = list(report.get("reasons", [])) if report else ["no gate report on its card (run the gate first)"]
    if report and report.get("current") != current:
        reasons.append(f"the report compared with {report.get('current')}, but the default is now {current}: "
                       "run the gate again")
    if name == registry.default():
        raise ValueError(f"{name} is already the default adapter")
    if reasons and not force:
        raise GateRefused(name, reasons)
    record = {"by": by or "unknown", "forced": bool(force and reasons), "overridden": reasons if force else [],
              "note": note, "gate": {k: report.get(k) for k in ("passed", "win_rate", "win_rate_ci95", "cot",
                                                                "grounded_qa", "kl_to_base", "current")}}
    registry.record_promotion(name, "force-promote" if record["forced"] else "promote", record)
    return record


def run_job(config: dict, ctx) -> dict:  # noqa: ANN001 - JobContext
    """JobRunner entry point (kind "gate"): {"candidate": name, "current": "default" | name | "base"}."""
    return run_gate(ctx.settings, config["candidate"], config.get("current", "default"), progress=ctx.progress)
