"""Forward passes that compute only what the caller reads: hidden states without the output layer, log-probs of
the reply tokens without the prompt's logits.

Qwen2.5's output layer maps 896 hidden units to 151,936 tokens: about a quarter of the model's FLOPs per position,
plus a log-softmax over the vocabulary. The reward model reads only the last hidden state, and KL or REINFORCE read
only the reply's log-probs, so projecting every position (what `model(...)` does) was wasted work on the CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def backbone(model):  # noqa: ANN001, ANN201 - a causal LM or a PeftModel around one -> its transformer
    """The transformer under the output layer (e.g. Qwen2Model); LoRA layers inside it stay as the caller set them."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    return causal_lm.base_model


def last_hidden_state(model, **inputs) -> torch.Tensor:  # noqa: ANN001
    """What `model(**inputs, output_hidden_states=True).hidden_states[-1]` holds (after the final norm), without
    the output layer."""
    return backbone(model)(**inputs, use_cache=False).last_hidden_state


def token_logprobs(model, sequences: torch.Tensor, prompt_length: int) -> torch.Tensor:  # noqa: ANN001
    """Log-probabilities of the generated tokens only (positions prompt_length..end) under `model`; the output layer
    runs on the positions that predict them."""
    return logprobs_from_hidden(model, last_hidden_state(model, input_ids=sequences), sequences, prompt_length)


def logprobs_from_hidden(model, hidden: torch.Tensor, sequences: torch.Tensor, prompt_length: int) -> torch.Tensor:  # noqa: ANN001
    """`token_logprobs` from hidden states already computed for `sequences` (or for a longer run that starts with
    them: a causal model's states for a prefix do not depend on what follows)."""
    length = sequences.shape[1]
    logits = model.get_output_embeddings()(hidden[:, prompt_length - 1:length - 1]).float()
    return torch.log_softmax(logits, dim=-1).gather(-1, sequences[:, prompt_length:].unsqueeze(-1)).squeeze(-1)


@contextlib.contextmanager
def trl_scores_completions_only() -> Iterator[None]:
    """While trl trains (DPO, KTO): its fused output layer projects only the positions with a label (the reply).

    trl (1.16, `add_fused_lm_head`) scores only labelled positions where Triton runs and every position elsewhere,
    so that compilers for accelerators such as Neuron see fixed tile shapes. Eager PyTorch on the CPU has no such
    constraint; there the prompt's positions (more than half of a DPO row: the system prompt and the question, for
    both replies) went through the 151,936-way output layer for nothing. trl's kernels keep their own PyTorch path
    on the CPU (they check the device themselves). A no-op if trl moves the switch.

    (A dense replacement of trl's CPU kernel, logits for 1,024 positions at a time differentiated by autograd, was
    faster alone, 4.4-5.0 s against 6.7-8.9 s per forward and backward of 480 reply tokens, but slower inside a DPO
    step, 26.5 s against 23 s: docs/bench_feedback.md.)"""
    from trl.trainer import utils as trl_utils

    use_triton = getattr(trl_utils, "_use_triton", None)
    if use_triton is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or use_triton(device)
    try:
        yield
    finally:
        trl_utils._use_triton = use_triton
