"""What a talking note reader promises, declared once for training, export, evaluation and the command line.

Nothing to import but a few numbers, so the command line can show them in its help without loading numpy.
"""

# At most one wrong value in 200 spoken: the card's announce threshold is the lowest confidence at which
# held-out photos reach this precision, and evaluate reports coverage at it.
TARGET_PRECISION = 0.995

# The card never trusts a lower threshold than this. Validation photos come from the photographers the model
# was trained on, so a model that is merely less over-confident on them gets a lower card, and on a new
# photographer that lower card said wrong notes and named more foreign ones (BENCHMARKS.md, "The card's floor").
MIN_ANNOUNCE_THRESHOLD = 0.90

# The familiarity gate, when one is asked for (`edgetl export --familiarity`; export builds none by default since
# the recipe learned real scenes and averaged weights: on a fresh seed it silenced real notes and stopped no foreign
# one, BENCHMARKS.md "Dropping the familiarity gate"), keeps this share of right validation answers. On a
# photographer the model never saw, 0.95 silenced 29 % of real notes, 0.99 8.9 %, 0.999 5.6 % (an older recipe).
DEFAULT_KEEP = 0.999
