"""The adapter arena: one message answered by two adapters side by side, anonymous until the user picks.

A pick is stored twice over: as a battle (for per-adapter ratings, Bradley-Terry with bootstrap intervals) and as
two opposite votes on replies to the same user message, which is exactly what the feedback store turns into a DPO
pair — with each reply's full model input, like any other vote.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from assistant.adapters import BASE
from assistant.chat import TurnRequest
from assistant.conversations import NotFound
from assistant.db import OWNER_CHARS, Base, utcnow

WINNERS = ("left", "right", "tie", "both-bad")
BASE_ID = "none"  # how a turn asks for the base model without an adapter


class ArenaError(ValueError):
    """A comparison that cannot be made or a pick that cannot be recorded; the message says why."""


class ArenaBattle(Base):
    __tablename__ = "arena_battles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(OWNER_CHARS), index=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    left_message_id: Mapped[int] = mapped_column(Integer)
    right_message_id: Mapped[int] = mapped_column(Integer)
    left_adapter: Mapped[str] = mapped_column(String(64))
    right_adapter: Mapped[str] = mapped_column(String(64))
    winner: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None until the user picks
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


@dataclass
class ArenaUpdate:
    """A streamed state of a comparison: both answers so far; `battle_id` once both are stored."""

    left: str = ""
    right: str = ""
    status: str = ""
    battle_id: int | None = None
    conversation_id: str | None = None


@dataclass
class Rating:
    adapter: str
    battles: int
    wins: float  # ties count half
    score: float  # Bradley-Terry strength on the Elo scale (mean 1000)
    low: float  # 95 % bootstrap interval of the score
    high: float
    extra: dict = field(default_factory=dict)


class Arena:
    def __init__(self, services) -> None:  # noqa: ANN001 - Services
        self.services = services
        self.db = services.db

    def contenders(self) -> list[str]:
        """What can be compared: the base model and every adapter that writes answers."""
        return [BASE_ID, *self.services.adapters.answer_names()]

    def pick_pair(self, rng: random.Random | None = None) -> tuple[str, str]:
        names = self.contenders()
        if len(names) < 2:
            raise ArenaError("comparing needs at least one adapter besides the base model; train one first")
        return tuple((rng or random).sample(names, 2))  # type: ignore[return-value]

    def compare(self, owner: str, message: str, adapters: tuple[str, str] | None = None,
                params: dict | None = None, seed: int | None = None) -> Iterator[ArenaUpdate]:
        """Answer `message` with two adapters (random ones unless given, in random order), streaming both.

        Both replies go through the one chat path in a new conversation: the second is a regeneration of the
        first with the other adapter, so both answer the same stored user message. Tools are off: a tool's
        result would be the same on both sides and say nothing about the adapters.
        """
        rng = random.Random(seed)
        left, right = adapters or self.pick_pair(rng)
        known = set(self.contenders())
        for name in (left, right):
            if name not in known:
                raise ArenaError(f"unknown adapter {name!r}; choose from {', '.join(sorted(known))}")
        if left == right:
            raise ArenaError("choose two different adapters to compare")
        update = ArenaUpdate(status="answering with model A…")
        common = {"tools_enabled": False, "params": dict(params or {})}
        first = None
        for item in self.services.chat.turn(TurnRequest(owner=owner, message=message, adapter=left, **common)):
            update.left = item.result.answer
            first = item.result
            yield update
        update.status, update.conversation_id = "answering with model B…", first.conversation_id
        yield update
        second = None
        for item in self.services.chat.turn(TurnRequest(owner=owner, message="", regenerate=True, adapter=right,
                                                        conversation_id=first.conversation_id, **common)):
            update.right = item.result.answer
            second = item.result
            yield update
        if not first.message_id or not second.message_id:
            raise ArenaError("a reply was not stored (stopped?); nothing to compare")
        with self.db.session() as s:
            battle = ArenaBattle(owner=owner, conversation_id=first.conversation_id,
                                 left_message_id=first.message_id, right_message_id=second.message_id,
                                 left_adapter=left, right_adapter=right)
            s.add(battle)
            s.flush()
            update.battle_id = battle.id
        update.status = "Which answer is better? The adapters are shown after you pick."
        yield update

    def pick(self, owner: str, battle_id: int, winner: str) -> dict:
        """Record the user's pick, vote the pair, keep the winner as the conversation's reply; reveal names."""
        if winner not in WINNERS:
            raise ArenaError(f"winner must be one of {', '.join(WINNERS)}")
        with self.db.session() as s:
            battle = s.get(ArenaBattle, int(battle_id))
            if battle is None or battle.owner != owner:
                raise ArenaError(f"no comparison {battle_id!r}")
            if battle.winner is not None:
                raise ArenaError(f"this comparison was already decided ({battle.winner})")
            battle.winner = winner
            left_id, right_id = battle.left_message_id, battle.right_message_id
            revealed = {"left": battle.left_adapter, "right": battle.right_adapter, "winner": winner}
        feedback = self.services.feedback
        reason = "arena: preferred over the other answer"
        if winner in ("left", "right"):
            chosen, rejected = (left_id, right_id) if winner == "left" else (right_id, left_id)
            feedback.vote(owner, chosen, True, reason)
            feedback.vote(owner, rejected, False, "arena: the other answer was preferred")
            self._keep(owner, chosen, rejected)
        elif winner == "both-bad":
            for message_id in (left_id, right_id):
                feedback.vote(owner, message_id, False, "arena: both answers were bad")
        return revealed

    def _keep(self, owner: str, shown: int, hidden: int) -> None:
        """The conversation continues from the preferred reply; the other stays as its alternative."""
        from assistant.db import Message

        with self.db.session() as s:
            for message_id, active in ((shown, True), (hidden, False)):
                message = s.get(Message, message_id)
                if message is None or message.conversation.owner != owner:
                    raise NotFound(f"no message {message_id}")
                message.active = active

    def battles(self) -> list[dict]:
        with self.db.session() as s:
            rows = s.scalars(select(ArenaBattle).where(ArenaBattle.winner.is_not(None)).order_by(ArenaBattle.id))
            return [{"left": b.left_adapter, "right": b.right_adapter, "winner": b.winner} for b in rows]

    def ratings(self, resamples: int = 200, seed: int = 0) -> list[Rating]:
        """Per-adapter Bradley-Terry scores from every decided battle, best first (both-bad counts as a tie)."""
        battles = self.battles()
        if not battles:
            return []
        scores = bradley_terry(battles)
        rng = random.Random(seed)
        samples: dict[str, list[float]] = {name: [] for name in scores}
        for _ in range(resamples):
            resampled = bradley_terry([rng.choice(battles) for _ in battles])
            for name in samples:
                samples[name].append(resampled.get(name, 1000.0))
        ratings = []
        for name, score in scores.items():
            fought = [b for b in battles if name in (b["left"], b["right"])]
            wins = sum(1.0 if b["winner"] in ("left", "right") and b[b["winner"]] == name else
                       0.5 if b["winner"] in ("tie", "both-bad") else 0.0 for b in fought)
            ordered = sorted(samples[name])
            low, high = ordered[int(0.025 * (len(ordered) - 1))], ordered[int(0.975 * (len(ordered) - 1))]
            ratings.append(Rating(display_name(name), len(fought), wins, score, low, high))
        return sorted(ratings, key=lambda r: -r.score)


def display_name(adapter: str) -> str:
    return BASE if adapter == BASE_ID else adapter


def bradley_terry(battles: list[dict], iterations: int = 200, prior: float = 0.5) -> dict[str, float]:
    """Bradley-Terry strengths by Hunter's (2004) MM updates, on the Elo scale (400·log10, mean 1000).

    Ties count half a win to each side. Every adapter also gets 2·`prior` virtual ties against a reference of
    strength 1, so an adapter that won every battle gets a finite score instead of infinity.
    """
    names = sorted({b["left"] for b in battles} | {b["right"] for b in battles})
    wins = dict.fromkeys(names, prior)
    games: dict[tuple[str, str], float] = {}
    for b in battles:
        pair = (b["left"], b["right"])
        games[pair] = games.get(pair, 0.0) + 1.0
        if b["winner"] in ("left", "right"):
            wins[b[b["winner"]]] += 1.0
        else:
            wins[b["left"]] += 0.5
            wins[b["right"]] += 0.5
    strength = dict.fromkeys(names, 1.0)
    for _ in range(iterations):
        updated = {}
        for name in names:
            denominator = 2 * prior / (strength[name] + 1.0)  # the virtual games against the reference (strength 1)
            for (a, b), n in games.items():
                if name in (a, b):
                    other = b if name == a else a
                    denominator += n / (strength[name] + strength[other])
            updated[name] = wins[name] / denominator
        strength = updated
    mean_log = sum(math.log10(v) for v in strength.values()) / len(strength)
    return {name: 1000.0 + 400.0 * (math.log10(v) - mean_log) for name, v in strength.items()}
