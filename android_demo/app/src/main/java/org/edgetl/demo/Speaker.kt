package org.edgetl.demo

import android.content.Context
import android.speech.tts.TextToSpeech
import android.util.Log
import java.util.Locale

/**
 * Android TextToSpeech for announcements; works offline with the phone's installed voices.
 * Every call uses QUEUE_FLUSH: a newer note interrupts a stale one, never a backlog.
 * Call from the main thread.
 */
class Speaker(context: Context, private val onReady: (ok: Boolean) -> Unit) : TextToSpeech.OnInitListener {
    private val tts = TextToSpeech(context.applicationContext, this)
    private var ready = false
    private var pending: String? = null
    private var locale: Locale = Locale("en", "IN")
    private var counter = 0

    /** False until the engine is up, and when the chosen language has no voice. */
    var languageAvailable = false
        private set

    override fun onInit(status: Int) {
        ready = status == TextToSpeech.SUCCESS
        if (ready) {
            applyLocale()
            pending?.let { speak(it) }
        } else {
            Log.w(TAG, "TextToSpeech failed to start (status $status)")
        }
        pending = null
        onReady(ready)
    }

    /** Selects the voice; returns false when this language is not installed (English is used). */
    fun setLocale(wanted: Locale): Boolean {
        locale = wanted
        return if (ready) applyLocale() else true
    }

    private fun applyLocale(): Boolean {
        var result = tts.setLanguage(locale)
        if (result < TextToSpeech.LANG_AVAILABLE) {
            // e.g. the Hindi voice data is not downloaded: English still beats silence.
            Log.w(TAG, "no voice for $locale (result $result), falling back to English")
            result = tts.setLanguage(Locale("en", "IN"))
            if (result < TextToSpeech.LANG_AVAILABLE) tts.setLanguage(Locale.ENGLISH)
            languageAvailable = false
            return false
        }
        languageAvailable = true
        return true
    }

    val isReady: Boolean
        get() = ready

    fun speak(text: String) {
        if (!ready) {
            pending = text // spoken as soon as the engine is up
            return
        }
        counter += 1
        tts.speak(text, TextToSpeech.QUEUE_FLUSH, null, "edgetl-$counter")
    }

    fun stop() {
        if (ready) tts.stop()
    }

    fun shutdown() {
        tts.stop()
        tts.shutdown()
    }

    private companion object {
        const val TAG = "edgetl.Speaker"
    }
}
