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
        get() = prefs.getString(KEY_LANGUAGE, null) ?: if (Locale.getDefault().language == LANG_HI) LANG_HI else LANG_EN
        set(value) = prefs.edit().putString(KEY_LANGUAGE, value).apply()

    /**
     * The user's own threshold in whole percent (50-99), null = use the model card's (see
     * [DecisionSetup]). Stored as an Int so it reads back exactly; a Float saved by an older
     * version is rounded to its percent ([ThresholdSetting]).
     */
    var thresholdPercent: Int?
        get() = when {
            prefs.contains(KEY_THRESHOLD_PERCENT) -> prefs.getInt(KEY_THRESHOLD_PERCENT, ThresholdSetting.MIN_PERCENT)
            prefs.contains(KEY_THRESHOLD_LEGACY) -> ThresholdSetting.percentOfLegacy(prefs.getFloat(KEY_THRESHOLD_LEGACY, 0.8f))
            else -> null
        }
        set(value) {
            val e = prefs.edit().remove(KEY_THRESHOLD_LEGACY)
            if (value == null) e.remove(KEY_THRESHOLD_PERCENT) else e.putInt(KEY_THRESHOLD_PERCENT, value)
            e.apply()
        }

    /** [thresholdPercent] as the Decider's threshold. */
    val thresholdOverride: Double?
        get() = thresholdPercent?.let { ThresholdSetting.thresholdOf(it) }

    /** Say "hold the note steady" after a few unclear seconds; off by default, as on the Raspberry Pi. */
    var holdSteadyHint: Boolean
        get() = prefs.getBoolean(KEY_HINT, false)
        set(value) = prefs.edit().putBoolean(KEY_HINT, value).apply()

    /**
     * When TalkBack is on: true = announcements go through TalkBack (its voice and speed), false
     * (default) = the app's own TextToSpeech in the chosen language. Never both, so nothing is
     * said twice.
     */
    var speakThroughTalkBack: Boolean
        get() = prefs.getBoolean(KEY_TALKBACK, false)
        set(value) = prefs.edit().putBoolean(KEY_TALKBACK, value).apply()

    companion object {
        const val LANG_EN = Languages.EN
        const val LANG_HI = Languages.HI
        private const val KEY_DELEGATE = "delegate"
        private const val KEY_LANGUAGE = "language"
        private const val KEY_THRESHOLD_LEGACY = "threshold" // Float, before version 0.2
        private const val KEY_THRESHOLD_PERCENT = "threshold_percent"
        private const val KEY_HINT = "hold_steady_hint"
        private const val KEY_TALKBACK = "speak_through_talkback"

        fun localeFor(language: String): Locale = Languages.localeFor(language)
    }
}
