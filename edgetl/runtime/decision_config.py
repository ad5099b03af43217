"""The decision layer's settings and their defaults, declared once.

``DecisionConfig`` is what a :class:`edgetl.runtime.decide.Decider` is built with (decide.py re-exports it;
the Kotlin port's ``DecisionConfig`` in ``Decider.kt`` mirrors the fields, defaults and checks). It lives
in its own numpy-free module so ``edgetl run --help``, ``RunConfig`` and the card -> settings rules
(setup.py) can read the defaults without loading the runtime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DecisionConfig"]

_SMOOTHINGS = ("ema", "vote")


@dataclass(frozen=True)
class DecisionConfig:
    """Knobs of the decision layer; defaults suit ~10-30 fps on a Pi."""

    threshold: float = 0.80  # smoothed confidence needed to consider a label
    smoothing: str = "ema"  # "ema" or "vote"
    ema_alpha: float = 0.5  # weight of the newest frame in EMA
    window: int = 5  # frames for "vote"
    stable_frames: int = 3  # same candidate for K consecutive frames before announcing
    cooldown_s: float = 3.0  # never repeat the same label within this time
    leave_frames: int = 5  # frames without a candidate before a note counts as gone
    hint_after_s: float = 0.0  # >0: one "hold_steady" hint per ambiguous stretch; 0 disables

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"DecisionConfig: {msg}")

        if not (0.0 < self.threshold <= 1.0):
            bad(f"threshold must be in (0, 1], got {self.threshold!r}")
        if self.smoothing not in _SMOOTHINGS:
            bad(f"smoothing must be one of {_SMOOTHINGS}, got {self.smoothing!r}")
        if not (0.0 < self.ema_alpha <= 1.0):
            bad(f"ema_alpha must be in (0, 1], got {self.ema_alpha!r}")
        for name in ("window", "stable_frames", "leave_frames"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("cooldown_s", "hint_after_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                bad(f"{name} must be a finite number >= 0, got {v!r}")
