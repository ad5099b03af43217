package org.edgetl.decision

/**
 * Cross-check helper: `DumpEvents IN OUT [IN OUT ...]` runs every case of each IN vector
 * file through the Kotlin Decider and writes OUT with one JSON line per case:
 *   {"name": "...", "events": [["announce", "10", 12, <confidence bits>, <t bits>], ...]}
 * Doubles are written as their raw IEEE-754 bits (a signed 64-bit integer) so the Python
 * side can demand bit-for-bit equality.
 */
object DumpEvents {
    private fun quote(s: String): String {
        val sb = StringBuilder("\"")
        for (ch in s) {
            when {
                ch == '"' -> sb.append("\\\"")
                ch == '\\' -> sb.append("\\\\")
                ch < ' ' -> sb.append(String.format("\\u%04x", ch.toInt()))
                else -> sb.append(ch)
            }
        }
        return sb.append('"').toString()
    }

    @JvmStatic
    fun main(args: Array<String>) {
        require(args.isNotEmpty() && args.size % 2 == 0) { "usage: DumpEvents IN OUT [IN OUT ...]" }
        var i = 0
        while (i < args.size) {
            val cases = VectorCase.load(args[i])
            val sb = StringBuilder()
            for (c in cases) {
                sb.append("{\"name\": ").append(quote(c.name)).append(", \"events\": [")
                for ((j, pair) in c.run().withIndex()) {
                    val e = pair.second
                    if (j > 0) sb.append(", ")
                    sb.append('[').append(quote(e.kind)).append(", ").append(quote(e.label)).append(", ")
                        .append(pair.first).append(", ")
                        .append(java.lang.Double.doubleToRawLongBits(e.confidence)).append(", ")
                        .append(java.lang.Double.doubleToRawLongBits(e.t)).append(']')
                }
                sb.append("]}\n")
            }
            java.io.File(args[i + 1]).writeText(sb.toString(), Charsets.UTF_8)
            println("DumpEvents: ${cases.size} cases from ${args[i]} -> ${args[i + 1]}")
            i += 2
        }
    }
}
