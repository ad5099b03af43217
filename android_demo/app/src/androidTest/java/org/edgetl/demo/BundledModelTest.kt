package org.edgetl.demo

import android.content.res.Configuration
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.edgetl.decision.KIND_ANNOUNCE
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Assume.assumeFalse
import org.junit.Assume.assumeTrue
import org.junit.Test
import org.junit.runner.RunWith
import java.util.Locale

/**
 * The model exported into the app (`edgetl export RUN --int8 --fp16 --android
 * android_demo/app/src/main/assets`) on this phone: one test picture per class, from
 * app/src/androidTest/assets/test_images/<label>/ (see the README), must get its label, and the
 * announce decision must follow the card's threshold. Skipped in a build without a model, where
 * the app instead says "No model in this build" (checked below).
 */
@RunWith(AndroidJUnit4::class)
class BundledModelTest {
    private val app = InstrumentationRegistry.getInstrumentation().targetContext
    private val testAssets = InstrumentationRegistry.getInstrumentation().context.assets

    private fun appHasModel(): Boolean {
        val names = app.assets.list("")?.toSet() ?: emptySet()
        return Assets.MODEL_INT8 in names || Assets.MODEL_FP16 in names
    }

    @Test
    fun eachBundledTestImageGetsItsLabelAndTheRightDecision() {
        assumeTrue("no model in this build: export one into app/src/main/assets first", appHasModel())
        val c = NoteClassifier.open(app, DelegateChoice.AUTO)
        try {
            val labels = testAssets.list(TEST_IMAGES)?.toList() ?: emptyList()
            if (labels.isEmpty()) {
                fail("no test pictures: put one held-out photo per class in app/src/androidTest/assets/$TEST_IMAGES/<label>/")
            }
            val setup = DecisionSetup.setup(c.card, null)
            for (label in labels) {
                assertTrue("$TEST_IMAGES/$label is not one of the model's labels ${c.card.labels}", label in c.card.labels)
                for (file in testAssets.list("$TEST_IMAGES/$label") ?: emptyArray()) {
                    val frame = testAssets.open("$TEST_IMAGES/$label/$file").use { RgbaFrame.decode(it) }
                    val probs = c.classify(frame).copyOf()
                    assertEquals("$label/$file on ${c.backend}", label, topLabel(c.card.labels, probs))
                    // the same view held for a second: spoken iff it is a note seen confidently enough
                    val decider = DecisionSetup.decider(c.card, null)
                    val said = (0 until 30).mapNotNull { i -> decider.update(probs, i / 30.0) }
                    val confident = probs[c.card.labels.indexOf(label)] >= setup.threshold
                    if (label != setup.background && confident) {
                        assertEquals(listOf("$KIND_ANNOUNCE $label"), said.map { "${it.kind} ${it.label}" })
                    } else {
                        assertTrue("$label/$file: ${said.map { it.label }}", said.none { it.kind == KIND_ANNOUNCE })
                    }
                }
            }
        } finally {
            c.close()
        }
    }

    @Test
    fun aBuildWithoutAModelSaysSoInOneSentence() {
        assumeFalse("this build has a model", appHasModel())
        try {
            NoteClassifier.open(app, DelegateChoice.AUTO).close()
            fail("opened a model that is not there")
        } catch (e: NoModelException) {
            // what MainActivity then says and shows, in English whatever the phone's language
            val conf = Configuration(app.resources.configuration)
            conf.setLocale(Locale.ENGLISH)
            val text = app.createConfigurationContext(conf).getString(R.string.no_model)
            assertTrue(text, text.startsWith("No model in this build:"))
        }
    }

    private companion object {
        const val TEST_IMAGES = "test_images"
    }
}
