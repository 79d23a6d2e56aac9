"""Every tab of the real app builds: a tab that raises while being built shows "failed to load" instead of its
controls, which only a browser would otherwise notice."""

import gradio as gr

from assistant.ui.app import build_app


def save_lora(settings, name: str, method: str) -> None:  # noqa: ANN001
    """A real (untrained) LoRA adapter on the tiny model, as the registry lists it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from assistant.adapters import AdapterCard, save_adapter

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(settings.model),
                           LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"]))
    (settings.adapters_dir / name).mkdir()
    save_adapter(model, settings.adapters_dir / name, AdapterCard(name=name, base_model=settings.model, method=method))


def test_every_tab_builds_without_an_error(services):
    app = build_app(services)
    failures = [block.value for block in app.blocks.values()
                if isinstance(block, gr.Markdown) and "failed to load" in str(block.value)]
    assert failures == []
    labels = {block.label for block in app.blocks.values() if isinstance(block, gr.Tab)}
    assert {"Chat", "Knowledge", "Adapters", "Images", "Feedback & Training", "Jobs", "Settings"} <= labels


def test_no_rlhf_candidate_looks_chosen_before_its_report_is_shown(services, settings):
    """Gradio preselects a dropdown's first choice without firing `change`: the gate report stayed empty under a
    candidate that looked chosen. The candidate list starts unselected, so choosing one shows its report."""
    save_lora(settings, "rlhf-dpo-1", "rlhf-dpo")
    app = build_app(services)
    dropdowns = [b for b in app.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "candidate"]
    assert len(dropdowns) == 1 and ("rlhf-dpo-1", "rlhf-dpo-1") in dropdowns[0].choices
    assert dropdowns[0].value is None


def test_the_adapter_that_looks_chosen_has_its_card_shown(services, settings):
    """The Adapters tab showed its first adapter as chosen (Gradio preselects it without firing `change`) with an
    empty card.json under it (seen in a browser tour, twenty-sixth session)."""
    import json

    save_lora(settings, "brief", "lora-sft")
    app = build_app(services)
    names = services.adapters.names()
    [choice] = [b for b in app.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Adapter"
                and [value for _, value in b.choices] == names]  # the chat's has "default (promoted)" too
    [card] = [b for b in app.blocks.values() if isinstance(b, gr.Code) and b.label == "card.json"]
    assert choice.value == names[0]
    assert json.loads(card.value)["name"] == choice.value
