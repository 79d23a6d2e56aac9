"""The adapter arena: two adapters answer one stored message, the pick becomes a DPO pair with both full model
inputs, the winner stays in the conversation, and ratings order adapters by their wins."""

import pytest

from assistant.arena import ArenaError, bradley_terry
from tests.test_gate import make_adapter


def run_compare(services, owner, message, adapters):
    updates = list(services.arena.compare(owner, message, adapters=adapters, params={"seed": 3, "temperature": 1.0}))
    return updates[-1]


def test_a_pick_is_a_dpo_pair_and_the_winner_stays(services, settings):
    make_adapter(services, settings, "candidate")
    done = run_compare(services, "alice", "Name a colour.", ("none", "candidate"))
    assert done.battle_id is not None and done.left and done.right
    view = services.conversations.get("alice", done.conversation_id, include_inactive=True)
    replies = [m for m in view.messages if m["role"] == "assistant"]
    assert [m["meta"]["adapter"] for m in replies] == [None, "candidate"]  # base on the left, then the adapter
    assert len({m["meta"]["user_message_id"] for m in replies}) == 1  # both answer the same stored message

    with pytest.raises(ArenaError, match="no comparison"):
        services.arena.pick("mallory", done.battle_id, "left")  # someone else's comparison
    revealed = services.arena.pick("alice", done.battle_id, "right")
    assert revealed == {"left": "none", "right": "candidate", "winner": "right"}
    with pytest.raises(ArenaError, match="already decided"):
        services.arena.pick("alice", done.battle_id, "left")

    pairs = services.feedback.dpo_rows()
    assert len(pairs) == 1
    assert pairs[0]["chosen"][0]["content"] == done.right and pairs[0]["rejected"][0]["content"] == done.left
    assert pairs[0]["prompt"][-1] == {"role": "user", "content": "Name a colour."}
    visible = services.conversations.get("alice", done.conversation_id)
    assert [m["content"] for m in visible.messages if m["role"] == "assistant"] == [done.right]

    ratings = services.arena.ratings(resamples=50)
    assert [r.adapter for r in ratings] == ["candidate", "base model"]
    assert ratings[0].wins == 1 and ratings[0].battles == 1 and ratings[0].low <= ratings[0].score <= ratings[0].high


def test_unknown_or_equal_adapters_are_refused_before_anything_is_stored(services, settings):
    with pytest.raises(ArenaError, match="at least one adapter"):
        next(services.arena.compare("alice", "hi"))
    make_adapter(services, settings, "candidate")
    with pytest.raises(ArenaError, match="unknown adapter 'ghost'"):
        next(services.arena.compare("alice", "hi", adapters=("none", "ghost")))
    with pytest.raises(ArenaError, match="two different"):
        next(services.arena.compare("alice", "hi", adapters=("candidate", "candidate")))
    assert services.conversations.list("alice") == []


def test_bradley_terry_orders_by_wins_and_stays_finite():
    def fights(left, right, winner, n):
        return [{"left": left, "right": right, "winner": winner}] * n

    battles = fights("a", "b", "left", 8) + fights("a", "b", "right", 2) + fights("b", "c", "left", 5) + \
        fights("a", "c", "tie", 1)
    scores = bradley_terry(battles)
    assert scores["a"] > scores["b"] > scores["c"]
    assert abs(sum(scores.values()) / 3 - 1000) < 1e-6
    # 8 of 10 with the prior's two virtual ties each: close to the 4:1 odds (≈ 240 Elo points) it should show
    assert 150 < scores["a"] - scores["b"] < 260
    undefeated = bradley_terry([{"left": "x", "right": "y", "winner": "left"}] * 5)
    assert 0 < undefeated["x"] - undefeated["y"] < 1000
