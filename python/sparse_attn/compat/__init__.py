"""Drop-in replacements for the peers' Python APIs (need PyTorch)."""
