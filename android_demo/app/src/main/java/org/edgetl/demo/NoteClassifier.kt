package org.edgetl.demo

import android.content.Context
import android.os.Build
import android.os.SystemClock
import android.util.Log
import androidx.camera.core.ImageProxy
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import org.tensorflow.lite.support.common.FileUtil
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Runs the exported model on camera frames with LiteRT's Interpreter.
 *
 * The accelerator is chosen at run time by [DelegatePlan.plan]: GPU delegate with the fp16 model
 * when the GPU CompatibilityList supports this device, else NNAPI with the int8 model (Android 11-14),
 * else XNNPACK on the CPU with the int8 model; settings can force one. If a delegate fails to
 * initialise (or its first inference fails) the model is reopened on the CPU and [fallbackReason]
 * says why. Pre- and post-processing follow the model card and reuse their buffers.
 *
 * Not thread-safe: create, use and close it on one thread (the camera analysis thread).
 */
class NoteClassifier private constructor(
    val backend: Backend,
    val card: ModelCard,
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    private val pre: Preprocessor,
    private val out: OutputDecoder
) : Closeable {
    private val probs = FloatArray(card.labels.size)

    /** Null when the first choice worked; otherwise what failed before this backend took over. */
    var fallbackReason: String? = null
        private set

    /** Moving average of the interpreter's run time in milliseconds (pre-processing excluded). */
    val inferenceMs = MovingAverage(30)

    /** Class probabilities for one RGBA_8888 frame (the returned array is reused). */
    fun classify(image: ImageProxy): FloatArray {
        val plane = image.planes[0]
        return classifyRgba(plane.buffer, image.width, image.height, plane.rowStride, plane.pixelStride, image.imageInfo.rotationDegrees)
    }

    /** The same for RGBA bytes from anywhere (the instrumentation test feeds decoded images). */
    fun classifyRgba(rgba: ByteBuffer, width: Int, height: Int, rowStride: Int, pixelStride: Int, rotationDegrees: Int): FloatArray {
        val input = pre.process(rgba, width, height, rowStride, pixelStride, rotationDegrees)
        val t0 = SystemClock.elapsedRealtimeNanos()
        interpreter.run(input, out.prepare())
        inferenceMs.add((SystemClock.elapsedRealtimeNanos() - t0) / 1e6)
        return out.decode(probs)
    }

    override fun close() {
        interpreter.close()
        (delegate as? Closeable)?.close()
    }

    companion object {
        private const val TAG = "edgetl.Classifier"

        /**
         * Opens the model per [choice]; throws [NoModelException] when the app has no model,
         * [ModelCardException] when a model does not match its card, IllegalStateException when
         * no backend starts. A delegate that fails, even with a missing native library, falls back.
         */
        fun open(context: Context, choice: DelegateChoice): NoteClassifier {
            val names = context.assets.list("")?.toSet() ?: emptySet()
            val hasInt8 = Assets.MODEL_INT8 in names && Assets.CARD_INT8 in names
            val hasFp16 = Assets.MODEL_FP16 in names && Assets.CARD_FP16 in names
            if (!hasInt8 && !hasFp16) throw NoModelException()
            val gpuSupported = choice == DelegateChoice.AUTO && gpuSupported()
            val plan = DelegatePlan.plan(choice, gpuSupported, Build.VERSION.SDK_INT, hasInt8, hasFp16)
            Log.i(TAG, "choice $choice, GPU supported $gpuSupported, API ${Build.VERSION.SDK_INT}: plan $plan")
            return openWith(plan) { attempt ->
                try {
                    openAttempt(context, attempt)
                } catch (e: Throwable) {
                    Log.w(TAG, "${attempt.backend} with ${attempt.model} failed", e)
                    throw e
                }
            }
        }

        /** One attempt of a plan: card, model check, interpreter with that backend, warm-up run. */
        fun openAttempt(context: Context, attempt: Attempt): NoteClassifier {
            val card = loadCard(context, attempt)
            val model = loadModel(context, attempt, card)
            return create(attempt.backend, card, model)
        }

        /** [open]'s fallback with a caller's attempt function (the instrumentation test breaks one on purpose). */
        fun openWith(plan: List<Attempt>, open: (Attempt) -> NoteClassifier): NoteClassifier {
            val opened = DelegatePlan.firstThatOpens(plan, open)
            return opened.value.also { it.fallbackReason = opened.fallbackReason }
        }

        private fun gpuSupported(): Boolean = try {
            val list = CompatibilityList()
            try {
                list.isDelegateSupportedOnThisDevice
            } finally {
                list.close()
            }
        } catch (e: Throwable) { // no OpenCL/GL driver, missing native library, ...
            Log.w(TAG, "GPU compatibility check failed", e)
            false
        }

        private fun loadCard(context: Context, attempt: Attempt): ModelCard {
            val text = context.assets.open(attempt.card).use { it.readBytes().toString(Charsets.UTF_8) }
            val card = ModelCard.parse(text, attempt.card)
            if (card.modelFile != attempt.model) {
                throw ModelCardException("${attempt.card} describes ${card.modelFile}, not ${attempt.model}")
            }
            return card
        }

        private fun loadModel(context: Context, attempt: Attempt, card: ModelCard): ByteBuffer {
            val (length, hex) = context.assets.open(attempt.model).use { ModelCard.digest(it) }
            card.verify(length, hex)
            return try {
                // Memory-mapped straight from the APK: needs noCompress "tflite" (app/build.gradle.kts).
                FileUtil.loadMappedFile(context, attempt.model)
            } catch (e: java.io.IOException) {
                // Stored compressed (an APK built without that setting): read it into memory instead.
                Log.w(TAG, "${attempt.model} is compressed in the APK; loading it into memory", e)
                val bytes = context.assets.open(attempt.model).use { it.readBytes() }
                ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).apply {
                    put(bytes)
                    rewind()
                }
            }
        }

        private fun create(backend: Backend, card: ModelCard, model: ByteBuffer): NoteClassifier {
            val options = Interpreter.Options()
            var delegate: Delegate? = null
            var interpreter: Interpreter? = null
            try {
                // Delegates are built inside the try: a missing native library throws a LinkageError
                // here, which must close what was opened and fall back, never crash the app.
                when (backend) {
                    Backend.GPU -> {
                        val list = CompatibilityList()
                        val gpuOptions = try {
                            list.bestOptionsForThisDevice
                        } finally {
                            list.close()
                        }
                        delegate = GpuDelegate(gpuOptions)
                        options.addDelegate(delegate)
                    }
                    Backend.NNAPI -> {
                        val nnOptions = NnApiDelegate.Options()
                            .setExecutionPreference(NnApiDelegate.Options.EXECUTION_PREFERENCE_SUSTAINED_SPEED)
                            .setUseNnapiCpu(false) // unsupported ops go to LiteRT's CPU kernels, not NNAPI's reference CPU
                        delegate = NnApiDelegate(nnOptions)
                        options.addDelegate(delegate)
                    }
                    Backend.CPU -> {
                        options.setUseXNNPACK(true)
                        options.setNumThreads(Runtime.getRuntime().availableProcessors().coerceIn(1, 4))
                    }
                }
                interpreter = Interpreter(model, options)
                checkTensors(interpreter, card)
                val pre = Preprocessor(card.inputSize, InputKind.of(card), card.mean, card.std, card.inputQuantization)
                val out = OutputDecoder(card.labels.size, card.outputDtype, card.outputQuantization)
                // One warm-up run on a blank input: a delegate that accepts the graph but cannot
                // execute it fails here, where we can still fall back, not on the first frame.
                interpreter.run(pre.input, out.prepare())
                return NoteClassifier(backend, card, interpreter, delegate, pre, out)
            } catch (e: Throwable) {
                interpreter?.close() // the interpreter before its delegate
                (delegate as? Closeable)?.close()
                throw e
            }
        }

        private fun checkTensors(interpreter: Interpreter, card: ModelCard) {
            val inShape = interpreter.getInputTensor(0).shape()
            val expected = intArrayOf(1, card.inputSize, card.inputSize, 3)
            if (!inShape.contentEquals(expected)) {
                throw ModelCardException("model input is ${inShape.contentToString()}, card says ${expected.contentToString()}")
            }
            val inType = interpreter.getInputTensor(0).dataType().name.lowercase()
            if (inType != card.inputDtype) {
                throw ModelCardException("model input is $inType, card says ${card.inputDtype}")
            }
            val outType = interpreter.getOutputTensor(0).dataType().name.lowercase()
            if (outType != card.outputDtype) {
                throw ModelCardException("model output is $outType, card says ${card.outputDtype}")
            }
            val outCount = interpreter.getOutputTensor(0).numElements()
            if (outCount != card.labels.size) {
                throw ModelCardException("model has $outCount outputs, card lists ${card.labels.size} labels")
            }
        }
    }
}
