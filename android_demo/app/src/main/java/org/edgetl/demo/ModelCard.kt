package org.edgetl.demo

// PURE: no Android imports. Uses org.json, which Android ships; on a plain JVM the same API comes
// from Debian's libandroid-json-java (run_pure_tests.sh) or com.vaadin.external.google:android-json.

import org.edgetl.decision.SetupRules
import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import java.io.InputStream
import java.security.MessageDigest

/** A model card that cannot be used; the message says why (shown and spoken to the user). */
class ModelCardException(message: String) : Exception(message)

/** Affine quantization of a tensor: real = scale * (q - zeroPoint). */
data class Quantization(val scale: Float, val zeroPoint: Int)

/**
 * What the phone needs to run an exported model correctly (see edgetl/card.py; format
 * "edgetl-card/1"): labels, input size and dtype, pixel normalisation, quantization, which label
 * means "no note", and the confidence above which an answer is spoken.
 */
data class ModelCard(
    val name: String,
    val modelFile: String,
    val labels: List<String>,
    val inputSize: Int,
    /** "uint8" (raw RGB bytes), "int8" (quantized normalised input) or "float32". */
    val inputDtype: String,
    val quantization: String,
    val sha256: String,
    val sizeBytes: Long,
    val backgroundLabel: String?,
    /** Per channel (R, G, B); a scalar in the card is repeated three times. */
    val mean: List<Float>,
    val std: List<Float>,
    val inputQuantization: Quantization?,
    /** "float32", "uint8" or "int8". */
    val outputDtype: String,
    val outputQuantization: Quantization?,
    val crop: String,
    val announceThreshold: Double?
) {
    /** Index of [backgroundLabel] in [labels], or -1. */
    val backgroundIndex: Int
        get() = if (backgroundLabel == null) -1 else labels.indexOf(backgroundLabel)

    /**
     * The label that means "no note" for the Decider and the vibrations: [backgroundLabel] when it is
     * a label, else a label named "background", else none (the shared rule, [SetupRules]).
     */
    val deciderBackground: String?
        get() = SetupRules.background(labels, backgroundLabel)

    /** Fails unless [bytes] is exactly the model this card describes (size, then SHA-256). */
    fun verify(length: Long, digestHex: String) {
        if (length != sizeBytes) {
            throw ModelCardException("$modelFile is $length bytes but its card says $sizeBytes: re-export the model")
        }
        if (!digestHex.equals(sha256, ignoreCase = true)) {
            throw ModelCardException(
                "$modelFile does not match its card (sha256 ${digestHex.take(12)}, card ${sha256.take(12)}): re-export the model"
            )
        }
    }

    companion object {
        const val FORMAT = "edgetl-card/1"
        val INPUT_DTYPES = listOf("uint8", "int8", "float32")
        val OUTPUT_DTYPES = listOf("float32", "uint8", "int8")

        /** Parses and validates card JSON text; throws [ModelCardException] with a readable reason. */
        fun parse(text: String, source: String = "model card"): ModelCard {
            val o = try {
                JSONObject(text)
            } catch (e: JSONException) {
                throw ModelCardException("$source is not valid JSON (${e.message})")
            }
            try {
                return fromJson(o, source)
            } catch (e: JSONException) {
                throw ModelCardException("$source: ${e.message}")
            }
        }

        private fun fromJson(o: JSONObject, source: String): ModelCard {
            val format = o.optString("format", "")
            if (format != FORMAT) {
                throw ModelCardException("$source is not an edgetl model card (format \"$format\", expected \"$FORMAT\")")
            }
            val labelsJson = o.getJSONArray("labels")
            val labels = ArrayList<String>(labelsJson.length())
            for (i in 0 until labelsJson.length()) labels.add(labelsJson.getString(i))
            if (labels.isEmpty()) throw ModelCardException("$source has no labels")
            if (labels.toSet().size != labels.size) throw ModelCardException("$source has duplicate labels: $labels")

            val inputSize = o.getInt("input_size")
            if (inputSize < 1 || inputSize > 4096) throw ModelCardException("$source: input_size $inputSize is out of range")
            val inputDtype = o.getString("input_dtype")
            if (inputDtype !in INPUT_DTYPES) throw ModelCardException("$source: input_dtype \"$inputDtype\" is not one of $INPUT_DTYPES")
            val outputDtype = o.optString("output_dtype", "float32")
            if (outputDtype !in OUTPUT_DTYPES) throw ModelCardException("$source: output_dtype \"$outputDtype\" is not one of $OUTPUT_DTYPES")

            val norm = if (o.isNull("normalization")) null else o.getJSONObject("normalization")
            val mean = channels(norm, "mean", 127.5f, source)
            val std = channels(norm, "std", 127.5f, source)
            for (s in std) if (!(s > 0f)) throw ModelCardException("$source: normalization std must be > 0, got $std")

            val inQ = quant(o, "input_quantization", source)
            val outQ = quant(o, "output_quantization", source)
            if (inputDtype == "int8" && inQ == null) throw ModelCardException("$source: int8 input needs input_quantization")
            if (outputDtype != "float32" && outQ == null) {
                throw ModelCardException("$source: $outputDtype output needs output_quantization")
            }

            val crop = o.optString("crop", "center")
            if (crop != "center") throw ModelCardException("$source: crop \"$crop\" is not supported (only \"center\")")

            // Read as given; its range (0 = not calibrated, a floor of 0.5) is SetupRules' business.
            val threshold = if (o.isNull("announce_threshold")) null else o.getDouble("announce_threshold")
            val background = if (o.isNull("background_label")) null else o.getString("background_label")

            return ModelCard(
                name = o.optString("name", "model"),
                modelFile = o.getString("model_file"),
                labels = labels,
                inputSize = inputSize,
                inputDtype = inputDtype,
                quantization = o.optString("quantization", ""),
                sha256 = o.optString("sha256", ""),
                sizeBytes = o.optLong("size_bytes", -1L),
                backgroundLabel = background,
                mean = mean,
                std = std,
                inputQuantization = inQ,
                outputDtype = outputDtype,
                outputQuantization = outQ,
                crop = crop,
                announceThreshold = threshold
            )
        }

        private fun channels(norm: JSONObject?, key: String, default: Float, source: String): List<Float> {
            if (norm == null || norm.isNull(key)) return listOf(default, default, default)
            val v = norm.get(key)
            if (v is JSONArray) {
                if (v.length() != 3) throw ModelCardException("$source: normalization $key must be a number or 3 numbers")
                return listOf(v.getDouble(0).toFloat(), v.getDouble(1).toFloat(), v.getDouble(2).toFloat())
            }
            val x = norm.getDouble(key).toFloat()
            return listOf(x, x, x)
        }

        private fun quant(o: JSONObject, key: String, source: String): Quantization? {
            if (o.isNull(key)) return null
            val q = o.getJSONObject(key)
            val scale = q.getDouble("scale").toFloat()
            if (!(scale > 0f) || scale.isInfinite()) throw ModelCardException("$source: $key scale must be > 0, got $scale")
            return Quantization(scale, q.getInt("zero_point"))
        }

        /** Lower-case hex SHA-256 of a stream and its length (reads it to the end, does not close it). */
        fun digest(stream: InputStream): Pair<Long, String> {
            val md = MessageDigest.getInstance("SHA-256")
            val buf = ByteArray(1 shl 16)
            var total = 0L
            while (true) {
                val n = stream.read(buf)
                if (n < 0) break
                md.update(buf, 0, n)
                total += n
            }
            val sb = StringBuilder(64)
            for (b in md.digest()) sb.append(String.format("%02x", b.toInt() and 0xFF))
            return Pair(total, sb.toString())
        }
    }
}
