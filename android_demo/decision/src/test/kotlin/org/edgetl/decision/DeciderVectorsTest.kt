package org.edgetl.decision

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** Every case of the language-neutral tests/vectors/decision.json (also checked by tests/test_decide.py). */
class DeciderVectorsTest {
    private val cases: List<VectorCase> by lazy { VectorCase.load(VectorCase.defaultPath()) }

    @Test
    fun vectorFileLoads() {
        assertTrue("expected at least 15 cases, got ${cases.size}", cases.size >= 15)
        for (c in cases) {
            assertEquals(c.name, c.times.size, c.probs.size)
            for (p in c.probs) assertEquals(c.name, c.labels.size, p.size)
        }
    }

    @Test
    fun everyVectorProducesTheExpectedEvents() {
        val failures = ArrayList<String>()
        for (c in cases) {
            val got = c.run().map { Triple(it.second.kind, it.second.label, it.first) }
            if (got != c.expected) failures.add("${c.name}: expected ${c.expected}, got $got")
        }
        if (failures.isNotEmpty()) fail("${failures.size} of ${cases.size} vectors failed:\n" + failures.joinToString("\n"))
    }

    @Test
    fun eventFieldsAreConsistent() {
        for (c in cases) {
            for ((frame, e) in c.run()) {
                assertEquals(c.name, c.times[frame], e.t, 0.0)
                if (e.kind == KIND_ANNOUNCE) {
                    assertTrue(c.name, e.confidence >= c.config.threshold)
                    assertTrue(c.name, e.label != c.background)
                } else {
                    assertEquals(c.name, HINT_HOLD_STEADY, e.label)
                }
            }
        }
    }
}
