package org.edgetl.demo

// PURE: no Android imports (java.nio only), compiled and unit-tested by run_pure_tests.sh.

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.floor
import kotlin.math.roundToInt

/** How the model wants its input tensor filled. */
enum class InputKind {
    /** Raw RGB bytes 0-255; the model's own input quantization does the normalising. */
    UINT8,
    /** Normalised (p - mean) / std, then quantized with the card's input_quantization. */
    INT8,
    /** Normalised (p - mean) / std as float32. */
    FLOAT32;

    companion object {
        fun of(card: ModelCard): InputKind = when (card.inputDtype) {
            "uint8" -> UINT8
            "int8" -> INT8
            else -> FLOAT32
        }
    }
}

/**
 * Camera frame (RGBA_8888, as CameraX ImageAnalysis delivers it) -> model input, following the
 * model card: centre square crop of the sensor frame, rotate upright by the frame's
 * rotationDegrees, resize to [size] x [size], then raw bytes / normalised floats.
 *
 * Resizing averages k x k samples per output pixel (k = crop side / size, at most [MAX_K]).
 * The crop is trimmed to an exact multiple of the input size when that costs little (see
 * [centreCrop]), and then this is OpenCV's INTER_AREA, what the Raspberry Pi runner uses.
 *
 * No per-frame allocation: the source offsets of every sample are computed once per frame
 * geometry, [input] is one direct buffer reused for every frame, and normalisation is a
 * 3 x 256 lookup table.
 */
class Preprocessor(
    val size: Int,
    val kind: InputKind,
    mean: List<Float> = listOf(127.5f, 127.5f, 127.5f),
    std: List<Float> = listOf(127.5f, 127.5f, 127.5f),
    inputQuantization: Quantization? = null
) {
    init {
        require(size >= 1) { "Preprocessor: size must be >= 1, got $size" }
        require(mean.size == 3 && std.size == 3) { "Preprocessor: mean and std need 3 channels" }
        require(kind != InputKind.INT8 || inputQuantization != null) { "Preprocessor: int8 input needs its quantization" }
    }

    private val bytesPerValue = if (kind == InputKind.FLOAT32) 4 else 1

    /** The model input (N=1, size, size, 3), rewound after every [process]; reused. */
    val input: ByteBuffer = ByteBuffer.allocateDirect(size * size * 3 * bytesPerValue).order(ByteOrder.nativeOrder())

    private val floatLut = FloatArray(3 * 256)
    private val int8Lut = ByteArray(3 * 256)

    init {
        for (c in 0 until 3) {
            for (v in 0 until 256) {
                val x = (v - mean[c]) / std[c]
                floatLut[c * 256 + v] = x
                if (inputQuantization != null) {
                    val q = (x / inputQuantization.scale).roundToInt() + inputQuantization.zeroPoint
                    int8Lut[c * 256 + v] = q.coerceIn(-128, 127).toByte()
                }
            }
        }
    }

    // Geometry the offset table was built for.
    private var gWidth = -1
    private var gHeight = -1
    private var gRowStride = -1
    private var gPixelStride = -1
    private var gRotation = -1

    /** Samples per output pixel along each axis for the current geometry. */
    var samplesPerAxis = 1
        private set

    /** Byte offset in the frame of the R byte of every sample, output pixel by output pixel. */
    private var offsets = IntArray(0)

    /**
     * Fill [input] from one RGBA frame. [frame] is the image plane (absolute reads; its position
     * is not changed), [rowStride]/[pixelStride] in bytes as the plane reports them.
     */
    fun process(frame: ByteBuffer, width: Int, height: Int, rowStride: Int, pixelStride: Int, rotationDegrees: Int): ByteBuffer {
        configure(width, height, rowStride, pixelStride, rotationDegrees)
        val needed = (height - 1).toLong() * rowStride + (width - 1).toLong() * pixelStride + 3
        require(frame.limit() >= needed) { "Preprocessor: frame buffer has ${frame.limit()} bytes, geometry needs $needed" }

        val kk = samplesPerAxis * samplesPerAxis
        val half = kk / 2
        val pixels = size * size
        val off = offsets
        var o = 0
        for (p in 0 until pixels) {
            var r = 0
            var g = 0
            var b = 0
            for (s in 0 until kk) {
                val at = off[o++]
                r += frame.get(at).toInt() and 0xFF
                g += frame.get(at + 1).toInt() and 0xFF
                b += frame.get(at + 2).toInt() and 0xFF
            }
            if (kk > 1) {
                r = (r + half) / kk
                g = (g + half) / kk
                b = (b + half) / kk
            }
            val d = p * 3
            when (kind) {
                InputKind.UINT8 -> {
                    input.put(d, r.toByte())
                    input.put(d + 1, g.toByte())
                    input.put(d + 2, b.toByte())
                }
                InputKind.INT8 -> {
                    input.put(d, int8Lut[r])
                    input.put(d + 1, int8Lut[256 + g])
                    input.put(d + 2, int8Lut[512 + b])
                }
                InputKind.FLOAT32 -> {
                    input.putFloat(d * 4, floatLut[r])
                    input.putFloat(d * 4 + 4, floatLut[256 + g])
                    input.putFloat(d * 4 + 8, floatLut[512 + b])
                }
            }
        }
        input.rewind()
        return input
    }

    /** (Re)build the offset table when the frame geometry changes; a no-op otherwise. */
    fun configure(width: Int, height: Int, rowStride: Int, pixelStride: Int, rotationDegrees: Int) {
        val rotation = normaliseRotation(rotationDegrees)
        if (width == gWidth && height == gHeight && rowStride == gRowStride && pixelStride == gPixelStride && rotation == gRotation) {
            return
        }
        require(width >= 1 && height >= 1) { "Preprocessor: empty frame ${width}x$height" }
        require(pixelStride >= 3) { "Preprocessor: RGBA frames need pixelStride >= 3, got $pixelStride" }
        require(rowStride >= width * pixelStride) { "Preprocessor: rowStride $rowStride < width * pixelStride" }

        val crop = centreCrop(width, height, size)
        val k = samplesFor(crop.side, size)
        val table = IntArray(size * size * k * k)
        var o = 0
        val scale = crop.side.toDouble() / size
        for (v in 0 until size) {
            for (u in 0 until size) {
                for (j in 0 until k) {
                    val vc = (v + (j + 0.5) / k) * scale
                    for (i in 0 until k) {
                        val uc = (u + (i + 0.5) / k) * scale
                        val xy = sensorPixel(uc, vc, crop.side, rotation)
                        val x = crop.x0 + (xy shr 16)
                        val y = crop.y0 + (xy and 0xFFFF)
                        table[o++] = y * rowStride + x * pixelStride
                    }
                }
            }
        }
        offsets = table
        samplesPerAxis = k
        gWidth = width
        gHeight = height
        gRowStride = rowStride
        gPixelStride = pixelStride
        gRotation = rotation
    }

    /** The centre square of a frame: top-left corner and side, in sensor pixels. */
    data class Crop(val x0: Int, val y0: Int, val side: Int)

    companion object {
        /** Upper bound on samples per axis: 8 x 8 = 64 reads per output pixel at most. */
        const val MAX_K = 8

        /** How much of the square's side may be trimmed to make it an exact multiple of the input size. */
        const val MAX_TRIM = 0.10

        /**
         * The centre square; with [size], shrunk about its centre to a multiple of [size] when that
         * trims at most [MAX_TRIM] of the side (VGA: 480 -> 448 for 224), as the Pi runner does, so
         * both runtimes average exact k x k boxes and see the same pixels.
         */
        fun centreCrop(width: Int, height: Int, size: Int = 0): Crop {
            var side = minOf(width, height)
            if (size > 0) {
                val k = side / size
                if (k >= 1 && side - k * size <= MAX_TRIM * side) side = k * size
            }
            return Crop((width - side) / 2, (height - side) / 2, side)
        }

        fun samplesFor(side: Int, size: Int): Int = (side / size).coerceIn(1, MAX_K)

        fun normaliseRotation(degrees: Int): Int {
            val r = Math.floorMod(degrees, 360)
            require(r % 90 == 0) { "Preprocessor: rotation must be a multiple of 90 degrees, got $degrees" }
            return r
        }

        /**
         * The sensor pixel (inside a [side] x [side] crop) seen at continuous position ([uc], [vc])
         * of the upright image, where upright = sensor rotated clockwise by [rotation] degrees (the
         * meaning of CameraX's ImageInfo.rotationDegrees). Returns x shl 16 or y.
         */
        fun sensorPixel(uc: Double, vc: Double, side: Int, rotation: Int): Int {
            val s = side.toDouble()
            val xs: Double
            val ys: Double
            when (rotation) {
                0 -> { xs = uc; ys = vc }
                90 -> { xs = vc; ys = s - uc }
                180 -> { xs = s - uc; ys = s - vc }
                270 -> { xs = s - vc; ys = uc }
                else -> throw IllegalArgumentException("rotation $rotation")
            }
            val x = floor(xs).toInt().coerceIn(0, side - 1)
            val y = floor(ys).toInt().coerceIn(0, side - 1)
            return (x shl 16) or y
        }
    }
}

/** Reads the model's output tensor into probabilities, dequantizing per the card. */
class OutputDecoder(val classes: Int, private val dtype: String, private val quantization: Quantization?) {
    init {
        require(classes >= 1) { "OutputDecoder: classes must be >= 1" }
        require(dtype == "float32" || quantization != null) { "OutputDecoder: $dtype output needs its quantization" }
        require(dtype == "float32" || dtype == "uint8" || dtype == "int8") { "OutputDecoder: unsupported output dtype $dtype" }
    }

    /** Output tensor (1, classes), reused; pass it to Interpreter.run after [prepare]. */
    val output: ByteBuffer = ByteBuffer.allocateDirect(classes * if (dtype == "float32") 4 else 1).order(ByteOrder.nativeOrder())

    fun prepare(): ByteBuffer {
        output.rewind()
        return output
    }

    /** Dequantize [output] into [into] (length [classes]); absolute reads, so position does not matter. */
    fun decode(into: FloatArray): FloatArray {
        require(into.size == classes) { "OutputDecoder: expected $classes values, got ${into.size}" }
        when (dtype) {
            "float32" -> for (i in 0 until classes) into[i] = output.getFloat(i * 4)
            "uint8" -> {
                val q = quantization!!
                for (i in 0 until classes) into[i] = q.scale * ((output.get(i).toInt() and 0xFF) - q.zeroPoint)
            }
            else -> {
                val q = quantization!!
                for (i in 0 until classes) into[i] = q.scale * (output.get(i).toInt() - q.zeroPoint)
            }
        }
        return into
    }
}
