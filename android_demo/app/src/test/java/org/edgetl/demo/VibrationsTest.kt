package org.edgetl.demo

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class VibrationsTest {
    private val L = Vibrations.LONG_MS
    private val S = Vibrations.SHORT_MS
    private val G = Vibrations.GAP_MS

    @Test
    fun patternsFollowTheDocumentedCode() {
        assertArrayEquals(longArrayOf(0, S), Vibrations.patternForRank(0))
        assertArrayEquals(longArrayOf(0, S, G, S), Vibrations.patternForRank(1))
        assertArrayEquals(longArrayOf(0, S, G, S, G, S), Vibrations.patternForRank(2))
        assertArrayEquals(longArrayOf(0, L, G, S), Vibrations.patternForRank(3))
        assertArrayEquals(longArrayOf(0, L, G, S, G, S, G, S), Vibrations.patternForRank(5))
        assertArrayEquals(longArrayOf(0, L, G, L, G, S), Vibrations.patternForRank(6))
    }

    @Test
    fun everyRankIsDistinctAndStartsAtOnce() {
        val seen = HashSet<List<Long>>()
        for (r in 0 until 12) {
            val p = Vibrations.patternForRank(r)
            assertEquals(0L, p[0])
            assertEquals(0, p.size % 2) // delay, on, (off, on)*
            assertTrue("rank $r repeats another", seen.add(p.toList()))
        }
    }

    @Test
    fun notesAreRankedByFaceValueAndBackgroundIsSilent() {
        val labels = listOf("10", "100", "20", "200", "2000", "50", "500", "background")
        assertEquals(listOf("10", "20", "50", "100", "200", "500", "2000"), Vibrations.ranked(labels, "background"))
        val map = Vibrations.forLabels(labels, "background")
        assertFalse(map.containsKey("background"))
        assertArrayEquals(Vibrations.patternForRank(0), map["10"])
        assertArrayEquals(Vibrations.patternForRank(5), map["500"])
        assertArrayEquals(Vibrations.patternForRank(6), map["2000"])
        // words after numbers, in card order; prefixes do not matter
        assertEquals(listOf("inr_5", "coin", "other"), Vibrations.ranked(listOf("coin", "inr_5", "other"), null))
        assertEquals(2 * S + G, Vibrations.durationMs(map["20"]!!))
    }
}
