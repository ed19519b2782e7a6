// A minimal stand-in for the UnityEngine.UI types that the package README's examples use, with Unity's
// signatures (tests/test_unity_readme.py compiles it into the stub UnityEngine.dll). Nothing here behaves
// like Unity, and nothing compiled against it is run.
namespace UnityEngine
{
    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { this.x = x; this.y = y; this.width = width; this.height = height; }
        public float x, y, width, height;
    }
}

namespace UnityEngine.UI
{
    public class RawImage : Component
    {
        public Texture texture { get; set; }
        public Rect uvRect { get; set; }
    }
}
