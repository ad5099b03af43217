package org.edgetl.demo

// PURE: no Android imports.

/**
 * How long to wait before acting on something just said when the app cannot hear it end: a
 * message read by TalkBack (a live region), or a speech engine that never reports completion.
 * Generous on purpose: cutting off instructions is worse than a short wait.
 */
object SpeechTiming {
    const val MIN_MS = 3_000L
    const val MAX_MS = 15_000L
    /** About 13 characters a second, a slow screen-reader pace. */
    const val MS_PER_CHAR = 75L
    /** Our own speech reports its end; this only covers an engine that never does (even at a slow rate). */
    const val SAFETY_MS = 30_000L

    fun waitMs(text: String): Long = (1_000L + MS_PER_CHAR * text.length).coerceIn(MIN_MS, MAX_MS)
}
