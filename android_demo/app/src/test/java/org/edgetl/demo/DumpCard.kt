package org.edgetl.demo

import org.json.JSONArray
import org.json.JSONObject
import java.io.File

/**
 * For tests/test_android_project.py: parse a model card and phrases the way the app does and write
 * what the app would use, so Python can compare it with edgetl.card / edgetl.runtime.speech.
 *
 *     DumpCard CARD PHRASES OUT
 */
object DumpCard {
    @JvmStatic
    fun main(args: Array<String>) {
        require(args.size == 3) { "usage: DumpCard CARD PHRASES OUT" }
        val card = ModelCard.parse(File(args[0]).readText(Charsets.UTF_8), args[0])
        val phrasesText = File(args[1]).readText(Charsets.UTF_8)
        val out = JSONObject()
        out.put("name", card.name)
        out.put("model_file", card.modelFile)
        out.put("labels", JSONArray(card.labels))
        out.put("input_size", card.inputSize)
        out.put("input_kind", InputKind.of(card).name)
        out.put("mean", JSONArray(card.mean.map { it.toDouble() }))
        out.put("std", JSONArray(card.std.map { it.toDouble() }))
        out.put("background", card.deciderBackground ?: JSONObject.NULL)
        out.put("threshold", DecisionSetup.setup(card, null).threshold)
        out.put("output_scale", card.outputQuantization?.scale?.toDouble() ?: JSONObject.NULL)
        out.put("output_zero_point", card.outputQuantization?.zeroPoint ?: JSONObject.NULL)
        val phrases = JSONObject()
        for (lang in listOf("en", "hi")) {
            val p = Phrases.parse(phrasesText, lang)
            val m = JSONObject()
            for (label in card.labels) m.put(label, p.phraseFor(label))
            m.put("hold_steady", p.text("hold_steady", ""))
            phrases.put(lang, m)
        }
        out.put("phrases", phrases)
        val vib = JSONObject()
        for ((label, pattern) in Vibrations.forLabels(card.labels, card.deciderBackground)) {
            vib.put(label, JSONArray(pattern.toList()))
        }
        out.put("vibrations", vib)
        File(args[2]).writeText(out.toString(), Charsets.UTF_8)
    }
}
