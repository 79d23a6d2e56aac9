"""Every tab of the real app builds: a tab that raises while being built shows "failed to load" instead of its
controls, which only a browser would otherwise notice."""

import gradio as gr

from assistant.ui.app import build_app


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
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from assistant.adapters import AdapterCard, save_adapter

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(settings.model),
                           LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"]))
    (settings.adapters_dir / "rlhf-dpo-1").mkdir()
    save_adapter(model, settings.adapters_dir / "rlhf-dpo-1",
                 AdapterCard(name="rlhf-dpo-1", base_model=settings.model, method="rlhf-dpo"))
    app = build_app(services)
    dropdowns = [b for b in app.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "candidate"]
    assert len(dropdowns) == 1 and ("rlhf-dpo-1", "rlhf-dpo-1") in dropdowns[0].choices
    assert dropdowns[0].value is None
