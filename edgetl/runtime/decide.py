"""Turn a stream of per-frame class probabilities into rare, correct announcements.

Pure logic: no I/O, no clocks (the caller passes timestamps), no TensorFlow.
Speaking the wrong denomination is worse than saying nothing, so every rule
here errs on the side of silence.

Per frame, in this order (the Kotlin port in
``android_demo/decision/.../Decider.kt`` follows the same steps and the same
floating-point operations, and the shared vectors in
``tests/vectors/decision.json`` hold both to it):

1. Smooth.
   * ``"ema"``: ``s[i] = a*p[i] + (1-a)*s[i]``, with ``s`` initialised to the
     first frame.  On a *swap* -- the previous frame had a candidate ``L``
     and this frame's raw argmax ``r`` is a different non-background label
     with ``p[r] >= threshold`` -- ``s`` is reset to this frame, so the new
     note is not slowed down by the old note's history.  Smoothed label =
     ``argmax(s)`` (first index on ties), confidence = its value.
   * ``"vote"``: each frame votes for its raw argmax if ``p[argmax] >=
     threshold``, otherwise abstains.  Over the last ``window`` frames (frames
     before the first one count as abstentions) a label is the smoothed
     label only with a strict majority of the *whole window*:
     ``2*votes > window``.  Confidence = mean raw probability of that label
     over the frames that voted for it (summed oldest-slot-index first).
2. Candidate = smoothed label if it is not the background label and (EMA)
   its confidence is ``>= threshold`` / (vote) it has a majority, else none.
3. Stability: consecutive frames with the same candidate (``none`` runs are
   counted too but never announced).
4. View: ``leave_frames`` consecutive frames *away* clear the label "in
   view".  A frame is away when it has no candidate and the label in view is
   not still held: held means it is the smoothed label with a confidence of
   at least half the threshold (EMA; a vote majority is always a candidate).
   A note that dips under the threshold while it still leads has not left,
   so it is not announced a second time once the cooldown ends.
5. Announce when candidate is a label, has been the candidate for at least
   ``stable_frames`` frames, is not the label in view, and that label was
   never announced or was last announced at least ``cooldown_s`` ago
   (``t - last >= cooldown_s``).  A stable candidate held back only by the
   cooldown is announced as soon as the cooldown ends, if it is still stable
   and still not in view.  The announced label becomes the label in view.
6. Hint (``hint_after_s > 0`` only): a frame is *ambiguous* when there is no
   candidate and the top label (EMA: ``argmax(s)``; vote: the raw argmax) is
   not the background.  One ``hold_steady`` hint is emitted per unbroken run
   of ambiguous frames, on the first frame with
   ``t - run_start >= hint_after_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Declared apart so the decision defaults can be read (``edgetl run --help``, the setup rules) without numpy.
from edgetl.runtime.decision_config import DecisionConfig

__all__ = ["DecisionConfig", "Event", "Decider", "HINT_HOLD_STEADY"]

HINT_HOLD_STEADY = "hold_steady"


@dataclass(frozen=True)
class Event:
    """Something to say: ``kind`` is "announce" (label = denomination) or "hint"."""

    kind: str
    label: str
    confidence: float
    t: float


class Decider:
    """Stateful per-stream decision maker; feed it one frame at a time with :meth:`update`."""

    __slots__ = (
        "labels", "background", "config",
        "_n", "_bg", "_thr", "_a", "_b", "_vote", "_window",
        "_stable", "_cooldown", "_leave", "_hint_after",
        "_s", "_ring_vote", "_ring_prob", "_ring_pos", "_counts",
        "_cand", "_cand_count", "_in_view", "_none_count",
        "_last_time", "_last_announced", "_amb_start", "_hinted", "_last_t",
    )

    def __init__(
        self,
        labels: Sequence[str],
        background: str | None = "background",
        config: DecisionConfig = DecisionConfig(),
    ) -> None:
        labels = tuple(labels)
        if not labels:
            raise ValueError("Decider: labels must not be empty")
        if any(not isinstance(x, str) or not x for x in labels):
            raise ValueError(f"Decider: labels must be non-empty strings, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"Decider: labels must be unique, got {labels!r}")
        if background is not None and background not in labels:
            raise ValueError(
                f"Decider: background label {background!r} is not one of the labels {labels!r}"
                " (pass background=None if the model has no background class)"
            )
        if not isinstance(config, DecisionConfig):
            raise TypeError("Decider: config must be a DecisionConfig")
        self.labels = labels
        self.background = background
        self.config = config
        self._n = len(labels)
        self._bg = labels.index(background) if background is not None else -1
        self._thr = float(config.threshold)
        self._a = float(config.ema_alpha)
        self._b = 1.0 - self._a
        self._vote = config.smoothing == "vote"
        self._window = config.window
        self._stable = config.stable_frames
        self._cooldown = float(config.cooldown_s)
        self._leave = config.leave_frames
        self._hint_after = float(config.hint_after_s)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything, including cooldowns and the last announcement."""
        self._s: list[float] | None = None
        self._ring_vote = [-1] * self._window
        self._ring_prob = [0.0] * self._window
        self._ring_pos = 0
        self._counts = [0] * self._n
        self._cand = -1
        self._cand_count = 0
        self._in_view = -1
        self._none_count = 0
        self._last_time: list[float | None] = [None] * self._n
        self._last_announced: str | None = None
        self._amb_start: float | None = None
        self._hinted = False
        self._last_t: float | None = None

    @property
    def last_announced(self) -> str | None:
        """The most recently announced label (for a "repeat last" button), or None."""
        return self._last_announced

    @property
    def in_view(self) -> str | None:
        """The announced label still considered in front of the camera, or None."""
        return self.labels[self._in_view] if self._in_view >= 0 else None

    # ----------------------------------------------------------------- update
    def update(self, probs: Sequence[float] | np.ndarray, t: float) -> Event | None:
        """Feed one frame's class probabilities observed at time ``t`` (seconds, non-decreasing)."""
        if isinstance(probs, np.ndarray):
            if probs.ndim != 1:
                raise ValueError(
                    f"Decider.update: probs must be 1-D with {self._n} values, got shape {probs.shape}"
                )
            p = probs.tolist()
        else:
            p = list(probs)
        n = self._n
        if len(p) != n:
            raise ValueError(
                f"Decider.update: expected {n} probabilities (one per label {self.labels!r}), got {len(p)}"
            )
        # Validate and find the raw argmax in one pass (first index wins ties).
        r = 0
        rp = -math.inf
        isfinite = math.isfinite
        for i in range(n):
            x = float(p[i])
            if not isfinite(x):
                raise ValueError(f"Decider.update: probability {i} ({self.labels[i]!r}) is {x!r}")
            p[i] = x
            if x > rp:
                rp = x
                r = i
        t = float(t)
        if not isfinite(t):
            raise ValueError(f"Decider.update: t must be finite, got {t!r}")
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"Decider.update: time went backwards ({t!r} < {self._last_t!r})")
        self._last_t = t

        thr = self._thr
        bg = self._bg

        # 1. smoothing -> (k = smoothed label or -1, conf, top = label for the ambiguity test)
        if self._vote:
            k, conf = self._vote_step(p, r, rp)
            top = r
        else:
            s = self._s
            if s is None or (
                self._cand >= 0 and rp >= thr and r != bg and r != self._cand
            ):
                self._s = s = p  # first frame, or a swap: restart from this frame
            else:
                a = self._a
                b = self._b
                for i in range(n):
                    s[i] = a * p[i] + b * s[i]
            k = 0
            conf = s[0]
            for i in range(1, n):
                if s[i] > conf:
                    conf = s[i]
                    k = i
            top = k

        # 2. candidate (vote mode applied the threshold per frame already)
        cand = k if (k >= 0 and k != bg and (self._vote or conf >= thr)) else -1

        # 3. stability
        if cand == self._cand:
            self._cand_count += 1
        else:
            self._cand = cand
            self._cand_count = 1

        # 4. view
        held = k == self._in_view and k >= 0 and conf >= 0.5 * thr
        if cand < 0 and not held:
            self._none_count += 1
            if self._none_count >= self._leave:
                self._in_view = -1
        else:
            self._none_count = 0

        # 5. announce
        if cand >= 0:
            self._amb_start = None
            if self._cand_count >= self._stable and cand != self._in_view:
                last = self._last_time[cand]
                if last is None or t - last >= self._cooldown:
                    self._in_view = cand
                    self._last_time[cand] = t
                    label = self.labels[cand]
                    self._last_announced = label
                    return Event("announce", label, conf, t)
            return None

        # 6. hint
        if self._hint_after > 0.0:
            if top >= 0 and top != bg:
                if self._amb_start is None:
                    self._amb_start = t
                    self._hinted = False
                if not self._hinted and t - self._amb_start >= self._hint_after:
                    self._hinted = True
                    return Event("hint", HINT_HOLD_STEADY, rp if self._vote else conf, t)
            else:
                self._amb_start = None
        return None

    def _vote_step(self, p: list[float], r: int, rp: float) -> tuple[int, float]:
        ring_vote = self._ring_vote
        ring_prob = self._ring_prob
        counts = self._counts
        pos = self._ring_pos
        old = ring_vote[pos]
        if old >= 0:
            counts[old] -= 1
        vote = r if rp >= self._thr else -1
        ring_vote[pos] = vote
        ring_prob[pos] = rp
        if vote >= 0:
            counts[vote] += 1
        pos += 1
        self._ring_pos = 0 if pos == self._window else pos

        w = self._window  # strict majority of the whole window: 2*votes > window
        if vote >= 0 and 2 * counts[vote] > w:
            winner = vote  # only the label just voted for can have gained a majority...
        else:
            winner = -1
            for i in range(self._n):  # ...but one may also keep it after an abstention
                if 2 * counts[i] > w:
                    winner = i
                    break
        if winner < 0:
            return -1, 0.0
        total = 0.0
        for j in range(self._window):
            if ring_vote[j] == winner:
                total += ring_prob[j]
        return winner, total / counts[winner]
