package org.edgetl.decision

/*
 * Turns a stream of per-frame class probabilities into rare, correct announcements.
 *
 * Port of edgetl/runtime/decide.py: the same steps in the same order and the same
 * floating-point operations (EMA is `a * p + (1 - a) * s`, initialised to the first
 * frame), so both produce identical events on tests/vectors/decision.json; the Python
 * module docstring is the specification. Pure logic: no Android, no clocks, no I/O.
 * Written for Kotlin 1.3 (no newer stdlib APIs).
 */

const val KIND_ANNOUNCE = "announce"
const val KIND_HINT = "hint"
const val HINT_HOLD_STEADY = "hold_steady"

data class DecisionConfig(
    /** Smoothed confidence needed to consider a label. */
    val threshold: Double = 0.80,
    /** "ema" or "vote". */
    val smoothing: String = "ema",
    /** Weight of the newest frame in the EMA. */
    val emaAlpha: Double = 0.5,
    /** Frames for "vote": a label needs a strict majority (2 * votes > window). */
    val window: Int = 5,
    /** Same candidate for this many consecutive frames before announcing. */
    val stableFrames: Int = 3,
    /** Never repeat the same label within this many seconds. */
    val cooldownS: Double = 3.0,
    /** Frames without a candidate before a note counts as gone. */
    val leaveFrames: Int = 5,
    /** > 0: one "hold_steady" hint after this long of ambiguous input; 0 disables. */
    val hintAfterS: Double = 0.0
) {
    init {
        require(threshold > 0.0 && threshold <= 1.0) { "DecisionConfig: threshold must be in (0, 1], got $threshold" }
        require(smoothing == "ema" || smoothing == "vote") { "DecisionConfig: smoothing must be \"ema\" or \"vote\", got \"$smoothing\"" }
        require(emaAlpha > 0.0 && emaAlpha <= 1.0) { "DecisionConfig: emaAlpha must be in (0, 1], got $emaAlpha" }
        require(window >= 1) { "DecisionConfig: window must be >= 1, got $window" }
        require(stableFrames >= 1) { "DecisionConfig: stableFrames must be >= 1, got $stableFrames" }
        require(leaveFrames >= 1) { "DecisionConfig: leaveFrames must be >= 1, got $leaveFrames" }
        require(!cooldownS.isNaN() && !cooldownS.isInfinite() && cooldownS >= 0.0) { "DecisionConfig: cooldownS must be a finite number >= 0, got $cooldownS" }
        require(!hintAfterS.isNaN() && !hintAfterS.isInfinite() && hintAfterS >= 0.0) { "DecisionConfig: hintAfterS must be a finite number >= 0, got $hintAfterS" }
    }
}

/** Something to say: [kind] is [KIND_ANNOUNCE] (label = denomination) or [KIND_HINT]. */
data class Event(val kind: String, val label: String, val confidence: Double, val t: Double)

class Decider @JvmOverloads constructor(
    labels: List<String>,
    val background: String? = "background",
    val config: DecisionConfig = DecisionConfig()
) {
    val labels: List<String> = ArrayList(labels)
    private val n = this.labels.size
    private val bg: Int
    private val thr = config.threshold
    private val a = config.emaAlpha
    private val b = 1.0 - config.emaAlpha
    private val vote = config.smoothing == "vote"
    private val window = config.window
    private val stable = config.stableFrames
    private val cooldown = config.cooldownS
    private val leave = config.leaveFrames
    private val hintAfter = config.hintAfterS

    // State (preallocated; update() allocates only the returned Event).
    private val s = DoubleArray(n)
    private var hasS = false
    private val ringVote = IntArray(window)
    private val ringProb = DoubleArray(window)
    private var ringPos = 0
    private val counts = IntArray(n)
    private var cand = -1
    private var candCount = 0
    private var inViewIdx = -1
    private var noneCount = 0
    private val lastTime = DoubleArray(n)  // NaN = never announced
    private var lastAnnouncedLabel: String? = null
    private var ambStart = Double.NaN       // NaN = not in an ambiguous stretch
    private var hinted = false
    private var lastT = Double.NaN

    init {
        require(n > 0) { "Decider: labels must not be empty" }
        require(this.labels.all { it.isNotEmpty() }) { "Decider: labels must be non-empty strings, got ${this.labels}" }
        require(this.labels.toSet().size == n) { "Decider: labels must be unique, got ${this.labels}" }
        bg = if (background == null) -1 else this.labels.indexOf(background)
        require(background == null || bg >= 0) {
            "Decider: background label \"$background\" is not one of the labels ${this.labels} " +
                "(pass background = null if the model has no background class)"
        }
        reset()
    }

    /** The most recently announced label (for a "repeat last" button), or null. */
    val lastAnnounced: String?
        get() = lastAnnouncedLabel

    /** The announced label still considered in front of the camera, or null. */
    val inView: String?
        get() = if (inViewIdx >= 0) labels[inViewIdx] else null

    /** Forget everything, including cooldowns and the last announcement. */
    fun reset() {
        hasS = false
        java.util.Arrays.fill(s, 0.0)
        java.util.Arrays.fill(ringVote, -1)
        java.util.Arrays.fill(ringProb, 0.0)
        ringPos = 0
        java.util.Arrays.fill(counts, 0)
        cand = -1
        candCount = 0
        inViewIdx = -1
        noneCount = 0
        java.util.Arrays.fill(lastTime, Double.NaN)
        lastAnnouncedLabel = null
        ambStart = Double.NaN
        hinted = false
        lastT = Double.NaN
    }

    /** Float overload for model outputs; values are widened exactly to Double. */
    fun update(probs: FloatArray, t: Double): Event? {
        checkLength(probs.size)
        val p = DoubleArray(probs.size)
        for (i in probs.indices) p[i] = probs[i].toDouble()
        return update(p, t)
    }

    /** Feed one frame's class probabilities observed at time [t] (seconds, non-decreasing). */
    fun update(probs: DoubleArray, t: Double): Event? {
        checkLength(probs.size)
        var r = 0
        var rp = Double.NEGATIVE_INFINITY
        for (i in 0 until n) {
            val x = probs[i]
            if (x.isNaN() || x.isInfinite()) {
                throw IllegalArgumentException("Decider.update: probability $i (\"${labels[i]}\") is $x")
            }
            if (x > rp) {
                rp = x
                r = i
            }
        }
        if (t.isNaN() || t.isInfinite()) throw IllegalArgumentException("Decider.update: t must be finite, got $t")
        if (!lastT.isNaN() && t < lastT) throw IllegalArgumentException("Decider.update: time went backwards ($t < $lastT)")
        lastT = t

        // 1. smoothing
        val k: Int
        val conf: Double
        val top: Int
        if (vote) {
            k = voteStep(r, rp)
            conf = if (k >= 0) voteConfidence(k) else 0.0
            top = r
        } else {
            if (!hasS || (cand >= 0 && rp >= thr && r != bg && r != cand)) {
                System.arraycopy(probs, 0, s, 0, n)  // first frame, or a swap: restart from this frame
                hasS = true
            } else {
                for (i in 0 until n) s[i] = a * probs[i] + b * s[i]
            }
            var best = 0
            var bestV = s[0]
            for (i in 1 until n) {
                if (s[i] > bestV) {
                    bestV = s[i]
                    best = i
                }
            }
            k = best
            conf = bestV
            top = best
        }

        // 2. candidate (vote mode applied the threshold per frame already)
        val c = if (k >= 0 && k != bg && (vote || conf >= thr)) k else -1

        // 3. stability
        if (c == cand) {
            candCount += 1
        } else {
            cand = c
            candCount = 1
        }

        // 4. view: a label in view that still leads with at least half the threshold has not left
        val held = k == inViewIdx && k >= 0 && conf >= 0.5 * thr
        if (c < 0 && !held) {
            noneCount += 1
            if (noneCount >= leave) inViewIdx = -1
        } else {
            noneCount = 0
        }

        // 5. announce
        if (c >= 0) {
            ambStart = Double.NaN
            if (candCount >= stable && c != inViewIdx) {
                val last = lastTime[c]
                if (last.isNaN() || t - last >= cooldown) {
                    inViewIdx = c
                    lastTime[c] = t
                    val label = labels[c]
                    lastAnnouncedLabel = label
                    return Event(KIND_ANNOUNCE, label, conf, t)
                }
            }
            return null
        }

        // 6. hint
        if (hintAfter > 0.0) {
            if (top >= 0 && top != bg) {
                if (ambStart.isNaN()) {
                    ambStart = t
                    hinted = false
                }
                if (!hinted && t - ambStart >= hintAfter) {
                    hinted = true
                    return Event(KIND_HINT, HINT_HOLD_STEADY, if (vote) rp else conf, t)
                }
            } else {
                ambStart = Double.NaN
            }
        }
        return null
    }

    private fun checkLength(size: Int) {
        if (size != n) {
            throw IllegalArgumentException("Decider.update: expected $n probabilities (one per label $labels), got $size")
        }
    }

    /** Push this frame's vote; return the label holding a strict majority of the window, or -1. */
    private fun voteStep(r: Int, rp: Double): Int {
        val old = ringVote[ringPos]
        if (old >= 0) counts[old] -= 1
        val v = if (rp >= thr) r else -1
        ringVote[ringPos] = v
        ringProb[ringPos] = rp
        if (v >= 0) counts[v] += 1
        ringPos += 1
        if (ringPos == window) ringPos = 0
        if (v >= 0 && 2 * counts[v] > window) return v
        for (i in 0 until n) {
            if (2 * counts[i] > window) return i
        }
        return -1
    }

    /** Mean raw probability of [winner] over the frames that voted for it, summed by slot index. */
    private fun voteConfidence(winner: Int): Double {
        var total = 0.0
        for (j in 0 until window) {
            if (ringVote[j] == winner) total += ringProb[j]
        }
        return total / counts[winner].toDouble()
    }
}
