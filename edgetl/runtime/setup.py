"""Model card + user options -> the Decider's settings: one set of rules for the Pi and the phone.

The Pi runner and the Android app (``android_demo/decision``, ``SetupRules``) both follow these rules, and
both are held to the language-neutral cases in ``tests/vectors/decision_setup.json``:

* threshold: the user's explicit value wins (any value in (0, 1]); else the card's calibrated
  ``announce_threshold``, raised to 0.5 when it is lower (below 0.5 the top label does not even outweigh all
  the others together; such a card comes from a held-out set too small to trust); a card value of 0 or none
  means "not calibrated" and 0.8 is used. A card value outside [0, 1] is an error.
* background: the card's ``background_label`` when it is one of the labels, else a label named
  ``background`` when there is one, else none (every label is a note).
* hold-steady hint: off unless the user asks for it (``hint_after_s`` > 0).

Pure Python, no numpy: the same logic must read the same in Kotlin. The defaults are the decision layer's
own (``DecisionConfig``, decision_config.py), declared there once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgetl.runtime.decision_config import DecisionConfig

__all__ = [
    "DEFAULT_THRESHOLD",
    "MIN_CARD_THRESHOLD",
    "DEFAULT_HINT_AFTER_S",
    "FALLBACK_BACKGROUND",
    "DecisionSetup",
    "SetupError",
    "decision_setup",
]

DEFAULT_THRESHOLD = DecisionConfig.threshold  # neither the user nor the card gives one (0.8)
MIN_CARD_THRESHOLD = 0.5  # a card threshold below this is raised to it
DEFAULT_HINT_AFTER_S = DecisionConfig.hint_after_s  # the "hold the note steady" hint is off unless asked for
FALLBACK_BACKGROUND = "background"


class SetupError(ValueError):
    """An input the rules refuse; ``field`` names it (``threshold``, ``card_threshold`` or ``hint_after_s``)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DecisionSetup:
    threshold: float
    # "user" (explicit option), "card", "card_raised" (card value below 0.5, raised), "default" (0.8)
    threshold_source: str
    background: str | None
    hint_after_s: float


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _threshold(card_threshold, threshold) -> tuple[float, str]:
    if threshold is not None:
        if not (_finite(threshold) and 0.0 < threshold <= 1.0):
            raise SetupError("threshold", f"the announce threshold must be in (0, 1], got {threshold!r}")
        return float(threshold), "user"
    if card_threshold is None:
        return DEFAULT_THRESHOLD, "default"
    if not (_finite(card_threshold) and 0.0 <= card_threshold <= 1.0):
        raise SetupError("card_threshold",
                         f"the model card's announce_threshold must be in [0, 1], got {card_threshold!r}")
    if card_threshold == 0:
        return DEFAULT_THRESHOLD, "default"
    if card_threshold < MIN_CARD_THRESHOLD:
        return MIN_CARD_THRESHOLD, "card_raised"
    return float(card_threshold), "card"


def _background(labels, card_background) -> str | None:
    if card_background is not None and card_background in labels:
        return card_background
    return FALLBACK_BACKGROUND if FALLBACK_BACKGROUND in labels else None


def _hint(hint_after_s) -> float:
    if hint_after_s is None:
        return DEFAULT_HINT_AFTER_S
    if not (_finite(hint_after_s) and hint_after_s >= 0):
        raise SetupError("hint_after_s", f"hint_after_s must be a finite number >= 0, got {hint_after_s!r}")
    return float(hint_after_s)


def decision_setup(labels, card_background: str | None = None, card_threshold: float | None = None,
                   threshold: float | None = None, hint_after_s: float | None = None) -> DecisionSetup:
    """The Decider's threshold, background label and hint delay (see the module docstring).

    ``card_*`` come from the model card (None when there is no card or it leaves them empty);
    ``threshold`` and ``hint_after_s`` are the user's explicit choices (None: not given).
    Raises SetupError for a value the rules refuse.
    """
    value, source = _threshold(card_threshold, threshold)
    return DecisionSetup(threshold=value, threshold_source=source,
                         background=_background(list(labels), card_background), hint_after_s=_hint(hint_after_s))
