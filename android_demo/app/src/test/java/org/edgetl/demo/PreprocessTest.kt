package org.edgetl.demo

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.ByteBuffer

class PreprocessTest {
    /** An RGBA frame whose pixel (x, y) has R = x, G = y, B = 7 (plus optional row padding). */
    private fun coordFrame(w: Int, h: Int, padding: Int = 0): Pair<ByteBuffer, Int> {
        val row = w * 4 + padding
        val buf = ByteBuffer.allocateDirect(row * h)
        for (y in 0 until h) for (x in 0 until w) {
            val o = y * row + x * 4
            buf.put(o, x.toByte())
            buf.put(o + 1, y.toByte())
            buf.put(o + 2, 7.toByte())
            buf.put(o + 3, 255.toByte())
        }
        return Pair(buf, row)
    }

    private fun rgbAt(p: Preprocessor, u: Int, v: Int): IntArray {
        val d = (v * p.size + u) * 3
        return intArrayOf(p.input.get(d).toInt() and 0xFF, p.input.get(d + 1).toInt() and 0xFF, p.input.get(d + 2).toInt() and 0xFF)
    }

    @Test
    fun centreCropIsTheMiddleSquare() {
        assertEquals(Preprocessor.Crop(80, 0, 480), Preprocessor.centreCrop(640, 480))
        assertEquals(Preprocessor.Crop(0, 80, 480), Preprocessor.centreCrop(480, 640))
        assertEquals(Preprocessor.Crop(0, 0, 5), Preprocessor.centreCrop(5, 5))
        assertEquals(Preprocessor.Crop(1, 0, 4), Preprocessor.centreCrop(7, 4)) // floor, like Python's //
    }

    @Test
    fun centreCropTrimsToAnExactMultipleLikeThePiRunner() {
        assertEquals(Preprocessor.Crop(96, 16, 448), Preprocessor.centreCrop(640, 480, 224)) // 2 x 224
        assertEquals(Preprocessor.Crop(304, 24, 672), Preprocessor.centreCrop(1280, 720, 224)) // 3 x 224
        assertEquals(Preprocessor.Crop(420, 0, 1080), Preprocessor.centreCrop(1920, 1080, 224)) // 17 %: kept
        assertEquals(Preprocessor.Crop(80, 0, 480), Preprocessor.centreCrop(640, 480, 96)) // 5 x 96 already
        assertEquals(Preprocessor.Crop(0, 0, 100), Preprocessor.centreCrop(100, 100, 224)) // smaller than size
    }

    @Test
    fun identityWhenCropEqualsSizeWithoutRotation() {
        val (frame, row) = coordFrame(6, 4)
        val p = Preprocessor(4, InputKind.UINT8)
        p.process(frame, 6, 4, row, 4, 0)
        assertEquals(1, p.samplesPerAxis)
        for (v in 0 until 4) for (u in 0 until 4) assertArrayEquals(intArrayOf(u + 1, v, 7), rgbAt(p, u, v))
    }

    @Test
    fun rotationsTurnTheCropClockwise() {
        // 3x3 crop (frame 5x3 -> x0 = 1). Upright = sensor rotated clockwise by the given degrees.
        val (frame, row) = coordFrame(5, 3)
        val p = Preprocessor(3, InputKind.UINT8)
        // (u, v) -> expected sensor (x in crop, y)
        val cases = mapOf(
            0 to { u: Int, v: Int -> intArrayOf(u, v) },
            90 to { u: Int, v: Int -> intArrayOf(v, 2 - u) },
            180 to { u: Int, v: Int -> intArrayOf(2 - u, 2 - v) },
            270 to { u: Int, v: Int -> intArrayOf(2 - v, u) }
        )
        for ((rot, expect) in cases) {
            p.process(frame, 5, 3, row, 4, rot)
            for (v in 0 until 3) for (u in 0 until 3) {
                val xy = expect(u, v)
                assertArrayEquals("rotation $rot at ($u,$v)", intArrayOf(xy[0] + 1, xy[1], 7), rgbAt(p, u, v))
            }
        }
        // Rotating 90 clockwise puts the sensor's bottom-left corner at the upright top-left.
        p.process(frame, 5, 3, row, 4, 90)
        assertArrayEquals(intArrayOf(1, 2, 7), rgbAt(p, 0, 0))
        p.process(frame, 5, 3, row, 4, -90) // same as 270
        assertArrayEquals(intArrayOf(3, 0, 7), rgbAt(p, 0, 0))
    }

    @Test
    fun downscaleAveragesBoxesAndHonoursRowStride() {
        // 8x8 frame with 12 bytes of row padding -> 4x4: each output is the mean of a 2x2 box.
        val (frame, row) = coordFrame(8, 8, padding = 12)
        val p = Preprocessor(4, InputKind.UINT8)
        p.process(frame, 8, 8, row, 4, 0)
        assertEquals(2, p.samplesPerAxis)
        for (v in 0 until 4) for (u in 0 until 4) {
            // mean of x in {2u, 2u+1} = 2u + 0.5, rounded half up
            assertArrayEquals(intArrayOf(2 * u + 1, 2 * v + 1, 7), rgbAt(p, u, v))
        }
    }

    @Test
    fun samplesPerAxisIsCapped() {
        assertEquals(1, Preprocessor.samplesFor(200, 224))
        assertEquals(2, Preprocessor.samplesFor(480, 224))
        assertEquals(5, Preprocessor.samplesFor(480, 96))
        assertEquals(Preprocessor.MAX_K, Preprocessor.samplesFor(4000, 96))
    }

    @Test
    fun floatInputIsNormalisedPerCard() {
        val (frame, row) = coordFrame(2, 2)
        val p = Preprocessor(2, InputKind.FLOAT32, listOf(127.5f, 127.5f, 127.5f), listOf(127.5f, 127.5f, 127.5f))
        p.process(frame, 2, 2, row, 4, 0)
        assertEquals(2 * 2 * 3 * 4, p.input.capacity())
        assertEquals((1 - 127.5f) / 127.5f, p.input.getFloat(3 * 4), 1e-7f) // pixel (1,0) R
        assertEquals((7 - 127.5f) / 127.5f, p.input.getFloat(2 * 4), 1e-7f) // pixel (0,0) B
        assertEquals(0, p.input.position())
    }

    @Test
    fun int8InputIsQuantizedNormalisedValue() {
        val (frame, row) = coordFrame(1, 1)
        frame.put(0, 255.toByte())
        val q = Quantization(1f / 128f, 0)
        val p = Preprocessor(1, InputKind.INT8, listOf(127.5f, 127.5f, 127.5f), listOf(127.5f, 127.5f, 127.5f), q)
        p.process(frame, 1, 1, row, 4, 0)
        assertEquals(127, p.input.get(0).toInt())          // (255-127.5)/127.5 = 1.0 -> 128 -> clamped
        assertEquals(-128, p.input.get(1).toInt())         // G = 0 -> -1.0 -> -128
        assertEquals(((7 - 127.5) / 127.5 * 128).let { Math.round(it).toInt() }, p.input.get(2).toInt())
    }

    @Test
    fun geometryChangesRebuildTheTableAndBadFramesAreRejected() {
        val p = Preprocessor(2, InputKind.UINT8)
        val (a, rowA) = coordFrame(4, 4)
        p.process(a, 4, 4, rowA, 4, 0)
        assertEquals(2, p.samplesPerAxis)
        val (b, rowB) = coordFrame(2, 2)
        p.process(b, 2, 2, rowB, 4, 0)
        assertEquals(1, p.samplesPerAxis)
        assertArrayEquals(intArrayOf(1, 1, 7), rgbAt(p, 1, 1))
        try {
            p.process(ByteBuffer.allocate(8), 4, 4, 16, 4, 0)
            fail("short buffer accepted")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!.contains("frame buffer"))
        }
        try {
            p.process(a, 4, 4, rowA, 4, 45)
            fail("45 degrees accepted")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!.contains("multiple of 90"))
        }
    }

    @Test
    fun outputIsDequantizedPerCard() {
        val u8 = OutputDecoder(3, "uint8", Quantization(1f / 256f, 0))
        u8.prepare().put(0, 0).put(1, 128.toByte()).put(2, 255.toByte())
        val probs = u8.decode(FloatArray(3))
        assertArrayEquals(floatArrayOf(0f, 0.5f, 255f / 256f), probs, 1e-7f)

        val i8 = OutputDecoder(2, "int8", Quantization(1f / 256f, -128))
        i8.prepare().put(0, (-128).toByte()).put(1, 127.toByte())
        assertArrayEquals(floatArrayOf(0f, 255f / 256f), i8.decode(FloatArray(2)), 1e-7f)

        val f32 = OutputDecoder(2, "float32", null)
        f32.prepare().putFloat(0, 0.25f).putFloat(4, 0.75f)
        assertArrayEquals(floatArrayOf(0.25f, 0.75f), f32.decode(FloatArray(2)), 0f)
    }
}
