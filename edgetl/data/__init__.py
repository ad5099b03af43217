"""Data side: reading images robustly, class folders, splits, checks, synthetic notes, capture."""
