package org.edgetl.demo

import android.content.Context
import android.media.AudioAttributes
import android.os.Build
import android.os.VibrationAttributes
import android.os.VibrationEffect
import android.os.Vibrator
import android.os.VibratorManager

/**
 * Plays the per-denomination patterns of [Vibrations] (needs the VIBRATE permission).
 *
 * The patterns carry information (which note), so they are tagged as accessibility vibrations:
 * an untagged vibration may be scaled down or dropped with the phone's touch feedback turned off.
 */
class Haptics(context: Context) {
    private val vibrator: Vibrator? =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            context.getSystemService(VibratorManager::class.java)?.defaultVibrator
        } else {
            @Suppress("DEPRECATION")
            context.getSystemService(Context.VIBRATOR_SERVICE) as? Vibrator
        }

    val available: Boolean
        get() = vibrator?.hasVibrator() == true

    /** [timings] = [delay, on, off, on, ...] in ms; a newer pattern replaces a running one. */
    fun play(timings: LongArray) {
        val v = vibrator ?: return
        if (!v.hasVibrator() || timings.size < 2) return
        v.cancel()
        when {
            Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU -> v.vibrate(
                VibrationEffect.createWaveform(timings, -1),
                VibrationAttributes.createForUsage(VibrationAttributes.USAGE_ACCESSIBILITY)
            )
            Build.VERSION.SDK_INT >= Build.VERSION_CODES.O -> v.vibrate(
                VibrationEffect.createWaveform(timings, -1),
                AudioAttributes.Builder().setUsage(AudioAttributes.USAGE_ASSISTANCE_ACCESSIBILITY).build()
            )
            else -> {
                @Suppress("DEPRECATION")
                v.vibrate(timings, -1, AudioAttributes.Builder().setUsage(AudioAttributes.USAGE_ASSISTANCE_ACCESSIBILITY).build())
            }
        }
    }

    fun cancel() {
        vibrator?.cancel()
    }
}
