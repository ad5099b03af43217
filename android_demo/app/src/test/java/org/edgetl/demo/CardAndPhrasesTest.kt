package org.edgetl.demo

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.ByteArrayInputStream
import java.io.File

class CardAndPhrasesTest {
    val int8Card = """
        {"format": "edgetl-card/1", "name": "notes", "model_file": "model_int8.tflite",
         "labels": ["background", "10", "500"], "input_size": 224, "input_dtype": "uint8",
         "quantization": "int8", "sha256": "ab12", "size_bytes": 4,
         "background_label": "background", "normalization": {"mean": 127.5, "std": 127.5},
         "input_quantization": {"scale": 0.0078125, "zero_point": 128}, "output_dtype": "uint8",
         "output_quantization": {"scale": 0.00390625, "zero_point": 0}, "crop": "center",
         "announce_threshold": 0.91, "accuracy": {"top1": 0.97}, "future_field": [1, 2]}
    """.trimIndent()

    private fun expectCardError(text: String, fragment: String) {
        try {
            ModelCard.parse(text, "card.json")
            fail("accepted: $text")
        } catch (e: ModelCardException) {
            assertTrue("'${e.message}' should mention '$fragment'", e.message!!.contains(fragment))
        }
    }

    @Test
    fun parsesAnInt8Card() {
        val c = ModelCard.parse(int8Card)
        assertEquals(listOf("background", "10", "500"), c.labels)
        assertEquals(224, c.inputSize)
        assertEquals(InputKind.UINT8, InputKind.of(c))
        assertEquals(Quantization(0.0078125f, 128), c.inputQuantization)
        assertEquals(Quantization(0.00390625f, 0), c.outputQuantization)
        assertEquals(0.91, c.announceThreshold!!, 0.0)
        assertEquals(0, c.backgroundIndex)
        assertEquals("background", c.deciderBackground)
        assertEquals(listOf(127.5f, 127.5f, 127.5f), c.mean)
    }

    @Test
    fun nullsAndPerChannelNormalisation() {
        val c = ModelCard.parse(
            """{"format": "edgetl-card/1", "name": "f", "model_file": "model_fp16.tflite", "labels": ["a", "b"],
                "input_size": 96, "input_dtype": "float32", "quantization": "fp16", "sha256": "", "size_bytes": 1,
                "background_label": null, "normalization": {"mean": [1, 2, 3], "std": [4, 5, 6]},
                "input_quantization": null, "output_dtype": "float32", "output_quantization": null,
                "announce_threshold": null}"""
        )
        assertNull(c.announceThreshold)
        assertNull(c.deciderBackground)
        assertEquals(-1, c.backgroundIndex)
        assertEquals(listOf(1f, 2f, 3f), c.mean)
        assertEquals(listOf(4f, 5f, 6f), c.std)
        assertEquals("center", c.crop)
        // background_label naming a class the model lacks: the label named "background" (as on the Pi)
        val d = ModelCard.parse(int8Card.replace("\"background_label\": \"background\"", "\"background_label\": \"none\""))
        assertEquals("background", d.deciderBackground)
    }

    @Test
    fun badCardsFailWithAReason() {
        expectCardError("{", "not valid JSON")
        expectCardError(int8Card.replace("edgetl-card/1", "edgetl-card/2"), "not an edgetl model card")
        expectCardError(int8Card.replace("\"input_dtype\": \"uint8\"", "\"input_dtype\": \"int16\""), "input_dtype")
        expectCardError(int8Card.replace("\"crop\": \"center\"", "\"crop\": \"roi\""), "crop")
        expectCardError(int8Card.replace("\"10\", \"500\"", "\"10\", \"10\""), "duplicate")
        expectCardError(
            int8Card.replace("\"output_quantization\": {\"scale\": 0.00390625, \"zero_point\": 0}", "\"output_quantization\": null"),
            "output_quantization"
        )
        expectCardError(int8Card.replace("\"input_size\": 224, ", ""), "input_size")
    }

    @Test
    fun verifyChecksSizeAndDigest() {
        val bytes = "abcd".toByteArray()
        val (len, hex) = ModelCard.digest(ByteArrayInputStream(bytes))
        assertEquals(4L, len)
        assertEquals("88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589", hex)
        val card = ModelCard.parse(int8Card.replace("\"ab12\"", "\"${hex.map { Character.toUpperCase(it) }.joinToString("")}\""))
        card.verify(len, hex)
        try {
            card.verify(5, hex)
            fail("wrong size accepted")
        } catch (e: ModelCardException) {
            assertTrue(e.message!!.contains("re-export"))
        }
        try {
            ModelCard.parse(int8Card).verify(len, hex)
            fail("wrong digest accepted")
        } catch (e: ModelCardException) {
            assertTrue(e.message!!.contains("does not match"))
        }
    }

    private val repoPhrases: String
        get() = File(System.getProperty("edgetl.phrases") ?: "../../edgetl/runtime/phrases.json").readText()

    @Test
    fun phrasesMatchThePythonRules() {
        val en = Phrases.parse(repoPhrases, "en")
        assertEquals("500 rupees", en.phraseFor("500"))
        assertEquals("inr 500 rupees", en.phraseFor("inr_500"))
        assertEquals("Hold the note steady", en.text("hold_steady", "?"))
        val hi = Phrases.parse(repoPhrases, "hi-IN")
        assertEquals("hi", hi.lang)
        assertEquals("पाँच सौ रुपये", hi.phraseFor("500"))
        assertEquals("दो हज़ार रुपये", hi.phraseFor("inr_2000"))
        assertEquals("नोट को स्थिर रखें", hi.text("hold_steady", "?"))
        assertEquals(listOf("en", "hi"), hi.available)
    }

    @Test
    fun phraseOverridesAndFallbacks() {
        val json = """{"en": {"announce": "{label} rupees", "hold_steady": "Hold steady", "labels": {"10": "ten"}},
                       "ta": {"announce": "{label} ரூபாய்", "label_phrases": {"coin": "நாணயம்"}}}"""
        val ta = Phrases.parse(json, "TA")
        assertEquals("ta", ta.lang)
        assertEquals("Hold steady", ta.text("hold_steady", "?")) // borrowed from English
        assertEquals("10 ரூபாய்", ta.phraseFor("10"))           // per-label words are not borrowed
        assertEquals("நாணயம்", ta.phraseFor("coin"))
        assertEquals("ten rupees", Phrases.parse(json, "en").phraseFor("10"))
        try {
            Phrases.parse(json, "fr")
            fail("unknown language accepted")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!.contains("fr"))
        }
        try {
            Phrases.parse("""{"en": {"announce": "{label}"}, "xx": {"hold_steady": "h"}}""", "xx")
            fail("language without announce accepted")
        } catch (e: ModelCardException) {
            assertTrue(e.message!!.contains("announce"))
        }
    }

    @Test
    fun movingAverageAndDecisionSetup() {
        val m = MovingAverage(3)
        assertTrue(m.mean.isNaN())
        m.add(3.0); m.add(6.0)
        assertEquals(4.5, m.mean, 0.0)
        m.add(9.0); m.add(12.0)
        assertEquals(9.0, m.mean, 0.0)

        val card = ModelCard.parse(int8Card)
        assertEquals(0.91, DecisionSetup.setup(card, null).threshold, 0.0)
        assertEquals(0.7, DecisionSetup.setup(card, 0.7).threshold, 0.0)
        val noThr = ModelCard.parse(int8Card.replace("0.91", "null"))
        assertEquals(0.8, DecisionSetup.setup(noThr, null).threshold, 0.0)

        val d = DecisionSetup.decider(card, null)
        assertEquals(card.labels, d.labels)
        assertEquals("background", d.background)
        var said: String? = null
        var t = 0.0
        repeat(6) {
            val e = d.update(floatArrayOf(0.02f, 0.03f, 0.95f), t)
            if (e != null) said = e.label
            t += 0.1
        }
        assertEquals("500", said)
    }
}
