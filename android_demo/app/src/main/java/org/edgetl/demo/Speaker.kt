package org.edgetl.demo

import android.content.Context
import android.os.Handler
import android.os.Looper
import android.speech.tts.TextToSpeech
import android.speech.tts.UtteranceProgressListener
import android.util.Log
import java.util.Locale

/**
 * Android TextToSpeech for announcements; works offline with the phone's installed voices.
 * Every call uses QUEUE_FLUSH: a newer note interrupts a stale one, never a backlog.
 * Call from the main thread; an utterance's end callback also runs on the main thread.
 */
class Speaker(context: Context, private val onReady: (ok: Boolean) -> Unit) : TextToSpeech.OnInitListener {
    private val tts = TextToSpeech(context.applicationContext, this)
    private val main = Handler(Looper.getMainLooper())
    private var ready = false
    private var pending: String? = null
    private var pendingDone: (() -> Unit)? = null
    private var locale: Locale = Languages.FALLBACK
    private var counter = 0
    /** Utterance id -> what to run when it has been spoken (or stopped, or failed). Main thread only. */
    private val whenSpoken = HashMap<String, () -> Unit>()

    init {
        // Progress callbacks arrive on a TTS binder thread: hop to the main thread.
        tts.setOnUtteranceProgressListener(object : UtteranceProgressListener() {
            override fun onStart(utteranceId: String?) {}
            override fun onDone(utteranceId: String?) = finished(utteranceId)
            @Deprecated("Deprecated in Java")
            override fun onError(utteranceId: String?) = finished(utteranceId)
            override fun onError(utteranceId: String?, errorCode: Int) = finished(utteranceId)
            override fun onStop(utteranceId: String?, interrupted: Boolean) = finished(utteranceId)
        })
    }

    private fun finished(utteranceId: String?) {
        if (utteranceId == null) return
        main.post { whenSpoken.remove(utteranceId)?.invoke() }
    }

    /** False until the engine is up, and when the chosen language has no voice. */
    var languageAvailable = false
        private set

    override fun onInit(status: Int) {
        ready = status == TextToSpeech.SUCCESS
        val text = pending
        val done = pendingDone
        pending = null
        pendingDone = null
        if (ready) {
            applyLocale()
            if (text != null) speak(text, done)
        } else {
            Log.w(TAG, "TextToSpeech failed to start (status $status)")
            done?.invoke() // nothing will be spoken: do not keep the caller waiting
        }
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
            result = tts.setLanguage(Languages.FALLBACK)
            if (result < TextToSpeech.LANG_AVAILABLE) tts.setLanguage(Locale.ENGLISH)
            languageAvailable = false
            return false
        }
        languageAvailable = true
        return true
    }

    val isReady: Boolean
        get() = ready

    /** Speaks [text] at once; [onSpoken] (main thread) runs when it has been said, cut off or failed. */
    fun speak(text: String, onSpoken: (() -> Unit)? = null) {
        if (!ready) {
            pending = text // spoken as soon as the engine is up
            pendingDone = onSpoken
            return
        }
        counter += 1
        val id = "edgetl-$counter"
        if (onSpoken != null) whenSpoken[id] = onSpoken
        if (tts.speak(text, TextToSpeech.QUEUE_FLUSH, null, id) != TextToSpeech.SUCCESS) {
            whenSpoken.remove(id)?.invoke()
        }
    }

    fun stop() {
        if (ready) tts.stop()
    }

    fun shutdown() {
        whenSpoken.clear()
        main.removeCallbacksAndMessages(null)
        tts.stop()
        tts.shutdown()
    }

    private companion object {
        const val TAG = "edgetl.Speaker"
    }
}
