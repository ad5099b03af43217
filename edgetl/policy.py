"""What a talking note reader promises, declared once for training, export, evaluation and the command line.

Nothing to import but two numbers, so the command line can show them in its help without loading numpy.
"""

# At most one wrong value in 200 spoken: the card's announce threshold is the lowest confidence at which
# held-out photos reach this precision, and evaluate reports coverage at it.
TARGET_PRECISION = 0.995

# The familiarity gate keeps this share of right validation answers. 0.95 silenced 29 % of an unseen
# photographer's notes, 0.99 10.5 %; the price is more foreign notes let through (BENCHMARKS.md).
DEFAULT_KEEP = 0.99
