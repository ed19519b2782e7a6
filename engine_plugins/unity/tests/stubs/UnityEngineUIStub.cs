// A minimal stand-in for the UnityEngine.UI types that the package README's examples use, with Unity's
// signatures (tests/test_unity_readme.py compiles it into the stub UnityEngine.dll). Nothing here behaves
// like Unity, and nothing compiled against it is run.
namespace UnityEngine.UI
{
    public class RawImage : Component
    {
        public Texture texture { get; set; }
        public Rect uvRect { get; set; }
    }
}
