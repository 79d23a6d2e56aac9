"""Forward passes that skip the output layer where nothing reads it: same numbers, less work."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from assistant.training.forward import last_hidden_state, trl_scores_completions_only


def test_last_hidden_state_is_the_full_forwards_last_hidden_state(tiny_model_dir):
    """Reward heads already on disk were fitted on `hidden_states[-1]`: the cheaper forward must give the same."""
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    ids = torch.tensor([[3, 14, 15, 92, 65, 35]])
    with torch.no_grad():
        full = model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        cheap = last_hidden_state(model, input_ids=ids)
    assert torch.equal(full, cheap)


def test_trl_fused_head_scores_only_the_reply_on_the_cpu(tiny_model_dir, monkeypatch):
    """Same log-probs for the reply tokens; the output layer sees the labelled positions only (4, not 9)."""
    from trl.trainer import utils as trl_utils

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    trl_utils.add_fused_lm_head(model)
    ids = torch.tensor([[3, 14, 15, 92, 65, 35, 89, 79, 32, 38]])
    labels = ids.clone()
    labels[:, :6] = -100  # a 6-token prompt, a 4-token reply
    rows_scored = []
    apply = trl_utils._ChunkedLogProbFunction.apply

    def counting_apply(hidden, *args):  # noqa: ANN001, ANN202
        rows_scored.append(hidden.shape[0])
        return apply(hidden, *args)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", counting_apply)
    with torch.no_grad():
        every_position = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
        with trl_scores_completions_only():
            reply_only = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
    assert rows_scored == [9, 4]
    assert torch.allclose(every_position, reply_only, atol=1e-5)
    assert (reply_only[0, :5] == 0).all() and (reply_only[0, 5:] < 0).all()
    assert trl_utils._use_triton(torch.device("cpu")) is False  # the switch is put back
