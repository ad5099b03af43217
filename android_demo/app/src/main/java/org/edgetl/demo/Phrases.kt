package org.edgetl.demo

// PURE: no Android imports (org.json only; see ModelCard.kt).

import org.json.JSONException
import org.json.JSONObject

/**
 * Phrase templates for one language, read from the exported phrases.json. Mirrors
 * edgetl/runtime/speech.py (Phrases.phrase_for / spoken_label) so the phone says what the
 * Raspberry Pi says: "500 rupees", "पाँच सौ रुपये".
 */
class Phrases(
    val lang: String,
    private val table: Map<String, String>,
    private val labels: Map<String, String>,
    private val labelPhrases: Map<String, String>,
    val available: List<String>
) {
    /** What to say for a predicted class. */
    fun phraseFor(label: String): String {
        labelPhrases[label]?.let { return it }
        val template = table["announce"] ?: "{label}"
        return template.replace("{label}", spokenLabel(label))
    }

    /** "500" -> "पाँच सौ" when the language has a word for it; "inr_500" -> the "500" entry. */
    fun spokenLabel(label: String): String {
        for (candidate in listOf(label, label.trim(), asciiLower(label.trim()))) {
            labels[candidate]?.let { return it }
        }
        val numbers = DIGITS.findAll(label).map { it.value }.toList()
        if (numbers.size == 1) labels[numbers[0]]?.let { return it }
        val spaced = SEPARATORS.replace(label, " ").trim()
        return if (spaced.length == 0) label else spaced
    }

    /** A fixed phrase such as "hold_steady" or "repeat_none", or [default] when absent. */
    fun text(key: String, default: String): String = table[key] ?: default

    companion object {
        const val FALLBACK_LANG = "en"
        private val DIGITS = Regex("\\d+")
        private val SEPARATORS = Regex("[_\\-]+")
        private val MERGED = listOf("labels", "label_phrases")

        /**
         * The table for [lang] ("en", "hi", "hi-IN", ...). English fills keys another language
         * omits, except the per-label dictionaries; throws [ModelCardException] for bad files and
         * IllegalArgumentException when the language is not in the file.
         */
        fun parse(text: String, lang: String): Phrases {
            val root = try {
                JSONObject(text)
            } catch (e: JSONException) {
                throw ModelCardException("phrases.json is not valid JSON (${e.message})")
            }
            val available = ArrayList<String>()
            val keys = root.keys()
            while (keys.hasNext()) available.add(keys.next())
            available.sort()
            val chosen = resolve(lang, available)
                ?: throw IllegalArgumentException("no phrases for language \"$lang\" (have $available)")

            val table = HashMap<String, String>()
            if (root.has(FALLBACK_LANG)) readStrings(root.getJSONObject(FALLBACK_LANG), table)
            val mine = root.optJSONObject(chosen) ?: throw ModelCardException("phrases.json: \"$chosen\" must be an object")
            readStrings(mine, table)
            if (!mine.has("announce")) {
                throw ModelCardException("phrases.json: language \"$chosen\" needs an \"announce\" template such as \"{label} rupees\"")
            }
            // Per-label words are never borrowed from English (same rule as speech.py).
            val labels = readMap(mine, "labels")
            val labelPhrases = readMap(mine, "label_phrases")
            if (!table.containsKey("voice")) table["voice"] = chosen
            return Phrases(chosen, table, labels, labelPhrases, available)
        }

        private fun readStrings(o: JSONObject, into: MutableMap<String, String>) {
            val keys = o.keys()
            while (keys.hasNext()) {
                val k = keys.next()
                if (k in MERGED) continue
                val v = o.get(k)
                if (v !is String) throw ModelCardException("phrases.json: \"$k\" must be text")
                into[k] = v
            }
        }

        private fun readMap(o: JSONObject, key: String): Map<String, String> {
            val out = HashMap<String, String>()
            val m = o.optJSONObject(key) ?: return out
            val keys = m.keys()
            while (keys.hasNext()) {
                val k = keys.next()
                out[k] = m.getString(k)
            }
            return out
        }

        /** Same matching as speech.py: exact, case-insensitive, then the part before "-" or "_". */
        fun resolve(lang: String, available: List<String>): String? {
            val l = lang.trim().ifEmpty { FALLBACK_LANG }
            val lowered = HashMap<String, String>()
            for (a in available) lowered[asciiLower(a)] = a
            val base = asciiLower(l.split('-', '_')[0])
            for (candidate in listOf(l, asciiLower(l), base)) {
                if (candidate in available) return candidate
                lowered[candidate]?.let { return it }
            }
            return null
        }

        /** Locale-independent lower case (kept off String.lowercase so Kotlin 1.3 compiles it). */
        fun asciiLower(s: String): String {
            val chars = s.toCharArray()
            for (i in chars.indices) chars[i] = Character.toLowerCase(chars[i])
            return String(chars)
        }
    }
}
