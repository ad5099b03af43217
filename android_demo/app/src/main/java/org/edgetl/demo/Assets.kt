package org.edgetl.demo

// PURE: no Android imports (compiled by run_pure_tests.sh with plain kotlinc).

/**
 * The files `edgetl export RUN --int8 --fp16 --android android_demo/app/src/main/assets` writes,
 * and the only asset names the app opens. tests/android_assets.py parses this object and the
 * exporter's test checks it writes exactly these names: keep one `const val NAME = "file"` a line.
 */
object Assets {
    /** Full-integer model (uint8 in/out): NNAPI and CPU (XNNPACK). */
    const val MODEL_INT8 = "model_int8.tflite"
    /** Model card of [MODEL_INT8] (format edgetl-card/1). */
    const val CARD_INT8 = "model_int8.json"
    /** Float16-weight model (float32 in/out): the GPU delegate. */
    const val MODEL_FP16 = "model_fp16.tflite"
    /** Model card of [MODEL_FP16]. */
    const val CARD_FP16 = "model_fp16.json"
    /** One label a line, in model output order (the cards carry the same list). */
    const val LABELS = "labels.txt"
    /** Phrase templates per language: {"en": {"announce": "{label} rupees", ...}, "hi": {...}}. */
    const val PHRASES = "phrases.json"
}
