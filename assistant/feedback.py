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
from assistant.storage import atomic_write_text


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
        meta = message["meta"] or {}
        prompt = [{"role": m["role"], "content": m["content"]}
                  for m in self.services.conversations.history_before(message["id"])]
        return {"prompt": prompt, "reply": message["content"], "reasoning": message["reasoning"],
                "model": meta.get("model"), "adapter": meta.get("adapter"), "quant": meta.get("quant"),
                "params": meta.get("params", {}), "cot_mode": meta.get("cot_mode"),
                "user_message_id": meta.get("user_message_id"), "conversation_id": message["conversation_id"],
                "voted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}

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
                self.services.jobs.start("rlhf", {"method": "kto", "trigger": f"auto after {new_votes} votes"},
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
                "by_adapter": {k: dict(v) for k, v in by_adapter.items()},
                "by_day": {k: dict(v) for k, v in sorted(by_day.items())}}

    def latest(self, limit: int = 20, liked: bool | None = None, adapter: str | None = None) -> list[dict]:
        rows = [r for r in reversed(self.rows())
                if (liked is None or (r["value"] > 0) == liked) and (adapter is None or (r["adapter"] or "base")
                                                                     == adapter)]
        return rows[:limit]

    # --- training data ----------------------------------------------------------------------------
    def kto_rows(self) -> list[dict]:
        """Unpaired thumbs: (prompt messages, completion, label) — what KTO learns from."""
        return [{"prompt": r["prompt"], "completion": [{"role": "assistant", "content": r["reply"]}],
                 "label": r["value"] > 0} for r in self.rows() if r["prompt"]]

    def dpo_rows(self) -> list[dict]:
        """Pairs: replies to the same user message with opposite votes (Regenerate makes these)."""
        groups: dict[int, dict[int, list[dict]]] = {}
        for r in self.rows():
            if r.get("user_message_id") is not None:
                groups.setdefault(r["user_message_id"], {}).setdefault(r["value"], []).append(r)
        pairs = []
        for group in groups.values():
            for good in group.get(1, []):
                for bad in group.get(-1, []):
                    pairs.append({"prompt": good["prompt"],
                                  "chosen": [{"role": "assistant", "content": good["reply"]}],
                                  "rejected": [{"role": "assistant", "content": bad["reply"]}]})
        return pairs

    def export(self, fmt: str, path: str | Path | None = None) -> Path:
        """Write votes as JSONL (`jsonl`, `kto` or `dpo`), atomically; loadable with `datasets`."""
        builders = {"jsonl": self.rows, "kto": self.kto_rows, "dpo": self.dpo_rows}
        if fmt not in builders:
            raise FeedbackError(f"unknown export format {fmt!r}; use jsonl, kto or dpo")
        rows = builders[fmt]()
        if not rows:
            hint = " (DPO needs two replies to the same message with opposite votes: use Regenerate)" if fmt == "dpo" \
                else ""
            raise FeedbackError(f"nothing to export as {fmt}: the feedback store has no usable votes yet{hint}")
        target = Path(path) if path else self.services.settings.data_dir / "exports" / (
            f"feedback-{fmt}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.jsonl")
        atomic_write_text(target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return target

    def message_count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(Message.id)).where(Message.role == "assistant"))
