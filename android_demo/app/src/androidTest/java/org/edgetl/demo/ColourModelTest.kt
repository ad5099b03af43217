package org.edgetl.demo

import android.os.Build
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.edgetl.decision.KIND_ANNOUNCE
import org.json.JSONObject
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith

/**
 * The whole phone pipeline on a real LiteRT interpreter, without needing an exported model: this
 * test APK carries the tests' tiny "colour" classifier under the app's asset names (a mostly red
 * picture is the 10, a mostly green one the 20, anything else background) and colour_cases.json,
 * which the Raspberry Pi runtime produced from the same model (tests/vectors/make_android_test_assets.py)
 * and tests/test_android_project.py re-checks. The phone must agree with the Pi.
 */
@RunWith(AndroidJUnit4::class)
class ColourModelTest {
    /** The test APK's own context: its assets are androidTest/assets. */
    private val context = InstrumentationRegistry.getInstrumentation().context
    private val cases = JSONObject(context.assets.open("colour_cases.json").use { it.readBytes().toString(Charsets.UTF_8) })
    private val opened = ArrayList<NoteClassifier>()

    @After
    fun close() = opened.forEach { it.close() }

    private fun colour(name: String): IntArray {
        val a = cases.getJSONObject("colours").getJSONArray(name)
        return intArrayOf(a.getInt(0), a.getInt(1), a.getInt(2))
    }

    private fun open(choice: DelegateChoice): NoteClassifier = NoteClassifier.open(context, choice).also { opened.add(it) }

    @Test
    fun eachColourGetsThePisLabelAtAnyRotationAndStride() {
        val c = open(DelegateChoice.CPU)
        assertEquals(Backend.CPU, c.backend)
        val expected = cases.getJSONObject("top_label")
        for (name in expected.keys()) {
            for (rotation in intArrayOf(0, 90, 180, 270)) {
                val probs = c.classify(RgbaFrame.solid(640, 480, colour(name)), rotation)
                assertEquals("$name at $rotation°", expected.getString(name), topLabel(c.card.labels, probs))
            }
        }
    }

    @Test
    fun theDecisionMatchesThePiFrameForFrame() {
        val c = open(DelegateChoice.CPU)
        val setup = DecisionSetup.setup(c.card, null)
        assertEquals(cases.getDouble("threshold"), setup.threshold, 0.0)
        assertEquals(cases.getString("background"), setup.background)
        val decider = DecisionSetup.decider(c.card, null)
        val script = cases.getJSONArray("script")
        val fps = cases.getDouble("fps")
        val said = ArrayList<String>()
        var frame = 0
        for (i in 0 until script.length()) {
            val step = script.getJSONArray(i)
            val probs = c.classify(RgbaFrame.solid(320, 240, colour(step.getString(0)))).copyOf()
            repeat(step.getInt(1)) {
                decider.update(probs, frame / fps)?.let { said.add("${it.kind} ${it.label} $frame") }
                frame += 1
            }
        }
        val events = cases.getJSONArray("events")
        val expected = (0 until events.length()).map { i ->
            val e = events.getJSONArray(i)
            "${e.getString(0)} ${e.getString(1)} ${e.getInt(2)}"
        }
        assertTrue(expected.isNotEmpty() && expected.all { it.startsWith(KIND_ANNOUNCE) })
        assertEquals(expected, said)
    }

    @Test
    fun aDelegateWhoseNativeLibraryIsMissingFallsBackToTheCpu() {
        val plan = DelegatePlan.plan(DelegateChoice.GPU, false, Build.VERSION.SDK_INT, hasInt8 = true, hasFp16 = false)
        val c = NoteClassifier.openWith(plan) { attempt ->
            if (attempt.backend == Backend.GPU) throw UnsatisfiedLinkError("simulated: libtensorflowlite_gpu_jni.so not found")
            NoteClassifier.openAttempt(context, attempt)
        }.also { opened.add(it) }
        assertEquals(Backend.CPU, c.backend)
        assertTrue(c.fallbackReason!!, c.fallbackReason!!.startsWith("GPU: simulated"))
        assertEquals("10", topLabel(c.card.labels, c.classify(RgbaFrame.solid(64, 48, colour("red")))))
    }

    @Test
    fun forcedAcceleratorsEitherRunOrFallBackNeverCrash() {
        for (choice in listOf(DelegateChoice.GPU, DelegateChoice.NNAPI, DelegateChoice.AUTO)) {
            val c = open(choice)
            if (choice != DelegateChoice.AUTO) {
                // what was tried first on this phone; running anything else must come with a reason
                val first = DelegatePlan.plan(choice, false, Build.VERSION.SDK_INT, hasInt8 = true, hasFp16 = false)[0].backend
                if (c.backend == first) assertNull(c.fallbackReason) else assertNotNull("$choice: no reason given", c.fallbackReason)
            }
            for (name in listOf("red", "green")) {
                val probs = c.classify(RgbaFrame.solid(320, 240, colour(name)))
                assertEquals("$choice on ${c.backend}", cases.getJSONObject("top_label").getString(name), topLabel(c.card.labels, probs))
            }
        }
    }

    @Test
    fun cpuNeedsNoFallback() {
        assertNull(open(DelegateChoice.CPU).fallbackReason)
    }
}
