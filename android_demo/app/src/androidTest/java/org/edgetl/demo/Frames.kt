package org.edgetl.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import java.io.InputStream
import java.nio.ByteBuffer

/** RGBA_8888 frames as CameraX delivers them (rows may be padded), for feeding NoteClassifier. */
class RgbaFrame(val buffer: ByteBuffer, val width: Int, val height: Int, val rowStride: Int) {
    val pixelStride = 4

    companion object {
        /** A solid colour, with [padding] spare bytes after each row like a real camera buffer. */
        fun solid(width: Int, height: Int, rgb: IntArray, padding: Int = 16): RgbaFrame {
            val rowStride = width * 4 + padding
            val buf = ByteBuffer.allocateDirect(rowStride * height)
            for (y in 0 until height) {
                for (x in 0 until width) {
                    val at = y * rowStride + x * 4
                    buf.put(at, rgb[0].toByte()).put(at + 1, rgb[1].toByte()).put(at + 2, rgb[2].toByte()).put(at + 3, 255.toByte())
                }
            }
            return RgbaFrame(buf, width, height, rowStride)
        }

        /** A decoded image file (PNG/JPEG); ARGB_8888 bitmaps hold their pixels as R, G, B, A bytes. */
        fun decode(stream: InputStream): RgbaFrame {
            val options = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }
            val bitmap = BitmapFactory.decodeStream(stream, null, options)
                ?: throw IllegalArgumentException("not an image BitmapFactory can decode")
            val buf = ByteBuffer.allocateDirect(bitmap.rowBytes * bitmap.height)
            bitmap.copyPixelsToBuffer(buf)
            buf.rewind()
            return RgbaFrame(buf, bitmap.width, bitmap.height, bitmap.rowBytes)
        }
    }
}

fun NoteClassifier.classify(frame: RgbaFrame, rotationDegrees: Int = 0): FloatArray =
    classifyRgba(frame.buffer, frame.width, frame.height, frame.rowStride, frame.pixelStride, rotationDegrees)

fun topLabel(labels: List<String>, probs: FloatArray): String = labels[probs.indices.maxByOrNull { probs[it] }!!]
