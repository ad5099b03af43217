package org.edgetl.demo

// PURE: no Android imports. Spoken languages and their voices' locales.

import java.util.Locale

object Languages {
    const val EN = "en"
    const val HI = "hi"

    /** English or Hindi as spoken in India (a BCP 47 tag: the Locale(String, String) constructors are deprecated). */
    fun localeFor(language: String): Locale = Locale.forLanguageTag(if (language == HI) "hi-IN" else "en-IN")

    /** The voice used when the chosen language has none installed. */
    val FALLBACK: Locale = Locale.forLanguageTag("en-IN")
}
