package org.edgetl.demo

// PURE: no Android imports. The user's own announce threshold, kept as whole percent.

/**
 * The settings slider offers 50-99 %. The value is stored as an Int percent, so what the dialog
 * shows is exactly what was saved: storing it as a Float and reading it back with toInt() turned
 * 24 of the 50 values into one percent less (0.57f is 0.56999...), and each OK lowered them again.
 */
object ThresholdSetting {
    const val MIN_PERCENT = 50
    const val MAX_PERCENT = 99

    /** Slider positions: 0 .. [MAX_PROGRESS]. */
    const val MAX_PROGRESS = MAX_PERCENT - MIN_PERCENT

    /** Nearest whole percent within the slider's range (rounds, never truncates). */
    fun percentOf(threshold: Double): Int =
        Math.round(threshold * 100.0).toInt().coerceIn(MIN_PERCENT, MAX_PERCENT)

    fun thresholdOf(percent: Int): Double = percent.coerceIn(MIN_PERCENT, MAX_PERCENT) / 100.0

    fun progressOf(percent: Int): Int = percent.coerceIn(MIN_PERCENT, MAX_PERCENT) - MIN_PERCENT

    fun percentAt(progress: Int): Int = MIN_PERCENT + progress.coerceIn(0, MAX_PROGRESS)

    /** A threshold saved by an older version of the app as a Float. */
    fun percentOfLegacy(saved: Float): Int = percentOf(saved.toDouble())
}
