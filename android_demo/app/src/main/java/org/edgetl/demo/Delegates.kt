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

/** The app was built without a model in its assets (a fresh clone): said in one sentence on launch. */
class NoModelException : Exception(
    "no model in the app's assets: run `edgetl export RUN --int8 --fp16 --android android_demo/app/src/main/assets` and rebuild"
)

/** The first attempt of a plan that opened, and why the ones before it failed (null: none failed). */
class Opened<T>(val value: T, val attempt: Attempt, val fallbackReason: String?)

object DelegatePlan {
    /**
     * AUTO uses NNAPI from Android 11 (API 30: NNAPI 1.3, the first with signed int8 operands, which
     * the int8 model's inner layers use; older drivers would leave them on the CPU anyway) up to
     * Android 14 (API 34). NNAPI is deprecated from Android 15 (API 35), so AUTO uses XNNPACK there.
     * Forcing NNAPI in settings works from [NNAPI_FORCED_MIN_SDK] on, deprecated or not.
     */
    const val NNAPI_AUTO_MIN_SDK = 30
    const val NNAPI_AUTO_MAX_SDK = 34
    /** NNAPI first appeared in Android 8.1. */
    const val NNAPI_FORCED_MIN_SDK = 27

    /**
     * Attempts in order; the caller uses the first that initialises, so every plan ends with CPU.
     *
     * AUTO: GPU with the fp16 model when the GPU delegate's CompatibilityList supports this
     * device, otherwise NNAPI with the int8 model (API 30-34), otherwise XNNPACK CPU with the
     * int8 model. A forced choice is tried even without the compatibility list's blessing.
     * A missing model file is replaced by the other one (the GPU delegate runs int8 models too).
     * Throws [NoModelException] when the app has neither model.
     */
    fun plan(choice: DelegateChoice, gpuSupported: Boolean, sdkInt: Int, hasInt8: Boolean, hasFp16: Boolean): List<Attempt> {
        if (!hasInt8 && !hasFp16) throw NoModelException()
        val first = when (choice) {
            DelegateChoice.AUTO -> when {
                gpuSupported -> Backend.GPU
                sdkInt in NNAPI_AUTO_MIN_SDK..NNAPI_AUTO_MAX_SDK -> Backend.NNAPI
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

    /**
     * Runs [open] on each attempt until one works. A delegate can fail with an Exception or, when
     * its native library is missing or broken, with a LinkageError (UnsatisfiedLinkError,
     * NoClassDefFoundError, ExceptionInInitializerError): both move on to the next attempt.
     * A [ModelCardException] (the model does not match its card) ends the search at once: no
     * backend will help. Throws IllegalStateException naming the last failure when none opens.
     */
    fun <T> firstThatOpens(plan: List<Attempt>, open: (Attempt) -> T): Opened<T> {
        var failure: String? = null
        for (attempt in plan) {
            try {
                return Opened(open(attempt), attempt, failure)
            } catch (e: ModelCardException) {
                throw e
            } catch (e: Exception) {
                failure = describe(attempt, e)
            } catch (e: LinkageError) {
                failure = describe(attempt, e)
            }
        }
        throw IllegalStateException("the model could not be started ($failure)")
    }

    private fun describe(attempt: Attempt, e: Throwable): String =
        "${attempt.backend}: ${e.message ?: e.javaClass.simpleName}"
}

/**
 * What to do when frames keep failing after the model started (a delegate that passed its warm-up
 * can still fail later, e.g. a GPU driver reset). One failed frame is ignored; [LIMIT] in a row
 * are reported to the user once, and the model is reopened on the CPU unless it already runs there.
 */
class FrameFailures {
    enum class Action { NONE, REOPEN_ON_CPU, GIVE_UP }

    private var inARow = 0

    fun success() {
        inARow = 0
    }

    /** Call for each failed frame; returns a non-NONE action exactly once per run of [LIMIT] failures. */
    fun failure(backend: Backend): Action {
        inARow += 1
        if (inARow != LIMIT) return Action.NONE
        return if (backend == Backend.CPU) Action.GIVE_UP else Action.REOPEN_ON_CPU
    }

    companion object {
        const val LIMIT = 3
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
