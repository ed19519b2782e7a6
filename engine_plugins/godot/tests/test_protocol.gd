## protocol.gd without a socket: the client's messages, and every way a runtime message can be
## malformed (each one an error message, never a crash).
extends "res://tests/test_case.gd"

const Protocol := preload("res://addons/streamdit/protocol.gd")
const MsgPack := preload("res://addons/streamdit/msgpack.gd")


func test_frame_parses_with_its_pixels() -> void:
	var msg := Protocol.parse(_parts(_frame_map(), 4 * 2 * 3))
	check_eq(msg.error, "", "no error")
	check_eq(msg.type, "frame", "type")
	check_eq(msg.fields["event_id"], 3, "event_id")
	check_eq(msg.pixels.size(), 24, "pixels")


func test_defaults_and_int_for_float() -> void:
	var reply := {
		"type": "handshake_reply",
		"session_id": "s",
		"resume_token": "t",
		"protocol_version": "1.4",
		"fps": 16,
		"frames_per_chunk": 2,
		"width": 64,
		"height": 64,
		"pixel_format": "rgb8",
		"credits": 4,
		"resumed": null,
		"a_field_of_1_4": [1, 2],
	}
	var msg := Protocol.parse(_parts(reply))
	check_eq(msg.error, "", "no error")
	check_eq(msg.fields["fps"], 16.0, "an int where a float goes")
	check_eq(msg.fields["resumed"], false, "nil takes the default")
	check_eq(msg.fields["next_frame_index"], 0, "absent takes the default")
	var error := Protocol.parse(_parts({"type": "error", "code": "rate_limited", "message": "m"}))
	check_eq(error.fields["fatal"], false, "error.fatal default")
	check_eq(error.fields["event_id"], 0, "error.event_id default")


func test_unknown_type_is_ignored_not_an_error() -> void:
	var msg := Protocol.parse(_parts({"type": "hologram", "x": 1}))
	check_eq(msg.error, "", "no error")
	check(not msg.known, "unknown")


func test_malformed_messages() -> void:
	var cases := {
		"an empty message": [] as Array[PackedByteArray],
		"not msgpack": [PackedByteArray([0xc1])] as Array[PackedByteArray],
		"truncated": [PackedByteArray([0x82, 0xa4])] as Array[PackedByteArray],
		"not a map": _parts([1, 2]),
		"no type": _parts({"frame_index": 1}),
		"type not a string": _parts({"type": 5}),
		"missing field": _parts(_frame_map({"width": null}), 24),
		"wrong type": _parts(_frame_map({"event_id": "3"}), 24),
		"negative uint": _parts(_frame_map({"frame_index": -1}), 24),
		"other pixel format": _parts(_frame_map({"pixel_format": "rgba8"}), 32),
		"zero width": _parts(_frame_map({"width": 0}), 0),
		"no pixels": _parts(_frame_map()),
		"short pixels": _parts(_frame_map(), 23),
		"long pixels": _parts(_frame_map(), 25),
		"extra part": _parts({"type": "stats"}, 3),
	}
	for what: String in cases:
		var msg := Protocol.parse(cases[what])
		check(msg.error != "", "%s: no error" % what)
	var short := Protocol.parse(_parts(_frame_map(), 23))
	check(short.error.contains("23 pixel bytes"), short.error)
	var missing := Protocol.parse(_parts({"type": "event_ack", "event_id": 1, "chunk_index": 0}))
	check(missing.error.contains("prompt"), missing.error)


func test_negative_pts_is_allowed() -> void:
	var msg := Protocol.parse(_parts(_frame_map({"pts_us": -5}), 24))
	check_eq(msg.error, "", "pts_us is signed")


func test_major_version() -> void:
	check_eq(Protocol.major_of("1.0"), 1, "1.0")
	check_eq(Protocol.major_of("12.7"), 12, "12.7")
	for bad in ["", "1", "1.0.0", "a.b", "1.x", "-1.0", " 1.0"]:
		check_eq(Protocol.major_of(bad), -1, "'%s'" % bad)


func test_event_checks() -> void:
	check_eq(Protocol.check_event("zombie_appears", {"n": 2, "z": "lava", "f": 0.5}), "", "ok")
	check(Protocol.check_event(" ", {}) != "", "empty type")
	check(Protocol.check_event("x", {1: "a"}) != "", "int key")
	var vector := Protocol.check_event("x", {"where": Vector2.ONE})
	check(vector.contains("where") and vector.contains("Vector2"), vector)
	var event := Protocol.event(9, "cow_nearby", {&"kind": &"brown"})
	check_eq(event["payload"], {"kind": &"brown"}, "StringName key as String")
	check(event["client_time_us"] > 1_600_000_000_000_000, "client time in microseconds")


func test_handshake_map() -> void:
	var hs := Protocol.handshake("a meadow", 'base = "x"', -1, 6, "tok", "")
	check_eq(hs["protocol_version"], "1.0", "version")
	check_eq(hs["settings"]["seed"], null, "negative seed is random (nil)")
	check_eq(hs["capabilities"]["credits"], 6, "credits")
	check_eq(hs["capabilities"]["pixel_formats"], ["rgb8"], "pixel formats")
	var seeded := Protocol.handshake("a", "", 42, 4, "", "resume-me")
	check_eq(seeded["settings"]["seed"], 42, "seed")
	check_eq(seeded["resume_token"], "resume-me", "resume token")
	check_eq(seeded["settings"]["model"], "", "the runtime's default model")
	var picked := Protocol.handshake("a", "", 42, 4, "", "", false, 0.5, "fast")
	check_eq(picked["settings"]["model"], "fast", "settings.model")
	var wire := Protocol.encode(seeded)
	check_eq(wire.size(), 1, "one part")
	check_eq(MsgPack.decode(wire[0]).value, seeded, "round trip")
	check(Protocol.encode({"type": "x", "bad": Vector3()}).is_empty(), "no msgpack form")


func test_base_prompt_of_a_prompt_map() -> void:
	var toml := FileAccess.get_file_as_string("res://tests/test_prompts.toml")
	check_eq(Protocol.base_prompt_of(toml), 'a "quiet" meadow', "escaped quotes")
	check_eq(Protocol.base_prompt_of('[events.x]\nprompt = "y"\n'), "", "no base")


func _frame_map(changes := {}) -> Dictionary:
	var map := {
		"type": "frame",
		"frame_index": 6,
		"chunk_index": 3,
		"pts_us": 375000,
		"event_id": 3,
		"width": 4,
		"height": 2,
		"pixel_format": "rgb8",
	}
	for key: String in changes:
		if changes[key] == null:
			map.erase(key)
		else:
			map[key] = changes[key]
	return map


## [param value] as a msgpack part; then, when [param pixel_bytes] >= 0, that many pixel bytes.
func _parts(value: Variant, pixel_bytes := -1) -> Array[PackedByteArray]:
	var parts: Array[PackedByteArray] = [MsgPack.encode(value).value]
	if pixel_bytes >= 0:
		var pixels := PackedByteArray()
		pixels.resize(pixel_bytes)
		parts.append(pixels)
	return parts
