using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace StreamDiT.Core
{
    /// <summary>
    /// The JSON of a recording (docs/recording.md): event lines and the manifest, and the rules an event must
    /// follow. Only the base library: strings escaped by hand, numbers in the invariant culture.
    /// </summary>
    public static class RecordingJson
    {
        /// <summary>The longest event type, in characters.</summary>
        public const int MaxEventType = 64;

        static readonly Regex EventName = new Regex("^[A-Za-z_][A-Za-z0-9_]*$");

        /// <summary>
        /// Why <paramref name="type"/> and <paramref name="payload"/> cannot be a recorded event, or null when they
        /// can: a type is a name ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters); a payload (null = empty) maps
        /// string keys to strings, booleans, integers or finite floating-point numbers.
        /// </summary>
        public static string CheckEvent(string type, IDictionary<string, object> payload)
        {
            if (type == null || type.Length > MaxEventType || !EventName.IsMatch(type))
                return "event type " + Quote(type == null ? "null" : Clip(type, 80)) + " is not a name: use letters, " +
                       "digits and '_', starting with a letter or '_', at most " + MaxEventType + " characters";
            if (payload == null) return null;
            foreach (var pair in payload)
            {
                if (pair.Key == null) return "event " + type + ": a payload key is null";
                object v = pair.Value;
                if (v is string || v is bool || v is int || v is long || v is short || v is byte || v is sbyte ||
                    v is ushort || v is uint) continue;
                if (v is float || v is double)
                {
                    double d = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                    if (double.IsNaN(d) || double.IsInfinity(d))
                        return "event " + type + ": payload[" + pair.Key + "] is " + d + "; JSON has no such number";
                    continue;
                }
                return "event " + type + ": payload[" + pair.Key + "] is " + (v == null ? "null" : v.GetType().Name) +
                       "; values must be string, bool, an integer or a floating-point number";
            }
            return null;
        }

        /// <summary>One line of events.jsonl (without the newline): {"frame":N,"type":"...","payload":{...}}.</summary>
        public static string EventLine(int frame, string type, IDictionary<string, object> payload)
        {
            var s = new StringBuilder();
            s.Append("{\"frame\":").Append(frame.ToString(CultureInfo.InvariantCulture));
            s.Append(",\"type\":").Append(Quote(type)).Append(",\"payload\":{");
            bool first = true;
            if (payload != null)
            {
                foreach (var pair in payload)
                {
                    if (!first) s.Append(',');
                    first = false;
                    s.Append(Quote(pair.Key)).Append(':').Append(Value(pair.Value));
                }
            }
            return s.Append("}}").ToString();
        }

        /// <summary>A JSON object of <paramref name="fields"/>, in their order, one key per line.</summary>
        public static string Object(IList<KeyValuePair<string, object>> fields)
        {
            var s = new StringBuilder("{\n");
            for (int i = 0; i < fields.Count; i++)
            {
                s.Append(' ').Append(Quote(fields[i].Key)).Append(": ").Append(Value(fields[i].Value));
                s.Append(i + 1 < fields.Count ? ",\n" : "\n");
            }
            return s.Append("}\n").ToString();
        }

        /// <summary>A JSON value: null, a boolean, a number (invariant culture, round-trip precision) or a string.</summary>
        /// <exception cref="ArgumentException">A value of another type.</exception>
        public static string Value(object v)
        {
            if (v == null) return "null";
            if (v is string) return Quote((string)v);
            if (v is bool) return (bool)v ? "true" : "false";
            if (v is double || v is float)
            {
                double d = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                string text = d.ToString("R", CultureInfo.InvariantCulture);
                // A whole number stays a float in JSON (16.0, not 16), as Python writes fps.
                return text.IndexOfAny(new[] { '.', 'E', 'e' }) >= 0 ? text : text + ".0";
            }
            if (v is int || v is long || v is short || v is byte || v is sbyte || v is ushort || v is uint)
                return Convert.ToInt64(v, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
            throw new ArgumentException("no JSON form for a " + v.GetType().Name, "v");
        }

        /// <summary>A JSON string literal: quotes, backslashes and control characters escaped.</summary>
        public static string Quote(string text)
        {
            var s = new StringBuilder(text.Length + 2);
            s.Append('"');
            foreach (char c in text)
            {
                switch (c)
                {
                    case '"': s.Append("\\\""); break;
                    case '\\': s.Append("\\\\"); break;
                    case '\n': s.Append("\\n"); break;
                    case '\r': s.Append("\\r"); break;
                    case '\t': s.Append("\\t"); break;
                    default:
                        if (c < 0x20) s.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else s.Append(c);
                        break;
                }
            }
            return s.Append('"').ToString();
        }

        static string Clip(string text, int length)
        {
            return text.Length <= length ? text : text.Substring(0, length);
        }
    }
}
