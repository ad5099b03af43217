package org.edgetl.decision

/** An input the rules refuse; [field] names it: "threshold", "card_threshold" or "hint_after_s". */
class SetupException(val field: String, message: String) : IllegalArgumentException(message)

/** What the Decider gets: threshold, where it came from, background label, hint delay. */
data class Setup(
    val threshold: Double,
    /** "user", "card", "card_raised" (card value below the floor, raised) or "default". */
    val thresholdSource: String,
    val background: String?,
    val hintAfterS: Double
)

/**
 * Model card + user options -> Decider settings; the same rules as edgetl/runtime/setup.py on the
 * Raspberry Pi, held to the shared cases in tests/vectors/decision_setup.json:
 *
 * - threshold: the user's value wins (any value in (0, 1]); else the card's announce_threshold,
 *   raised to [MIN_CARD_THRESHOLD] when lower; a card value of 0 or none means "not calibrated"
 *   and [DEFAULT_THRESHOLD] is used; a card value outside [0, 1] is refused.
 * - background: the card's background_label when it is a label, else a label named
 *   [FALLBACK_BACKGROUND], else none.
 * - hint: off ([DEFAULT_HINT_AFTER_S]) unless the user asks for it.
 */
object SetupRules {
    const val DEFAULT_THRESHOLD = 0.8
    const val MIN_CARD_THRESHOLD = 0.5
    const val DEFAULT_HINT_AFTER_S = 0.0
    const val FALLBACK_BACKGROUND = "background"

    fun resolve(
        labels: List<String>,
        cardBackground: String?,
        cardThreshold: Double?,
        userThreshold: Double? = null,
        userHintAfterS: Double? = null
    ): Setup {
        val (threshold, source) = threshold(cardThreshold, userThreshold)
        return Setup(threshold, source, background(labels, cardBackground), hint(userHintAfterS))
    }

    private fun threshold(card: Double?, user: Double?): Pair<Double, String> {
        if (user != null) {
            if (!(user > 0.0 && user <= 1.0)) {
                throw SetupException("threshold", "the announce threshold must be in (0, 1], got $user")
            }
            return Pair(user, "user")
        }
        if (card == null) return Pair(DEFAULT_THRESHOLD, "default")
        if (!(card >= 0.0 && card <= 1.0)) {
            throw SetupException("card_threshold", "the model card's announce_threshold must be in [0, 1], got $card")
        }
        return when {
            card == 0.0 -> Pair(DEFAULT_THRESHOLD, "default")
            card < MIN_CARD_THRESHOLD -> Pair(MIN_CARD_THRESHOLD, "card_raised")
            else -> Pair(card, "card")
        }
    }

    /** The card's background label when it is a label, else a label named "background", else null. */
    fun background(labels: List<String>, card: String?): String? = when {
        card != null && card in labels -> card
        FALLBACK_BACKGROUND in labels -> FALLBACK_BACKGROUND
        else -> null
    }

    private fun hint(user: Double?): Double {
        if (user == null) return DEFAULT_HINT_AFTER_S
        if (user.isNaN() || user.isInfinite() || user < 0.0) {
            throw SetupException("hint_after_s", "hint_after_s must be a finite number >= 0, got $user")
        }
        return user
    }
}
