using System.Globalization;
using System.Text;

namespace StreamDiT.Samples.CrafterEvents
{
    /// <summary>
    /// The Crafter event vocabulary (runtime/data/events.py in the StreamDiT repository) as a prompt map
    /// (docs/protocol.md section 6): the default model learned exactly these captions, so a game that pushes these
    /// event types steers it with the phrasings it knows. Plain C# (no UnityEngine), so the package's tests
    /// send this very map to a live runtime.
    /// </summary>
    public static class CrafterPromptMap
    {
        /// <summary>The base prompt while no event overlay is active.</summary>
        public const string BasePrompt = "the player stands on the grass";

        /// <summary>One event type: its caption template ({name} takes the payload's "name"), its priority (higher
        /// wins while overlays overlap) and whether it is a state (held while true; push it again while it holds)
        /// or a moment (pushed once).</summary>
        public struct Rule
        {
            public string Type;
            public string Prompt;
            public int Priority;
            public bool IsState;
        }

        /// <summary>Every event type of the vocabulary, movement first. Templates use {terrain} ("grass", "sand",
        /// "cave floor"), {tool} (e.g. "stone pickaxe") and {name} (an achievement, e.g. "collect wood").</summary>
        public static readonly Rule[] Rules =
        {
            R("player_moves_left", "the player walks left across the {terrain}", 20, true),
            R("player_moves_right", "the player walks right across the {terrain}", 20, true),
            R("player_moves_up", "the player walks up across the {terrain}", 20, true),
            R("player_moves_down", "the player walks down across the {terrain}", 20, true),
            R("player_idle", "the player stands on the {terrain}", 10, true),
            R("player_sleeps", "the player sleeps", 60, true),
            R("player_wakes", "the player wakes up", 55, false),
            R("collect_wood", "the player collects wood", 50, false),
            R("collect_stone", "the player mines stone", 50, false),
            R("collect_coal", "the player mines coal", 50, false),
            R("collect_iron", "the player mines iron", 50, false),
            R("collect_diamond", "the player finds a diamond", 50, false),
            R("collect_sapling", "the player picks a sapling", 45, false),
            R("drink_water", "the player drinks water", 45, false),
            R("eat_cow", "the player eats a cow", 55, false),
            R("eat_plant", "the player eats a plant", 50, false),
            R("place_table", "the player places a table", 50, false),
            R("place_stone", "the player places a stone", 50, false),
            R("place_furnace", "the player places a furnace", 50, false),
            R("place_plant", "the player plants a sapling", 50, false),
            R("make_tool", "the player crafts a {tool}", 50, false),
            R("fight_zombie", "the player fights a zombie", 70, true),
            R("defeat_zombie", "the player defeats a zombie", 75, false),
            R("defeat_skeleton", "the player defeats a skeleton", 75, false),
            R("player_hurt", "the player is hurt", 40, false),
            R("player_dies", "the player dies", 90, false),
            R("achievement", "the player unlocks the {name} achievement", 5, false),
            R("cow_nearby", "a cow grazes nearby", 20, true),
            R("zombie_appears", "a zombie approaches", 40, true),
            R("skeleton_nearby", "a skeleton lurks nearby", 35, true),
            R("night_falls", "night falls", 50, false),
            R("day_breaks", "day breaks", 50, false),
            R("night", "it is night", 10, true),
        };

        /// <summary>
        /// The prompt map TOML: the base prompt and one [events.TYPE] table per rule. Overlays of states last
        /// <paramref name="stateSeconds"/> (so a state ends soon after the game stops pushing it); moments last
        /// <paramref name="momentSeconds"/>.
        /// </summary>
        public static string Build(double stateSeconds = 1.0, double momentSeconds = 2.0)
        {
            var toml = new StringBuilder();
            toml.Append("base = \"").Append(BasePrompt).Append("\"\n");
            foreach (Rule r in Rules)
            {
                toml.Append("\n[events.").Append(r.Type).Append("]\n");
                toml.Append("prompt = \"").Append(r.Prompt).Append("\"\n");
                toml.Append("priority = ").Append(r.Priority.ToString(CultureInfo.InvariantCulture)).Append('\n');
                double seconds = r.IsState ? stateSeconds : momentSeconds;
                toml.Append("duration_seconds = ").Append(seconds.ToString("0.0##", CultureInfo.InvariantCulture)).Append('\n');
            }
            return toml.ToString();
        }

        static Rule R(string type, string prompt, int priority, bool isState)
        {
            return new Rule { Type = type, Prompt = prompt, Priority = priority, IsState = isState };
        }
    }
}
