package org.edgetl.demo

import android.content.Context
import android.content.SharedPreferences
import java.util.Locale

/** The user's choices, kept in SharedPreferences ("edgetl_settings"). */
class Settings(context: Context) {
    private val prefs: SharedPreferences = context.getSharedPreferences("edgetl_settings", Context.MODE_PRIVATE)

    /** AUTO / GPU / NNAPI / CPU; see [DelegatePlan.plan]. */
    var delegate: DelegateChoice
        get() = DelegateChoice.fromPref(prefs.getString(KEY_DELEGATE, null))
        set(value) = prefs.edit().putString(KEY_DELEGATE, value.name).apply()

    /** "en" or "hi"; first run follows the phone's language. */
    var language: String
        get() = prefs.getString(KEY_LANGUAGE, null) ?: if (Locale.getDefault().language == "hi") LANG_HI else LANG_EN
        set(value) = prefs.edit().putString(KEY_LANGUAGE, value).apply()

    /** null = use the model card's announce_threshold (or 0.8). */
    var thresholdOverride: Double?
        get() = if (prefs.contains(KEY_THRESHOLD)) prefs.getFloat(KEY_THRESHOLD, 0.8f).toDouble() else null
        set(value) {
            val e = prefs.edit()
            if (value == null) e.remove(KEY_THRESHOLD) else e.putFloat(KEY_THRESHOLD, value.toFloat())
            e.apply()
        }

    /**
     * When TalkBack is on: true = announcements go through TalkBack (its voice and speed), false
     * (default) = the app's own TextToSpeech in the chosen language. Never both, so nothing is
     * said twice.
     */
    var speakThroughTalkBack: Boolean
        get() = prefs.getBoolean(KEY_TALKBACK, false)
        set(value) = prefs.edit().putBoolean(KEY_TALKBACK, value).apply()

    companion object {
        const val LANG_EN = "en"
        const val LANG_HI = "hi"
        private const val KEY_DELEGATE = "delegate"
        private const val KEY_LANGUAGE = "language"
        private const val KEY_THRESHOLD = "threshold"
        private const val KEY_TALKBACK = "speak_through_talkback"

        fun localeFor(language: String): Locale = if (language == LANG_HI) Locale("hi", "IN") else Locale("en", "IN")
    }
}
