package org.edgetl.demo

import org.edgetl.decision.SetupException
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The Android-free rules behind issue 16's fixes: each would fail with the old code. */
class AppRulesTest {
    private val gpu = Attempt(Backend.GPU, Assets.MODEL_FP16, Assets.CARD_FP16)
    private val nnapi = Attempt(Backend.NNAPI, Assets.MODEL_INT8, Assets.CARD_INT8)
    private val cpu = Attempt(Backend.CPU, Assets.MODEL_INT8, Assets.CARD_INT8)

    // ------------------------------------------------------------------ threshold setting (item 7)

    @Test
    fun everySliderPercentReadsBackUnchanged() {
        for (percent in ThresholdSetting.MIN_PERCENT..ThresholdSetting.MAX_PERCENT) {
            val threshold = ThresholdSetting.thresholdOf(percent)
            assertEquals(percent, ThresholdSetting.percentOf(threshold))
            assertEquals(percent, ThresholdSetting.percentAt(ThresholdSetting.progressOf(percent)))
            // a Float saved by the old app reopens at the same percent, not one lower
            assertEquals(percent, ThresholdSetting.percentOfLegacy(threshold.toFloat()))
        }
        assertEquals(49, ThresholdSetting.MAX_PROGRESS)
    }

    @Test
    fun theOldFloatAndTruncationRoundTripDrifted() {
        // What the app did before: store (p / 100.0).toFloat(), show ((f - 0.5) * 100).toInt() + 50.
        val drifted = (50..99).count { p -> (((p / 100.0).toFloat().toDouble() - 0.5) * 100).toInt() + 50 != p }
        assertTrue("the old round trip should lose a percent on some values, lost $drifted", drifted > 0)
    }

    @Test
    fun outOfRangeThresholdsClampToTheSlider() {
        assertEquals(50, ThresholdSetting.percentOf(0.3))
        assertEquals(99, ThresholdSetting.percentOf(1.0))
        assertEquals(80, ThresholdSetting.percentOf(0.8))
        assertEquals(0, ThresholdSetting.progressOf(10))
        assertEquals(99, ThresholdSetting.percentAt(500))
    }

    // ------------------------------------------------------------------ delegate plan (items 9, 10)

    @Test
    fun automaticUsesNnapiOnlyOnAndroid11To14() {
        for (api in 24..40) {
            val expected = when {
                api in 30..34 -> listOf(nnapi, cpu)
                else -> listOf(cpu)
            }
            assertEquals("API $api", expected, DelegatePlan.plan(DelegateChoice.AUTO, false, api, true, true))
            // a GPU the compatibility list approves comes first on every version
            assertEquals("API $api", listOf(gpu, cpu), DelegatePlan.plan(DelegateChoice.AUTO, true, api, true, true))
        }
        // Android 15+ (NNAPI deprecated): XNNPACK, unless the user forces NNAPI
        assertEquals(listOf(cpu), DelegatePlan.plan(DelegateChoice.AUTO, false, 35, true, true))
        assertEquals(listOf(nnapi, cpu), DelegatePlan.plan(DelegateChoice.NNAPI, false, 36, true, true))
    }

    @Test
    fun forcedChoicesAndMissingModels() {
        assertEquals(listOf(gpu, cpu), DelegatePlan.plan(DelegateChoice.GPU, false, 24, true, true))
        assertEquals(listOf(nnapi, cpu), DelegatePlan.plan(DelegateChoice.NNAPI, true, 27, true, true))
        assertEquals(listOf(cpu), DelegatePlan.plan(DelegateChoice.NNAPI, true, 26, true, true))
        assertEquals(listOf(cpu), DelegatePlan.plan(DelegateChoice.CPU, true, 34, true, true))
        assertEquals(
            listOf(Attempt(Backend.GPU, Assets.MODEL_INT8, Assets.CARD_INT8), cpu),
            DelegatePlan.plan(DelegateChoice.AUTO, true, 34, true, false)
        )
        assertEquals(
            listOf(Attempt(Backend.CPU, Assets.MODEL_FP16, Assets.CARD_FP16)),
            DelegatePlan.plan(DelegateChoice.CPU, true, 34, false, true)
        )
        assertEquals(DelegateChoice.NNAPI, DelegateChoice.fromPref("NNAPI"))
        assertEquals(DelegateChoice.AUTO, DelegateChoice.fromPref(null))
        assertEquals(DelegateChoice.AUTO, DelegateChoice.fromPref("TPU"))
    }

    @Test
    fun aFreshCloneWithoutAModelSaysSoInOneSentence() {
        try {
            DelegatePlan.plan(DelegateChoice.AUTO, true, 34, false, false)
            fail("no models accepted")
        } catch (e: NoModelException) {
            assertTrue(e.message!!.contains("edgetl export"))
        }
    }

    @Test
    fun aMissingNativeLibraryFallsBackInsteadOfCrashing() {
        val tried = ArrayList<Backend>()
        val opened = DelegatePlan.firstThatOpens(listOf(gpu, cpu)) { a ->
            tried.add(a.backend)
            if (a.backend == Backend.GPU) throw UnsatisfiedLinkError("dlopen failed: libtensorflowlite_gpu_jni.so not found")
            "interpreter on ${a.backend}"
        }
        assertEquals(listOf(Backend.GPU, Backend.CPU), tried)
        assertEquals("interpreter on CPU", opened.value)
        assertSame(cpu, opened.attempt)
        assertTrue(opened.fallbackReason!!, opened.fallbackReason.startsWith("GPU: dlopen failed"))
        // the class initialiser of a delegate failing counts too, and so does an ordinary exception
        val again = DelegatePlan.firstThatOpens(listOf(nnapi, cpu)) { a ->
            if (a.backend == Backend.NNAPI) throw ExceptionInInitializerError("no NNAPI") else 7
        }
        assertEquals(7, again.value)
        val plain = DelegatePlan.firstThatOpens(listOf(gpu, cpu)) { a ->
            if (a.backend == Backend.GPU) throw IllegalArgumentException("Internal error: Failed to apply delegate") else 1
        }
        assertEquals("GPU: Internal error: Failed to apply delegate", plain.fallbackReason)
        assertNull(DelegatePlan.firstThatOpens(listOf(cpu)) { 1 }.fallbackReason)
    }

    @Test
    fun aBadCardOrNoWorkingBackendEndsTheSearch() {
        var calls = 0
        try {
            DelegatePlan.firstThatOpens(listOf(gpu, cpu)) { calls += 1; throw ModelCardException("model_fp16.tflite does not match its card") }
            fail("a model that does not match its card must not be retried on another backend")
        } catch (e: ModelCardException) {
            assertEquals(1, calls)
        }
        try {
            DelegatePlan.firstThatOpens(listOf(gpu, cpu)) { a -> throw IllegalStateException("broken on ${a.backend}") }
            fail("nothing opened")
        } catch (e: IllegalStateException) {
            assertTrue(e.message!!, e.message!!.contains("CPU: broken on CPU"))
        }
    }

    @Test
    fun failingFramesAreReportedOnceThenMovedToTheCpu() {
        val f = FrameFailures()
        assertEquals(FrameFailures.Action.NONE, f.failure(Backend.GPU))
        f.success() // one bad frame among good ones: nothing to say
        assertEquals(FrameFailures.Action.NONE, f.failure(Backend.GPU))
        assertEquals(FrameFailures.Action.NONE, f.failure(Backend.GPU))
        assertEquals(FrameFailures.Action.REOPEN_ON_CPU, f.failure(Backend.GPU))
        assertEquals(FrameFailures.Action.NONE, f.failure(Backend.GPU)) // said once, not every frame
        f.success()
        repeat(FrameFailures.LIMIT - 1) { assertEquals(FrameFailures.Action.NONE, f.failure(Backend.CPU)) }
        assertEquals(FrameFailures.Action.GIVE_UP, f.failure(Backend.CPU))
    }

    // ------------------------------------------------------------------ card rules (item 8)

    @Test
    fun cardThresholdsFollowThePi() {
        val base = CardAndPhrasesTest().int8Card
        fun card(thr: String) = ModelCard.parse(base.replace("\"announce_threshold\": 0.91", "\"announce_threshold\": $thr"))
        assertEquals(0.5, DecisionSetup.setup(card("0.3"), null).threshold, 0.0) // raised, as the Pi does
        assertEquals(0.8, DecisionSetup.setup(card("0"), null).threshold, 0.0) // 0 = not calibrated; was refused
        assertEquals(0.3, DecisionSetup.setup(card("0.9"), 0.3).threshold, 0.0) // the user's own value is kept
        try {
            DecisionSetup.setup(card("1.5"), null)
            fail("1.5 is no probability")
        } catch (e: SetupException) {
            assertEquals("card_threshold", e.field)
        }
        // the hint is off unless the user turns it on
        assertEquals(0.0, DecisionSetup.setup(card("0.9"), null).hintAfterS, 0.0)
        assertEquals(DecisionSetup.HINT_AFTER_S, DecisionSetup.setup(card("0.9"), null, hint = true).hintAfterS, 0.0)
        assertEquals(0.0, DecisionSetup.decider(card("0.9"), null).config.hintAfterS, 0.0)
    }

    // ------------------------------------------------------------------ speech and locales (items 4, 11)

    @Test
    fun waitingForTalkBackGrowsWithTheTextWithinBounds() {
        assertEquals(SpeechTiming.MIN_MS, SpeechTiming.waitMs("OK"))
        val sentence = "Camera permission is off. The app settings open when I stop speaking: choose Permissions, then Camera, then Allow."
        val wait = SpeechTiming.waitMs(sentence)
        assertTrue("$wait ms", wait > SpeechTiming.MIN_MS && wait < SpeechTiming.MAX_MS)
        assertTrue(wait >= sentence.length * 1000L / 15) // slower than 15 characters a second
        assertEquals(SpeechTiming.MAX_MS, SpeechTiming.waitMs("x".repeat(10_000)))
    }

    @Test
    fun localesComeFromLanguageTags() {
        assertEquals("hi-IN", Languages.localeFor(Languages.HI).toLanguageTag())
        assertEquals("en-IN", Languages.localeFor(Languages.EN).toLanguageTag())
        assertEquals("en-IN", Languages.localeFor("fr").toLanguageTag())
        assertEquals("en", Languages.FALLBACK.language)
    }
}
