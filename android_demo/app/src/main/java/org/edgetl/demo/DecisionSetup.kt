package org.edgetl.demo

// PURE: no Android imports; glue between the model card, the settings and the decision module.

import org.edgetl.decision.DecisionConfig
import org.edgetl.decision.Decider

object DecisionSetup {
    /** Used when neither the settings nor the card give a threshold. */
    const val DEFAULT_THRESHOLD = 0.8

    /** Settings override (if any) > the card's calibrated announce_threshold > [DEFAULT_THRESHOLD]. */
    fun threshold(card: ModelCard, override: Double?): Double = override ?: card.announceThreshold ?: DEFAULT_THRESHOLD

    /** A Decider for this model: its labels, its background class, and the chosen threshold. */
    fun decider(card: ModelCard, override: Double?): Decider {
        val config = DecisionConfig(threshold = threshold(card, override), hintAfterS = 4.0)
        return Decider(card.labels, card.deciderBackground, config)
    }
}
