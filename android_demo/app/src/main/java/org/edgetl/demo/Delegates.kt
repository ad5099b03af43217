package org.edgetl.demo

// PURE: no Android imports. Which accelerator and which model to try, in which order; the
// Android side (NoteClassifier) only supplies the device facts and performs the attempts.

/** The user's choice in settings (stored by name in SharedPreferences). */
enum class DelegateChoice {
    AUTO, GPU, NNAPI, CPU;

    companion object {
        fun fromPref(value: String?): DelegateChoice = values().firstOrNull { it.name == value } ?: AUTO
    }
}

/** What actually runs the model. CPU means LiteRT's XNNPACK kernels. */
enum class Backend { GPU, NNAPI, CPU }

/** One way to open the model: this backend with this model file and its card. */
data class Attempt(val backend: Backend, val model: String, val card: String)

object DelegatePlan {
    /**
     * Lowest Android API level at which AUTO uses NNAPI: Android 11 (NNAPI 1.3) is the first with
     * signed int8 operands, which the int8 model's inner layers use; older NNAPI drivers would
     * leave them on the CPU anyway. Forcing NNAPI in settings works from [NNAPI_FORCED_MIN_SDK].
     */
    const val NNAPI_AUTO_MIN_SDK = 30
    /** NNAPI first appeared in Android 8.1. */
    const val NNAPI_FORCED_MIN_SDK = 27

    /**
     * Attempts in order; the caller uses the first that initialises, so every plan ends with CPU.
     *
     * AUTO: GPU with the fp16 model when the GPU delegate's CompatibilityList supports this
     * device, otherwise NNAPI with the int8 model (API >= 30), otherwise XNNPACK CPU with the
     * int8 model. A forced choice is tried even without the compatibility list's blessing.
     * A missing model file is replaced by the other one (the GPU delegate runs int8 models too).
     */
    fun plan(choice: DelegateChoice, gpuSupported: Boolean, sdkInt: Int, hasInt8: Boolean, hasFp16: Boolean): List<Attempt> {
        require(hasInt8 || hasFp16) {
            "no model in the app's assets: run `edgetl export RUN --int8 --fp16 --android android_demo/app/src/main/assets`"
        }
        val first = when (choice) {
            DelegateChoice.AUTO -> when {
                gpuSupported -> Backend.GPU
                sdkInt >= NNAPI_AUTO_MIN_SDK -> Backend.NNAPI
                else -> Backend.CPU
            }
            DelegateChoice.GPU -> Backend.GPU
            DelegateChoice.NNAPI -> if (sdkInt >= NNAPI_FORCED_MIN_SDK) Backend.NNAPI else Backend.CPU
            DelegateChoice.CPU -> Backend.CPU
        }
        val out = ArrayList<Attempt>(2)
        out.add(attempt(first, hasInt8, hasFp16))
        if (first != Backend.CPU) out.add(attempt(Backend.CPU, hasInt8, hasFp16))
        return out
    }

    private fun attempt(backend: Backend, hasInt8: Boolean, hasFp16: Boolean): Attempt {
        val useFp16 = if (backend == Backend.GPU) hasFp16 else !hasInt8
        return if (useFp16) Attempt(backend, Assets.MODEL_FP16, Assets.CARD_FP16) else Attempt(backend, Assets.MODEL_INT8, Assets.CARD_INT8)
    }
}

/** Mean of the last [window] values (inference milliseconds); no allocation per [add]. */
class MovingAverage(val window: Int = 30) {
    init {
        require(window >= 1) { "MovingAverage: window must be >= 1" }
    }

    private val ring = DoubleArray(window)
    private var count = 0
    private var next = 0
    private var sum = 0.0

    @Synchronized
    fun add(value: Double) {
        if (count == window) sum -= ring[next] else count += 1
        ring[next] = value
        sum += value
        next = (next + 1) % window
    }

    /** NaN before the first value. */
    val mean: Double
        @Synchronized get() = if (count == 0) Double.NaN else sum / count

    @Synchronized
    fun reset() {
        count = 0
        next = 0
        sum = 0.0
    }
}
