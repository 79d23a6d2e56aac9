"""The Feedback & Training tab: votes, exports, reward model, RLHF jobs, the evaluation gate and promotion."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from assistant.adapters import AdapterError
from assistant.feedback import FeedbackError
from assistant.jobs import JobError
from assistant.training.rlhf import METHODS, RLHFConfig, training_rows
from assistant.ui.access import Access, PermissionDenied, check_admin, owner_of
from assistant.ui.files import publish_download
from assistant.ui.job_monitor import build_job_monitor

ERRORS = (FeedbackError, JobError, AdapterError, ValueError, FileNotFoundError, PermissionDenied)
NO_VOTES = ["when", "vote", "adapter", "prompt", "reply", "reason"]


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows or [dict.fromkeys(columns, "")], columns=columns)


def build_feedback_tab(services, access: Access | None = None) -> tuple:  # noqa: ANN001, C901
    """Build the tab; returns what to refresh when it is opened (votes cast in the chat since the page loaded)."""
    settings = services.settings
    feedback = services.feedback

    def stats_frames():
        stats = feedback.stats()
        by_adapter = [{"adapter": a, "👍": c.get("👍", 0), "👎": c.get("👎", 0)}
                      for a, c in stats["by_adapter"].items()]
        by_day = [{"day": d, "👍": c.get("👍", 0), "👎": c.get("👎", 0)} for d, c in stats["by_day"].items()]
        votes_word = "vote" if stats["total"] == 1 else "votes"
        head = (f"**{stats['total']} {votes_word}** — {stats['up']} 👍, {stats['down']} 👎 · **{stats['pairs']} "
                f"preference pairs** (a 👍 and a 👎 reply to the same message, which Regenerate makes: DPO learns "
                f"from these, and needs dozens) · auto-retrain: ") + (
            f"every {settings.auto_retrain_every} new votes" if settings.auto_retrain_every else
            "off (set ASSISTANT_AUTO_RETRAIN_EVERY=N)")
        return head, _frame(by_adapter, ["adapter", "👍", "👎"]), _frame(by_day, ["day", "👍", "👎"])

    def latest(which: str, adapter: str, request: gr.Request | None = None):
        # Votes carry every user's prompts and replies: only an admin sees them (none at page load; Refresh).
        if request is None and access is not None:
            return _frame([], NO_VOTES)
        try:
            check_admin(access, request, "see other users' votes")
        except PermissionDenied as exc:
            return _frame([{"reason": f"⚠️ {exc}"}], NO_VOTES)
        liked = {"all": None, "👍": True, "👎": False}[which]
        rows = feedback.latest(50, liked=liked, adapter=adapter or None)
        return _frame([{"when": r["updated_at"][:19], "vote": "👍" if r["value"] > 0 else "👎",
                        "adapter": r["adapter"] or "base", "prompt": (r["prompt"] or [{}])[-1].get("content", ""),
                        "reply": r["reply"], "reason": r["reason"]} for r in rows],
                      ["when", "vote", "adapter", "prompt", "reply", "reason"])

    def history_frame():
        return _frame([{k: v for k, v in h.items() if k != "evaluation"} for h in services.adapters.history()],
                      ["at", "action", "adapter", "previous"])

    with gr.Row():
        summary = gr.Markdown(lambda: stats_frames()[0], elem_id="feedback-summary")  # re-run on every page load
        refresh = gr.Button("Refresh", size="sm", scale=0)
    with gr.Row():
        by_adapter = gr.Dataframe(lambda: stats_frames()[1], label="by adapter", interactive=False)
        by_day = gr.Dataframe(lambda: stats_frames()[2], label="by day", interactive=False)
    with gr.Row():
        which = gr.Radio(["all", "👍", "👎"], value="all", label="show")
        adapter_filter = gr.Textbox(label="adapter (empty = all)", max_lines=1)
    # Fixed shares of the page width (and wrapped text) keep the reason column on screen.
    votes = gr.Dataframe(lambda: latest("all", ""), label="latest votes", interactive=False, wrap=True,
                         column_widths=["12%", "6%", "9%", "25%", "30%", "18%"], elem_id="latest-votes")
    with gr.Row():
        fmt = gr.Radio(["jsonl", "kto", "dpo"], value="kto", label="export format")
        export = gr.Button("Export")
        download = gr.File(label="download", interactive=False)
    message = gr.Markdown()

    def do_export(kind: str, request: gr.Request):
        try:
            check_admin(access, request, "export every user's votes")
            return publish_download(feedback.export(kind)), f"exported {kind}"
        except ERRORS as exc:
            return None, f"⚠️ {exc}"

    def refresh_all(which_v: str, adapter_v: str, request: gr.Request):
        return (*stats_frames(), latest(which_v, adapter_v, request))

    def latest_for(which_v: str, adapter_v: str, request: gr.Request):
        return latest(which_v, adapter_v, request)

    refresh.click(refresh_all, [which, adapter_filter], [summary, by_adapter, by_day, votes], api_visibility="private")
    which.change(latest_for, [which, adapter_filter], votes, api_visibility="private")
    adapter_filter.submit(latest_for, [which, adapter_filter], votes, api_visibility="private")
    export.click(do_export, fmt, [download, message], api_name="export_feedback")

    gr.Markdown("### Adapter arena\nBlind comparisons from the chat's *Compare two adapters* panel: "
                "Bradley-Terry scores on the Elo scale with 95 % bootstrap intervals (ties and both-bad count "
                "half a win each). Overlapping intervals mean the data cannot tell the two apart yet.")
    with gr.Row():
        ratings = gr.Dataframe(lambda: arena_frame(services), label="adapter ratings", interactive=False,
                               elem_id="arena-ratings")
        refresh_ratings = gr.Button("Refresh", size="sm", scale=0, elem_id="arena-refresh")
    refresh_ratings.click(lambda: arena_frame(services), None, ratings, api_visibility="private")

    gr.Markdown("### Reward model and RLHF retraining\nData collection → reward model → RL fine-tuning. DPO learns "
                "from a 👍 and a 👎 reply to the same message (Regenerate); KTO from unpaired thumbs; `auto` "
                "(default) picks DPO when there are enough such pairs, else KTO. `ppo` is REINFORCE driven by the "
                "reward model with a KL penalty to the reference.")
    with gr.Row():
        method = gr.Radio(list(METHODS), value="auto", label="method")
        start_from = gr.Textbox(value="default", label="start from (default, base or an adapter)", max_lines=1)
        steps = gr.Number(value=RLHFConfig.steps, label="steps (0: the method's default)", precision=0)
        lr = gr.Number(value=RLHFConfig.learning_rate, label="learning rate")
        beta = gr.Number(value=RLHFConfig.beta, label="beta (KTO/DPO; 0: the method's default)")
    with gr.Row():
        reward_button = gr.Button("Train reward model")
        rlhf_button = gr.Button("Start RLHF job", variant="primary")
    job_id = build_job_monitor(services, "Training job")

    def start_reward(request: gr.Request):
        try:
            check_admin(access, request, "train the reward model")
            usable = len(feedback.training_rows())
            if usable < settings.min_votes_for_training:
                raise ValueError(f"the reward model needs at least {settings.min_votes_for_training} votes on "
                                 f"model replies with a recorded input; the store has {usable}")
            new_id = services.jobs.start(
                "reward", {"min_votes": settings.min_votes_for_training}, lock_key="reward", owner=owner_of(request)
            )
            return new_id, f"started reward-model job `{new_id}`"
        except ERRORS as exc:
            return gr.update(), f"⚠️ {exc}"

    def start_rlhf(method_v: str, start_v: str, steps_v: float, lr_v: float, beta_v: float, request: gr.Request):
        try:
            check_admin(access, request, "start RLHF training")
            config = RLHFConfig(method=method_v, start_from=start_v.strip() or "default", steps=int(steps_v),
                                learning_rate=float(lr_v), beta=float(beta_v),
                                min_votes=settings.min_votes_for_training)
            training_rows(feedback, config)
            new_id = services.jobs.start("rlhf", {k: getattr(config, k) for k in
                                                  ("method", "start_from", "steps", "learning_rate", "beta",
                                                   "min_votes")}, lock_key="rlhf", owner=owner_of(request))
            chosen = f"{config.method} (chosen by auto)" if method_v == "auto" else config.method
            return new_id, f"started {chosen} job `{new_id}`"
        except ERRORS as exc:
            return gr.update(), f"⚠️ {exc}"

    reward_button.click(start_reward, None, [job_id, message], api_name="train_reward")
    rlhf_button.click(start_rlhf, [method, start_from, steps, lr, beta], [job_id, message], api_name="train_rlhf")

    gr.Markdown("### Evaluation gate and promotion\nA retrained adapter is compared with the current default on "
                "held-out prompts from recent conversations it never trained on (reward-model win rate with a 95 % "
                "interval), on the 50 chain-of-thought problems and grounded questions (no regression beyond the "
                "tolerance), by its held-out replies that say nothing besides citation markers, paste a "
                "retrieved passage, or decline or only ask the question back instead of answering (no more than the "
                "tolerance adds), and by its KL to the "
                "base. Promotion is refused when the gate fails or compared "
                "with another default; an admin can force it, and that is recorded.")
    with gr.Row():
        # nothing preselected: Gradio shows the first choice as chosen by default, yet fires no `change` for it, so
        # the gate's report stayed empty under a candidate that looked selected (the thirteenth session's try)
        candidate = gr.Dropdown([n for n in services.adapters.names() if n.startswith("rlhf-")], value=None,
                                label="candidate", info="pick one to see its gate report")
        gate_button = gr.Button("Run the gate")
        force = gr.Checkbox(label="force (admin: promote despite the gate)", value=False)
        promote = gr.Button("Promote", variant="primary")
        rollback = gr.Button("Roll back")
    gate_report = gr.Markdown()
    gate_plot = gr.HTML()
    history = gr.Dataframe(lambda: history_frame(), label="promotion history", interactive=False)

    def show_candidate(name: str | None):
        from assistant.training.gate import report_markdown

        if not name:
            return "", ""
        card = services.adapters.get(name)
        report = card.metrics.get("gate") or {}
        plot = settings.adapters_dir / name / "gate.svg"
        return (report_markdown(report, card.metrics.get("training_curve")) if report.get("cot") else
                report_markdown({}) if not report else "❌ " + "; ".join(report.get("reasons", [])),
                plot.read_text(encoding="utf-8") if plot.exists() else "")

    def run_gate_job(name: str | None, request: gr.Request):
        try:
            check_admin(access, request, "run the evaluation gate")
            if not name:
                raise ValueError("pick a candidate")
            new_id = services.jobs.start(
                "gate", {"candidate": name, "current": "default"}, lock_key=f"gate:{name}", owner=owner_of(request)
            )
            return new_id, f"started the gate for {name}: job `{new_id}` (select the candidate again when it ends)"
        except ERRORS as exc:
            return gr.update(), f"⚠️ {exc}"

    def do_promote(name: str | None, forced: bool, request: gr.Request):
        from assistant.training.gate import GateRefused, promote

        try:
            check_admin(access, request, "promote an adapter")
            if not name:
                raise ValueError("pick a candidate")
            user = getattr(request, "username", None) or "ui"
            record = promote(services, name, force=forced, by=user)
            note = f" (forced over: {'; '.join(record['overridden'])})" if record["forced"] else ""
            return history_frame(), f"**{name}** is now the default adapter{note}"
        except (GateRefused, *ERRORS) as exc:
            return history_frame(), f"⚠️ {exc}"

    def do_rollback(request: gr.Request):
        try:
            check_admin(access, request, "roll back the default adapter")
        except PermissionDenied as exc:
            return history_frame(), f"⚠️ {exc}"
        return history_frame(), f"default is now **{services.adapters.rollback() or 'the base model'}**"

    def refresh_candidates():
        return gr.update(choices=[n for n in services.adapters.names() if n.startswith("rlhf-")]), history_frame()

    candidate.focus(refresh_candidates, None, [candidate, history], api_visibility="private")
    candidate.change(show_candidate, candidate, [gate_report, gate_plot], api_visibility="private")
    gate_button.click(run_gate_job, candidate, [job_id, message], api_name="run_gate")
    promote.click(do_promote, [candidate, force], [history, message], api_name="promote_candidate")
    rollback.click(do_rollback, None, [history, message], api_visibility="private")
    gr.on([refresh.click], refresh_candidates, None, [candidate, history], api_visibility="private")
    return refresh_all, [which, adapter_filter], [summary, by_adapter, by_day, votes]


MIN_BATTLES_FOR_INTERVAL = 5
ARENA_HEADERS = ["adapter", "score", "95 % interval", "battles", "wins"]


def arena_frame(services) -> pd.DataFrame:  # noqa: ANN001
    # A bootstrap of one or two battles resamples the same result: a zero-width interval that claims certainty.
    rows = [{"adapter": r.adapter, "score": round(r.score),
             "95 % interval": f"{r.low:.0f} – {r.high:.0f}" if r.battles >= MIN_BATTLES_FOR_INTERVAL else
             f"needs {MIN_BATTLES_FOR_INTERVAL} battles", "battles": r.battles, "wins": r.wins}
            for r in services.arena.ratings()]
    return _frame(rows, ARENA_HEADERS)
