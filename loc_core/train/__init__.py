"""Training: cached samples over Frames + dense labels, the trainer (single process or DDP), checkpoints."""
