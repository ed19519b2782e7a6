using System.Collections.Generic;
using StreamDiT.Core;
using StreamDiT.Unity;
using UnityEngine;

namespace StreamDiT.Samples.CrafterEvents
{
    /// <summary>
    /// Sample scene script: steers a StreamDiT stream with Crafter gameplay events (the vocabulary the default model
    /// learned, see <see cref="CrafterPromptMap"/>). Put it on a GameObject with a <see cref="StreamDiTBehaviour"/>,
    /// give it a Renderer (e.g. a Quad) as the screen, start `streamdit serve`, and press Play.
    /// <para>Input (legacy Input Manager): arrow keys walk (a state, pushed again every half second while held),
    /// Z a zombie appears, F fight it, K defeat it, C collect wood, T craft a stone pickaxe, Space place a table,
    /// H get hurt, N night falls, D day breaks. With autoplay on, a scripted tour pushes events by itself.</para>
    /// <para>A real game calls <see cref="Push"/> from its own gameplay code instead: when the player starts to
    /// move, when a creature comes into view, when something is collected.</para>
    /// </summary>
    [AddComponentMenu("StreamDiT/Samples/Crafter Events")]
    [RequireComponent(typeof(StreamDiTBehaviour))]
    public sealed class CrafterEventsSample : MonoBehaviour
    {
        [Tooltip("The stream to steer; taken from this GameObject when empty.")]
        [SerializeField] StreamDiTBehaviour stream;
        [Tooltip("Where the stream is shown: a Renderer whose material gets the stream texture.")]
        [SerializeField] Renderer screen;
        [Tooltip("Push a scripted tour of events by itself, without input.")]
        [SerializeField] bool autoplay = true;
        [Tooltip("Seconds between two events of the autoplay tour.")]
        [SerializeField] float autoplaySeconds = 3f;
        [Tooltip("What the player walks on ({terrain} in the prompts): grass, sand or cave floor.")]
        [SerializeField] string terrain = "grass";
        [Tooltip("While a state holds (e.g. walking), push it again this often, seconds. Its overlay lasts 1 s.")]
        [SerializeField] float stateRepeatSeconds = 0.5f;

        // The autoplay tour: (event type, payload key, payload value).
        static readonly string[][] Tour =
        {
            new[] { "player_moves_left", "terrain", "grass" }, new[] { "collect_wood" }, new[] { "place_table" },
            new[] { "make_tool", "tool", "wood pickaxe" }, new[] { "zombie_appears" }, new[] { "fight_zombie" },
            new[] { "defeat_zombie" }, new[] { "player_moves_right", "terrain", "sand" }, new[] { "drink_water" },
            new[] { "night_falls" }, new[] { "skeleton_nearby" }, new[] { "day_breaks" },
        };

        float nextTourAt;
        int tourIndex;
        float nextStateAt;

        /// <summary>Pushes one Crafter event, e.g. Push("zombie_appears") or Push("make_tool", "tool", "stone pickaxe").
        /// Returns the event id, or 0 when it was not sent (the stream's LastError says why).</summary>
        public long Push(string type, string key = null, string value = null)
        {
            Dictionary<string, object> payload = null;
            if (key != null) payload = new Dictionary<string, object> { { key, value } };
            return stream.PushEvent(type, payload);
        }

        /// <summary>Call every frame while the player walks ("left", "right", "up" or "down"): walking is a state, so
        /// it is pushed again every stateRepeatSeconds to keep its 1 s overlay alive, and ends soon after it stops.</summary>
        public void Walking(string direction)
        {
            if (Time.unscaledTime < nextStateAt) return;
            nextStateAt = Time.unscaledTime + stateRepeatSeconds;
            Push("player_moves_" + direction, "terrain", terrain);
        }

        void Awake()
        {
            if (stream == null) stream = GetComponent<StreamDiTBehaviour>();
            // Runs before the stream connects (it connects in Start): send the Crafter prompt map.
            if (string.IsNullOrEmpty(stream.PromptMap))
            {
                stream.PromptMap = CrafterPromptMap.Build();
                stream.Prompt = CrafterPromptMap.BasePrompt;
            }
            stream.TextureUpdated += OnTexture;
            stream.EventApplied += OnApplied;
        }

        void OnDestroy()
        {
            if (stream == null) return;
            stream.TextureUpdated -= OnTexture;
            stream.EventApplied -= OnApplied;
        }

        void Update()
        {
            if (!stream.IsStreaming) return;  // the game runs on while the runtime is away
            PollKeys();
            if (autoplay && Time.unscaledTime >= nextTourAt)
            {
                nextTourAt = Time.unscaledTime + autoplaySeconds;
                string[] step = Tour[tourIndex++ % Tour.Length];
                Push(step[0], step.Length > 1 ? step[1] : null, step.Length > 2 ? step[2] : null);
            }
        }

        void PollKeys()
        {
#if ENABLE_LEGACY_INPUT_MANAGER
            if (Input.GetKey(KeyCode.LeftArrow)) Walking("left");
            else if (Input.GetKey(KeyCode.RightArrow)) Walking("right");
            else if (Input.GetKey(KeyCode.UpArrow)) Walking("up");
            else if (Input.GetKey(KeyCode.DownArrow)) Walking("down");
            if (Input.GetKeyDown(KeyCode.Z)) Push("zombie_appears");
            if (Input.GetKeyDown(KeyCode.F)) Push("fight_zombie");
            if (Input.GetKeyDown(KeyCode.K)) Push("defeat_zombie");
            if (Input.GetKeyDown(KeyCode.C)) Push("collect_wood");
            if (Input.GetKeyDown(KeyCode.T)) Push("make_tool", "tool", "stone pickaxe");
            if (Input.GetKeyDown(KeyCode.Space)) Push("place_table");
            if (Input.GetKeyDown(KeyCode.H)) Push("player_hurt");
            if (Input.GetKeyDown(KeyCode.N)) Push("night_falls");
            if (Input.GetKeyDown(KeyCode.D)) Push("day_breaks");
#endif
        }

        void OnTexture(Texture2D texture)
        {
            if (screen != null && screen.material.mainTexture != texture) screen.material.mainTexture = texture;
        }

        void OnApplied(EventAck ack)
        {
            Debug.Log("StreamDiT: event " + ack.EventId + " applied from frame " + ack.FrameIndex + ": \"" + ack.Prompt + "\""
                + (ack.InEffect ? "" : " (a higher-priority event still decides the prompt)"), this);
        }
    }
}
