"""Pictures for people: colour palettes for prompt sets and snapshots of predictions."""
