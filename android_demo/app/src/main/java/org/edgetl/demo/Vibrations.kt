package org.edgetl.demo

// PURE: no Android imports. The patterns are VibrationEffect.createWaveform timings
// ([delay, on, off, on, ...] in ms); Haptics.kt plays them.

/**
 * A distinct vibration per denomination, so the note can be told by touch alone (noisy street,
 * speech muted, deaf-blind users).
 *
 * Notes are ranked by face value (smallest first; labels without a number follow in card order;
 * the background class gets no pattern). Rank r is played as r / 3 long pulses followed by
 * r % 3 + 1 short pulses:
 *
 *     rank 0  .        (e.g. 10)      rank 3  - .      (100)     rank 6  - - .    (2000)
 *     rank 1  . .      (20)           rank 4  - . .    (200)
 *     rank 2  . . .    (50)           rank 5  - . . .  (500)
 *
 * Every rank gets a different pattern, no pattern is longer than needed (at most three short
 * pulses to count), and "more longs" always means "bigger note".
 */
object Vibrations {
    const val LONG_MS = 450L
    const val SHORT_MS = 120L
    const val GAP_MS = 180L

    /** Waveform timings for rank [rank] (0 = smallest note). */
    fun patternForRank(rank: Int): LongArray {
        require(rank >= 0) { "Vibrations: rank must be >= 0, got $rank" }
        val longs = rank / 3
        val shorts = rank % 3 + 1
        val pulses = longs + shorts
        val out = LongArray(pulses * 2)
        out[0] = 0L // start at once
        var i = 1
        for (p in 0 until pulses) {
            out[i++] = if (p < longs) LONG_MS else SHORT_MS
            if (p < pulses - 1) out[i++] = GAP_MS
        }
        return out
    }

    /** Non-background labels from smallest to largest face value (stable for ties and words). */
    fun ranked(labels: List<String>, background: String?): List<String> {
        val notes = labels.filter { it != background }
        return notes.withIndex()
            .sortedWith(compareBy<IndexedValue<String>>({ faceValue(it.value) ?: Long.MAX_VALUE }, { it.index }))
            .map { it.value }
    }

    /** Label -> waveform timings for every note in the model. */
    fun forLabels(labels: List<String>, background: String?): Map<String, LongArray> {
        val out = LinkedHashMap<String, LongArray>()
        ranked(labels, background).forEachIndexed { rank, label -> out[label] = patternForRank(rank) }
        return out
    }

    /** Total length of a pattern in ms. */
    fun durationMs(pattern: LongArray): Long = pattern.sum()

    private val NUMBER = Regex("\\d+")

    /** "500" -> 500, "inr_2000" -> 2000, "background" -> null. */
    fun faceValue(label: String): Long? = NUMBER.find(label)?.value?.toLongOrNull()
}
