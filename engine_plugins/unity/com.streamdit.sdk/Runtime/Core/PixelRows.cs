using System;

namespace StreamDiT.Core
{
    /// <summary>
    /// Pixel layout conversions between Unity's textures and the wire (docs/protocol.md: rgb8, rows top to bottom).
    /// A texture readback (AsyncGPUReadback, Texture2D.GetRawTextureData) is bottom row first, 4 bytes per pixel for
    /// RGBA32 or 3 for RGB24. Plain C#, so it runs and is tested without Unity.
    /// </summary>
    public static class PixelRows
    {
        /// <summary>
        /// Converts <paramref name="pixels"/> (width * height * bytesPerPixel bytes, R G B [A] per pixel) into rgb8,
        /// rows top to bottom, as <see cref="StreamDiTSession.SendFrame"/> takes it: the alpha byte is dropped, and the
        /// rows are reversed when <paramref name="bottomUp"/> (Unity's texture order).
        /// </summary>
        /// <param name="pixels">The readback, row by row, left to right within a row.</param>
        /// <param name="width">Pixels.</param>
        /// <param name="height">Pixels.</param>
        /// <param name="bytesPerPixel">4 for RGBA32 (alpha dropped), 3 for RGB24.</param>
        /// <param name="bottomUp">True when the first row of <paramref name="pixels"/> is the bottom of the image.</param>
        /// <param name="destination">width * height * 3 bytes to write into (reused between frames), or null for a new array.</param>
        /// <returns><paramref name="destination"/>, or the new array.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="pixels"/> is null.</exception>
        /// <exception cref="ArgumentException">A size is not positive, bytesPerPixel is not 3 or 4, or an array has the
        /// wrong length; the message gives the length wanted.</exception>
        public static byte[] ToRgb8(byte[] pixels, int width, int height, int bytesPerPixel, bool bottomUp, byte[] destination = null)
        {
            if (pixels == null) throw new ArgumentNullException("pixels");
            if (width <= 0 || height <= 0)
                throw new ArgumentException("the size must be positive, got " + width + "x" + height + " (width x height)", width <= 0 ? "width" : "height");
            if (bytesPerPixel != 3 && bytesPerPixel != 4)
                throw new ArgumentException("bytesPerPixel must be 4 (RGBA32) or 3 (RGB24), got " + bytesPerPixel, "bytesPerPixel");
            long want = (long)width * height * bytesPerPixel;
            if (pixels.Length != want)
                throw new ArgumentException("pixels has " + pixels.Length + " bytes; a " + width + "x" + height + " image of "
                    + bytesPerPixel + " bytes per pixel has " + want + " (read back the texture in that format and size)", "pixels");
            int stride = width * 3;
            if (destination == null) destination = new byte[(long)stride * height];
            else if (destination.Length != (long)stride * height)
                throw new ArgumentException("destination has " + destination.Length + " bytes; a " + width + "x" + height
                    + " rgb8 frame has " + ((long)stride * height), "destination");
            int sourceStride = width * bytesPerPixel;
            for (int y = 0; y < height; y++)
            {
                int src = (bottomUp ? height - 1 - y : y) * sourceStride;
                int dst = y * stride;
                if (bytesPerPixel == 3)
                {
                    Buffer.BlockCopy(pixels, src, destination, dst, stride);
                    continue;
                }
                for (int x = 0; x < width; x++, src += 4, dst += 3)
                {
                    destination[dst] = pixels[src];
                    destination[dst + 1] = pixels[src + 1];
                    destination[dst + 2] = pixels[src + 2];
                }
            }
            return destination;
        }
    }
}
