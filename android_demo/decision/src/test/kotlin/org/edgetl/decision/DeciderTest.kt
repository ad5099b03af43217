package org.edgetl.decision

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The Kotlin-side API contract: validation, state accessors, overloads, speed. */
class DeciderTest {
    private val labels = listOf("background", "10", "20", "50")
    private val bgFrame = doubleArrayOf(0.97, 0.01, 0.01, 0.01)
    private val n10 = doubleArrayOf(0.01, 0.97, 0.01, 0.01)

    private fun expectIae(messagePart: String, block: () -> Unit) {
        try {
            block()
            fail("expected IllegalArgumentException containing '$messagePart'")
        } catch (e: IllegalArgumentException) {
            assertTrue("message '${e.message}' lacks '$messagePart'", e.message!!.contains(messagePart))
        }
    }

    @Test
    fun announcesOnceAndTracksLastAnnounced() {
        val d = Decider(labels)
        assertNull(d.lastAnnounced)
        val events = ArrayList<Pair<Int, Event>>()
        for (i in 0 until 16) {
            val e = d.update(if (i < 8) bgFrame else n10, i * 0.125)
            if (e != null) events.add(Pair(i, e))
        }
        assertEquals(1, events.size)
        assertEquals(12, events[0].first)
        assertEquals(KIND_ANNOUNCE, events[0].second.kind)
        assertEquals("10", events[0].second.label)
        assertEquals(0.94, events[0].second.confidence, 1e-12)
        assertEquals(1.5, events[0].second.t, 0.0)
        assertEquals("10", d.lastAnnounced)
        assertEquals("10", d.inView)
    }

    @Test
    fun resetForgetsEverything() {
        val d = Decider(labels)
        for (i in 0 until 5) d.update(n10, i * 0.125)
        assertEquals("10", d.lastAnnounced)
        d.reset()
        assertNull(d.lastAnnounced)
        assertNull(d.inView)
        var announcedAt = -1
        for (i in 0 until 5) if (d.update(n10, i * 0.125) != null) announcedAt = i
        assertEquals(2, announcedAt)
    }

    @Test
    fun floatOverloadMatchesDouble() {
        val f = floatArrayOf(0.01f, 0.97f, 0.01f, 0.01f)
        val a = Decider(labels)
        val b = Decider(labels)
        for (i in 0 until 6) {
            val ea = a.update(f, i * 0.1)
            val eb = b.update(DoubleArray(4) { f[it].toDouble() }, i * 0.1)
            assertEquals(ea, eb)
        }
        assertEquals("10", a.lastAnnounced)
    }

    @Test
    fun inputIsNotMutated() {
        val p = n10.copyOf()
        val d = Decider(labels)
        d.update(p, 0.0)
        d.update(bgFrame, 0.1)
        d.update(p, 0.2)
        assertTrue(p.contentEquals(n10))
    }

    @Test
    fun wrongLengthIsAClearError() {
        val d = Decider(labels)
        expectIae("expected 4 probabilities") { d.update(doubleArrayOf(0.5, 0.5), 0.0) }
        expectIae("got 5") { d.update(DoubleArray(5), 0.0) }
        expectIae("got 3") { d.update(FloatArray(3), 0.0) }
    }

    @Test
    fun badValuesAreErrors() {
        val d = Decider(labels)
        expectIae("NaN") { d.update(doubleArrayOf(0.1, Double.NaN, 0.1, 0.1), 0.0) }
        expectIae("Infinity") { d.update(doubleArrayOf(0.1, 0.1, Double.POSITIVE_INFINITY, 0.1), 0.0) }
        expectIae("finite") { d.update(bgFrame, Double.NaN) }
        d.update(bgFrame, 1.0)
        d.update(bgFrame, 1.0)
        expectIae("backwards") { d.update(bgFrame, 0.5) }
    }

    @Test
    fun constructorAndConfigValidation() {
        expectIae("not one of the labels") { Decider(listOf("10", "20")) }
        Decider(listOf("10", "20"), null)
        expectIae("unique") { Decider(listOf("background", "10", "10")) }
        expectIae("empty") { Decider(emptyList()) }
        expectIae("threshold") { DecisionConfig(threshold = 0.0) }
        expectIae("threshold") { DecisionConfig(threshold = 1.5) }
        expectIae("smoothing") { DecisionConfig(smoothing = "median") }
        expectIae("emaAlpha") { DecisionConfig(emaAlpha = 0.0) }
        expectIae("window") { DecisionConfig(window = 0) }
        expectIae("stableFrames") { DecisionConfig(stableFrames = 0) }
        expectIae("leaveFrames") { DecisionConfig(leaveFrames = 0) }
        expectIae("cooldownS") { DecisionConfig(cooldownS = -1.0) }
        expectIae("hintAfterS") { DecisionConfig(hintAfterS = Double.NaN) }
    }

    @Test
    fun updateIsFast() {
        val eight = listOf("background", "a", "b", "c", "d", "e", "f", "g")
        val rnd = java.util.Random(0)
        val frames = Array(4096) {
            val p = DoubleArray(8) { rnd.nextDouble() }
            val sum = p.sum()
            for (j in 0 until 8) p[j] /= sum
            p
        }
        for (smoothing in listOf("ema", "vote")) {
            val d = Decider(eight, "background", DecisionConfig(smoothing = smoothing, hintAfterS = 1.0))
            var best = Long.MAX_VALUE
            for (rep in 0 until 20) {  // warm up the JIT, keep the best pass
                d.reset()
                val start = System.nanoTime()
                for (i in frames.indices) d.update(frames[i], i * 0.05)
                best = Math.min(best, System.nanoTime() - start)
            }
            val perUpdateUs = best / 1000.0 / frames.size
            assertTrue("$smoothing: $perUpdateUs us per update", perUpdateUs < 5.0)
        }
    }
}
