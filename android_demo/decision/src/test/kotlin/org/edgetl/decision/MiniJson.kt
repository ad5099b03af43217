package org.edgetl.decision

/**
 * A tiny JSON reader for the shared test vectors (no JSON library is available to
 * plain kotlinc). Objects become LinkedHashMap<String, Any?>, arrays ArrayList<Any?>,
 * numbers Double (parsed with java.lang.Double.parseDouble, which rounds correctly,
 * exactly like Python's json module), plus String, Boolean and null.
 */
class MiniJson private constructor(private val src: String) {
    private var pos = 0

    companion object {
        fun parse(text: String): Any? {
            val p = MiniJson(text)
            p.skipWs()
            val v = p.value()
            p.skipWs()
            if (p.pos != p.src.length) p.fail("trailing characters")
            return v
        }
    }

    private fun fail(msg: String): Nothing = throw IllegalArgumentException("JSON: $msg at offset $pos")

    private fun skipWs() {
        while (pos < src.length) {
            val ch = src[pos]
            if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') pos++ else return
        }
    }

    private fun expect(ch: Char) {
        if (pos >= src.length || src[pos] != ch) fail("expected '$ch'")
        pos++
    }

    private fun value(): Any? {
        if (pos >= src.length) fail("unexpected end")
        val ch = src[pos]
        return when {
            ch == '{' -> obj()
            ch == '[' -> arr()
            ch == '"' -> str()
            ch == '-' || (ch in '0'..'9') -> num()
            src.startsWith("true", pos) -> { pos += 4; true }
            src.startsWith("false", pos) -> { pos += 5; false }
            src.startsWith("null", pos) -> { pos += 4; null }
            else -> fail("unexpected '$ch'")
        }
    }

    private fun obj(): Map<String, Any?> {
        expect('{')
        val out = LinkedHashMap<String, Any?>()
        skipWs()
        if (pos < src.length && src[pos] == '}') { pos++; return out }
        while (true) {
            skipWs()
            val key = str()
            skipWs()
            expect(':')
            skipWs()
            out[key] = value()
            skipWs()
            if (pos < src.length && src[pos] == ',') { pos++; continue }
            expect('}')
            return out
        }
    }

    private fun arr(): List<Any?> {
        expect('[')
        val out = ArrayList<Any?>()
        skipWs()
        if (pos < src.length && src[pos] == ']') { pos++; return out }
        while (true) {
            skipWs()
            out.add(value())
            skipWs()
            if (pos < src.length && src[pos] == ',') { pos++; continue }
            expect(']')
            return out
        }
    }

    private fun str(): String {
        expect('"')
        val sb = StringBuilder()
        while (true) {
            if (pos >= src.length) fail("unterminated string")
            val ch = src[pos++]
            when (ch) {
                '"' -> return sb.toString()
                '\\' -> {
                    if (pos >= src.length) fail("bad escape")
                    val e = src[pos++]
                    when (e) {
                        '"' -> sb.append('"')
                        '\\' -> sb.append('\\')
                        '/' -> sb.append('/')
                        'b' -> sb.append('\b')
                        'f' -> sb.append('\u000C')
                        'n' -> sb.append('\n')
                        'r' -> sb.append('\r')
                        't' -> sb.append('\t')
                        'u' -> {
                            if (pos + 4 > src.length) fail("bad \\u escape")
                            sb.append(Integer.parseInt(src.substring(pos, pos + 4), 16).toChar())
                            pos += 4
                        }
                        else -> fail("bad escape '\\$e'")
                    }
                }
                else -> sb.append(ch)
            }
        }
    }

    private fun num(): Double {
        val start = pos
        if (src[pos] == '-') pos++
        while (pos < src.length) {
            val ch = src[pos]
            if ((ch in '0'..'9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-') pos++ else break
        }
        val text = src.substring(start, pos)
        try {
            return java.lang.Double.parseDouble(text)
        } catch (e: NumberFormatException) {
            fail("bad number '$text'")
        }
    }
}

/** One decoded vector case, shared by the JUnit tests and [DumpEvents]. */
class VectorCase(
    val name: String,
    val labels: List<String>,
    val background: String?,
    val config: DecisionConfig,
    val times: DoubleArray,
    val probs: List<DoubleArray>,
    /** (kind, label, frame) triples; empty when the file has no "expected" (e.g. random streams). */
    val expected: List<Triple<String, String, Int>>
) {
    /** Run the case through a fresh Decider: (frame index, event) for every event. */
    fun run(): List<Pair<Int, Event>> {
        val d = Decider(labels, background, config)
        val out = ArrayList<Pair<Int, Event>>()
        for (i in times.indices) {
            val e = d.update(probs[i], times[i])
            if (e != null) out.add(Pair(i, e))
        }
        return out
    }

    companion object {
        fun load(path: String): List<VectorCase> {
            val text = java.io.File(path).readText(Charsets.UTF_8)
            val root = MiniJson.parse(text) as? List<*> ?: throw IllegalArgumentException("$path: top level must be a list")
            return root.map { fromJson(it as Map<*, *>) }
        }

        private fun num(v: Any?): Double = v as? Double ?: throw IllegalArgumentException("expected a number, got $v")

        private fun configFrom(m: Map<*, *>): DecisionConfig {
            val d = DecisionConfig()
            for (key in m.keys) {
                val known = listOf("threshold", "smoothing", "ema_alpha", "window", "stable_frames",
                    "cooldown_s", "leave_frames", "hint_after_s")
                require(key in known) { "unknown config key $key" }
            }
            return DecisionConfig(
                threshold = if (m.containsKey("threshold")) num(m["threshold"]) else d.threshold,
                smoothing = if (m.containsKey("smoothing")) m["smoothing"] as String else d.smoothing,
                emaAlpha = if (m.containsKey("ema_alpha")) num(m["ema_alpha"]) else d.emaAlpha,
                window = if (m.containsKey("window")) num(m["window"]).toInt() else d.window,
                stableFrames = if (m.containsKey("stable_frames")) num(m["stable_frames"]).toInt() else d.stableFrames,
                cooldownS = if (m.containsKey("cooldown_s")) num(m["cooldown_s"]) else d.cooldownS,
                leaveFrames = if (m.containsKey("leave_frames")) num(m["leave_frames"]).toInt() else d.leaveFrames,
                hintAfterS = if (m.containsKey("hint_after_s")) num(m["hint_after_s"]) else d.hintAfterS
            )
        }

        private fun fromJson(m: Map<*, *>): VectorCase {
            val name = m["name"] as String
            val labels = (m["labels"] as List<*>).map { it as String }
            val background = if (m.containsKey("background")) m["background"] as String? else "background"
            val config = configFrom(m["config"] as? Map<*, *> ?: emptyMap<String, Any?>())
            val frames = m["frames"] as List<*>
            val times = DoubleArray(frames.size)
            val probs = ArrayList<DoubleArray>(frames.size)
            for ((i, f) in frames.withIndex()) {
                val fm = f as Map<*, *>
                times[i] = num(fm["t"])
                val pl = fm["probs"] as List<*>
                probs.add(DoubleArray(pl.size) { j -> num(pl[j]) })
            }
            val expected = (m["expected"] as? List<*> ?: emptyList<Any?>()).map {
                val em = it as Map<*, *>
                Triple(em["kind"] as String, em["label"] as String, num(em["frame"]).toInt())
            }
            return VectorCase(name, labels, background, config, times, probs, expected)
        }

        /** Path of the shared vectors: -Dedgetl.vectors, else found by walking up from the working dir. */
        fun defaultPath(): String {
            val prop = System.getProperty("edgetl.vectors")
            if (prop != null && prop.isNotEmpty()) return prop
            var dir: java.io.File? = java.io.File(System.getProperty("user.dir")).absoluteFile
            while (dir != null) {
                val f = java.io.File(dir, "tests/vectors/decision.json")
                if (f.isFile) return f.path
                dir = dir.parentFile
            }
            throw IllegalStateException("tests/vectors/decision.json not found; pass -Dedgetl.vectors=PATH")
        }
    }
}
