package org.edgetl.demo

// PURE: no Android imports; glue between the model card, the settings and the decision module.

import org.edgetl.decision.DecisionConfig
import org.edgetl.decision.Decider
import org.edgetl.decision.Setup
import org.edgetl.decision.SetupRules

/**
 * The Decider for a model card and the user's settings. The rules (threshold floor and default,
 * background fallback, hint off by default) are [SetupRules], the same as the Raspberry Pi's
 * (edgetl/runtime/setup.py), checked against the shared tests/vectors/decision_setup.json.
 */
object DecisionSetup {
    /** The "hold the note steady" delay when the user turns the hint on in settings. */
    const val HINT_AFTER_S = 4.0

    /** Throws SetupException (an IllegalArgumentException) when the card's threshold is not in [0, 1]. */
    fun setup(card: ModelCard, userThreshold: Double?, hint: Boolean = false): Setup =
        SetupRules.resolve(card.labels, card.backgroundLabel, card.announceThreshold, userThreshold, if (hint) HINT_AFTER_S else null)

    fun decider(card: ModelCard, userThreshold: Double?, hint: Boolean = false): Decider {
        val s = setup(card, userThreshold, hint)
        return Decider(card.labels, s.background, DecisionConfig(threshold = s.threshold, hintAfterS = s.hintAfterS))
    }
}
