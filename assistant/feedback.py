"""FeedbackStore: 👍/👎 votes with everything needed to learn from them, statistics, and training exports."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from assistant.conversations import NotFound, clean_text
from assistant.db import Message, Vote, utcnow
from assistant.prompts import BEGIN_SOLUTION, BEGIN_THOUGHT, END_SOLUTION, END_THOUGHT
from assistant.storage import atomic_write_text


def trainable(row: dict) -> bool:
    """A vote to learn from: on a single model completion whose exact input was recorded."""
    return not row.get("legacy_context", True) and row.get("model_output") is True and \
        row.get("cot_mode") != "self-consistency"  # N paths and a vote: no single completion to reinforce


def completion_text(answer: str, reasoning: str, cot_mode: str | None) -> str:
    """The reply as the model wrote it after its prompt: step-by-step replies keep their thought block, which the
    prompt's prefix opened (the stored message holds reasoning and answer apart)."""
    if cot_mode == "step-by-step" and reasoning:
        return f"{BEGIN_THOUGHT}\n{reasoning}\n{END_THOUGHT}\n{BEGIN_SOLUTION}{answer}{END_SOLUTION}"
    return answer


def _completion(row: dict) -> str:
    return row.get("completion") or row["reply"]


def _flags(row: dict) -> dict:
    return {"legacy_context": bool(row.get("legacy_context", True)), "model_output": row.get("model_output")}


class FeedbackError(ValueError):
    """A vote or export that cannot be done (unknown message, empty store …)."""


class FeedbackStore:
    def __init__(self, services) -> None:  # noqa: ANN001 - Services
        self.services = services
        self.db = services.db

    # --- votes ------------------------------------------------------------------------------------
    def vote(self, owner: str, message_id: int, liked: bool | None, reason: str = "") -> dict:
        """Record (or change, or clear with None) the owner's vote on an assistant reply; committed on return."""
        try:
            message = self.services.conversations.message(int(message_id))
        except (NotFound, ValueError, TypeError) as exc:
            raise FeedbackError(f"no message {message_id!r} to vote on") from exc
        if message["owner"] != owner:
            raise FeedbackError(f"no message {message_id!r} to vote on")
        if message["role"] != "assistant":
            raise FeedbackError("only assistant replies can be voted on")
        reason = clean_text(reason or "").strip()[:1000]
        with self.db.session() as s:
            row = s.scalars(select(Vote).where(Vote.message_id == message["id"])).first()
            if liked is None:
                if row is not None:
                    s.delete(row)
            else:
                snapshot = self._snapshot(message)
                if row is None:
                    row = Vote(message_id=message["id"], value=1 if liked else -1, reason=reason,
                               snapshot=snapshot, adapter=message["meta"].get("adapter"))
                    s.add(row)
                else:  # a changed vote or a double click: same row, latest value wins
                    row.value, row.snapshot, row.updated_at = (1 if liked else -1), snapshot, utcnow()
                    row.reason = reason or row.reason
            s.flush()
            total = s.scalar(select(func.count(Vote.id)))
        self._maybe_retrain()
        return {"message_id": message["id"], "liked": liked, "reason": reason, "total_votes": total}

    def _snapshot(self, message: dict) -> dict:
        """What the vote is about: the reply and, when the model wrote it, the exact input the model was given.

        `prompt` is the rendered message list of `model_input` (system prompt with the retrieved sources, tool
        results and CoT instructions, then the history as it was cut to fit). Replies without a `model_input` keep
        the old rebuilt history and are flagged `legacy_context`: an older reply (the model's, but its context is
        unknown) or a tool's/command's answer (`model_output: false`: the model did not write it).
        """
        meta = message["meta"] or {}
        model_input = meta.get("model_input")
        if model_input:
            prompt = [{"role": m["role"], "content": m["content"]} for m in model_input.get("messages") or []]
            model_output: bool | None = True
        else:
            prompt = [{"role": m["role"], "content": m["content"]}
                      for m in self.services.conversations.history_before(message["id"])]
            model_output = False if "model_input" in meta else None  # None: an older reply, nobody knows
        cot_mode = meta.get("cot_mode")
        snapshot = {"prompt": prompt, "reply": message["content"], "reasoning": message["reasoning"],
                    "completion": completion_text(message["content"], message["reasoning"], cot_mode),
                    "model": meta.get("model"), "adapter": meta.get("adapter"), "quant": meta.get("quant"),
                    "engine": meta.get("engine"), "params": meta.get("params", {}), "cot_mode": cot_mode,
                    "user_message_id": meta.get("user_message_id"), "conversation_id": message["conversation_id"],
                    "legacy_context": not model_input, "model_output": model_output,
                    "voted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        if model_input:
            snapshot["model_input"] = {k: model_input.get(k) for k in
                                       ("prompt", "prefix", "engine", "adapter", "cot_mode", "params")}
        return snapshot

    def votes_for(self, message_ids: list[int]) -> dict[int, int]:
        if not message_ids:
            return {}
        with self.db.session() as s:
            rows = s.execute(select(Vote.message_id, Vote.value).where(Vote.message_id.in_(message_ids))).all()
            return {r.message_id: r.value for r in rows}

    def _maybe_retrain(self) -> None:
        every = self.services.settings.auto_retrain_every
        if every <= 0:
            return
        from assistant.db import Job

        with self.db.session() as s:
            last = s.scalars(select(Job).where(Job.kind == "rlhf").order_by(Job.created_at.desc())).first()
            since = last.created_at if last else dt.datetime(1970, 1, 1)
            new_votes = s.scalar(select(func.count(Vote.id)).where(Vote.updated_at > since))
        if new_votes >= every:
            from assistant.jobs import JobError

            with contextlib.suppress(JobError):  # one is already running; the next vote will try again
                self.services.jobs.start("rlhf", {"method": "auto", "trigger": f"auto after {new_votes} votes"},
                                         lock_key="rlhf")

    # --- reading ----------------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        with self.db.session() as s:
            votes = s.scalars(select(Vote).order_by(Vote.id)).all()
            return [{"message_id": v.message_id, "value": v.value, "reason": v.reason, "adapter": v.adapter,
                     "created_at": str(v.created_at), "updated_at": str(v.updated_at), **v.snapshot}
                    for v in votes]

    def stats(self) -> dict:
        rows = self.rows()
        by_adapter: dict[str, Counter] = {}
        by_day: dict[str, Counter] = {}
        for r in rows:
            key = "👍" if r["value"] > 0 else "👎"
            by_adapter.setdefault(r["adapter"] or "base", Counter())[key] += 1
            by_day.setdefault(r["updated_at"][:10], Counter())[key] += 1
        return {"total": len(rows), "up": sum(r["value"] > 0 for r in rows),
                "down": sum(r["value"] < 0 for r in rows),
                # what DPO learns from; 15 pairs in 200 votes taught a marker trick, 90 a preference (bench_feedback.md)
                "pairs": len(self.dpo_rows(rows=rows)),
                "by_adapter": {k: dict(v) for k, v in by_adapter.items()},
                "by_day": {k: dict(v) for k, v in sorted(by_day.items())}}

    def latest(self, limit: int = 20, liked: bool | None = None, adapter: str | None = None) -> list[dict]:
        rows = [r for r in reversed(self.rows())
                if (liked is None or (r["value"] > 0) == liked) and (adapter is None or (r["adapter"] or "base")
                                                                     == adapter)]
        return rows[:limit]

    # --- training data ----------------------------------------------------------------------------
    def training_rows(self, include_legacy: bool = False, rows: list[dict] | None = None) -> list[dict]:
        """Votes fit to learn from: the model wrote the reply and we know what it was given (unless include_legacy).
        `rows`: votes already read (`rows()`), so a caller that has them does not read the store again."""
        return [r for r in (self.rows() if rows is None else rows)
                if r.get("prompt") and (include_legacy or trainable(r))]

    def kto_rows(self, include_legacy: bool = False) -> list[dict]:
        """Unpaired thumbs: (the model's input messages, its completion, label) — what KTO learns from."""
        return [{"prompt": r["prompt"], "completion": [{"role": "assistant", "content": _completion(r)}],
                 "label": r["value"] > 0, **_flags(r)} for r in self.training_rows(include_legacy)]

    def dpo_rows(self, include_legacy: bool = False, rows: list[dict] | None = None) -> list[dict]:
        """Pairs: replies to the same user message with opposite votes (Regenerate makes these)."""
        groups: dict[int, dict[int, list[dict]]] = {}
        for r in self.training_rows(include_legacy, rows):
            if r.get("user_message_id") is not None:
                groups.setdefault(r["user_message_id"], {}).setdefault(r["value"], []).append(r)
        pairs = []
        for group in groups.values():
            for good in group.get(1, []):
                for bad in group.get(-1, []):
                    flags = {k: _flags(good)[k] or _flags(bad)[k] for k in ("legacy_context",)}
                    pairs.append({"prompt": good["prompt"],
                                  "chosen": [{"role": "assistant", "content": _completion(good)}],
                                  "rejected": [{"role": "assistant", "content": _completion(bad)}],
                                  **flags, "model_output": bool(good.get("model_output") and bad.get("model_output"))})
        return pairs

    def export(self, fmt: str, path: str | Path | None = None, include_legacy: bool = False) -> Path:
        """Write votes as JSONL (`jsonl`, `kto` or `dpo`), atomically; loadable with `datasets`.

        `jsonl` is every vote with its flags; `kto`/`dpo` are training sets, so they leave out votes on replies whose
        model input is unknown or that the model did not write, unless `include_legacy` (then flagged per row).
        """
        builders = {"jsonl": lambda: self.rows(), "kto": lambda: self.kto_rows(include_legacy),
                    "dpo": lambda: self.dpo_rows(include_legacy)}
        if fmt not in builders:
            raise FeedbackError(f"unknown export format {fmt!r}; use jsonl, kto or dpo")
        rows = builders[fmt]()
        if not rows:
            hint = " (DPO needs two replies to the same message with opposite votes: use Regenerate)" if fmt == "dpo" \
                else ""
            legacy = sum(not trainable(r) for r in self.rows())
            if legacy and not include_legacy and fmt != "jsonl":
                hint += (f" ({legacy} vote(s) are on replies without a recorded model input or not written by the "
                         "model; include them with --include-legacy)")
            raise FeedbackError(f"nothing to export as {fmt}: the feedback store has no usable votes yet{hint}")
        target = Path(path) if path else self.services.settings.data_dir / "exports" / (
            f"feedback-{fmt}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl")
        atomic_write_text(target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return target

    def message_count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(Message.id)).where(Message.role == "assistant"))
