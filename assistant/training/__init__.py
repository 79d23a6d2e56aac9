"""Training jobs that produce LoRA adapters: supervised fine-tuning, reward models and RLHF."""
