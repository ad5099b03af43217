package org.edgetl.decision

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** One case of tests/vectors/decision_setup.json (also run by tests/test_decision_setup.py). */
class SetupCase(
    val name: String,
    val labels: List<String>,
    val cardBackground: String?,
    val cardThreshold: Double?,
    val userThreshold: Double?,
    val userHintAfterS: Double?,
    /** "threshold|source|background|hint" of the expected Setup, or "error:FIELD". */
    val expected: String
) {
    /** The same one-line form of what [SetupRules] returns for this case. */
    fun actual(): String = try {
        describe(SetupRules.resolve(labels, cardBackground, cardThreshold, userThreshold, userHintAfterS))
    } catch (e: SetupException) {
        "error:${e.field}"
    }

    companion object {
        fun describe(s: Setup): String = "${s.threshold}|${s.thresholdSource}|${s.background}|${s.hintAfterS}"

        private fun num(v: Any?): Double? = (v as Double?)

        @Suppress("UNCHECKED_CAST")
        fun load(path: String): List<SetupCase> {
            val root = MiniJson.parse(java.io.File(path).readText(Charsets.UTF_8)) as List<Any?>
            return root.map { item ->
                val o = item as Map<String, Any?>
                val card = o["card"] as Map<String, Any?>?
                val user = o["user"] as Map<String, Any?>
                val exp = o["expected"] as Map<String, Any?>
                val expected = if (exp.containsKey("error")) "error:${exp["error"]}" else
                    "${num(exp["threshold"])}|${exp["threshold_source"]}|${exp["background"]}|${num(exp["hint_after_s"])}"
                SetupCase(
                    name = o["name"] as String,
                    labels = (o["labels"] as List<Any?>).map { it as String },
                    cardBackground = card?.get("background_label") as String?,
                    cardThreshold = num(card?.get("announce_threshold")),
                    userThreshold = num(user["threshold"]),
                    userHintAfterS = num(user["hint_after_s"]),
                    expected = expected
                )
            }
        }

        fun defaultPath(): String {
            val prop = System.getProperty("edgetl.setup_vectors")
            if (prop != null && prop.isNotEmpty()) return prop
            var dir: java.io.File? = java.io.File(System.getProperty("user.dir")).absoluteFile
            while (dir != null) {
                val f = java.io.File(dir, "tests/vectors/decision_setup.json")
                if (f.isFile) return f.path
                dir = dir.parentFile
            }
            throw IllegalStateException("tests/vectors/decision_setup.json not found; pass -Dedgetl.setup_vectors=PATH")
        }
    }
}

class SetupVectorsTest {
    private val cases: List<SetupCase> by lazy { SetupCase.load(SetupCase.defaultPath()) }

    @Test
    fun everySharedCaseGivesTheExpectedSetup() {
        assertTrue("expected at least 20 cases, got ${cases.size}", cases.size >= 20)
        val failures = cases.filter { it.actual() != it.expected }.map { "${it.name}: expected ${it.expected}, got ${it.actual()}" }
        if (failures.isNotEmpty()) fail("${failures.size} of ${cases.size} setup cases failed:\n" + failures.joinToString("\n"))
    }

    @Test
    fun theCasesCoverEveryOutcome() {
        val outcomes = cases.map { it.expected }
        for (source in listOf("|user|", "|card|", "|card_raised|", "|default|")) {
            assertTrue(source, outcomes.any { source in it })
        }
        for (field in listOf("error:threshold", "error:card_threshold", "error:hint_after_s")) {
            assertTrue(field, field in outcomes)
        }
    }

    @Test
    fun aSetupMakesAWorkingDecider() {
        val s = SetupRules.resolve(listOf("10", "background"), "background", 0.3)
        assertEquals(0.5, s.threshold, 0.0)
        val d = Decider(listOf("10", "background"), s.background, DecisionConfig(threshold = s.threshold, hintAfterS = s.hintAfterS))
        var spoken: Event? = null
        for (i in 0 until 5) spoken = spoken ?: d.update(floatArrayOf(0.6f, 0.4f), i * 0.1)
        assertEquals("10", spoken?.label)
    }
}

/**
 * Cross-check helper: `DumpSetup IN OUT` writes one JSON line per case of IN with what
 * SetupRules returns: {"name": ..., "result": {...}} or {"name": ..., "error": FIELD}; doubles
 * as raw IEEE-754 bits so tests/test_kotlin_decide.py can demand exact agreement.
 */
object DumpSetup {
    private fun q(s: String?): String = if (s == null) "null" else "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""

    @JvmStatic
    fun main(args: Array<String>) {
        require(args.size == 2) { "usage: DumpSetup IN OUT" }
        val sb = StringBuilder()
        val cases = SetupCase.load(args[0])
        for (c in cases) {
            sb.append("{\"name\": ").append(q(c.name)).append(", ")
            try {
                val s = SetupRules.resolve(c.labels, c.cardBackground, c.cardThreshold, c.userThreshold, c.userHintAfterS)
                sb.append("\"result\": {\"threshold\": ").append(java.lang.Double.doubleToRawLongBits(s.threshold))
                    .append(", \"threshold_source\": ").append(q(s.thresholdSource))
                    .append(", \"background\": ").append(q(s.background))
                    .append(", \"hint_after_s\": ").append(java.lang.Double.doubleToRawLongBits(s.hintAfterS)).append("}}\n")
            } catch (e: SetupException) {
                sb.append("\"error\": ").append(q(e.field)).append("}\n")
            }
        }
        java.io.File(args[1]).writeText(sb.toString(), Charsets.UTF_8)
        println("DumpSetup: ${cases.size} cases from ${args[0]} -> ${args[1]}")
    }
}
