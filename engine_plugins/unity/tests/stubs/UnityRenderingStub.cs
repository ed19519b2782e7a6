// A minimal stand-in for the UnityEngine types that StreamDiTRecorder and StreamDiTFrameSender (Runtime/Unity) use to
// read pixels back (RenderTexture and its temporaries, Graphics.Blit, Camera.targetTexture, Texture2D.ReadPixels,
// AsyncGPUReadback, NativeArray, coroutines), with Unity's signatures.
// Compiled into the stub UnityEngine.dll by tests/test_unity_layer.py; nothing here behaves like Unity, and
// nothing compiled against it is run.
using System;

namespace UnityEngine
{
    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { this.x = x; this.y = y; this.width = width; this.height = height; }
        public float x, y, width, height;
    }

    public enum RenderTextureFormat { ARGB32 = 0, Depth = 1, ARGBHalf = 2, Default = 7 }
    public enum RenderTextureReadWrite { Default = 0, Linear = 1, sRGB = 2 }

    public class RenderTexture : Texture
    {
        public static RenderTexture active { get; set; }

        public static RenderTexture GetTemporary(int width, int height, int depthBuffer = 0,
            RenderTextureFormat format = RenderTextureFormat.Default,
            RenderTextureReadWrite readWrite = RenderTextureReadWrite.Default, int antiAliasing = 1)
        {
            return null;
        }

        public static void ReleaseTemporary(RenderTexture temp) { }
    }

    public static class Graphics
    {
        public static void Blit(Texture source, RenderTexture dest) { }
    }

    public sealed class Camera : Behaviour
    {
        public RenderTexture targetTexture { get; set; }
    }

    public static class SystemInfo
    {
        public static bool supportsAsyncGPUReadback { get { return false; } }
    }

    public static class Application
    {
        public static string persistentDataPath { get { return ""; } }
        public static string productName { get { return ""; } }
    }

    public class YieldInstruction { }

    public sealed class WaitForEndOfFrame : YieldInstruction { }

    public sealed class Coroutine : YieldInstruction { }
}

namespace UnityEngine.Rendering
{
    public struct AsyncGPUReadbackRequest
    {
        public bool done { get { return false; } }
        public bool hasError { get { return false; } }
        public int width { get { return 0; } }
        public int height { get { return 0; } }
        public Unity.Collections.NativeArray<T> GetData<T>(int layer = 0) where T : struct { return default(Unity.Collections.NativeArray<T>); }
    }

    public static class AsyncGPUReadback
    {
        public static AsyncGPUReadbackRequest Request(Texture src, int mipIndex, TextureFormat dstFormat,
                                                      Action<AsyncGPUReadbackRequest> callback)
        {
            return default(AsyncGPUReadbackRequest);
        }

        public static void WaitAllRequests() { }
    }
}

namespace Unity.Collections
{
    public struct NativeArray<T> : IDisposable where T : struct
    {
        public int Length { get { return 0; } }
        public T[] ToArray() { return new T[0]; }
        public void CopyTo(T[] array) { }
        public void Dispose() { }
    }
}
