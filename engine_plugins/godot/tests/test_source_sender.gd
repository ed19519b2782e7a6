## Video-to-video in the addon without a socket: source_sender.gd turns any Image into a
## source_frame (converted and resized to the stream's rgb8, numbered, strength nil = keep), each
## problem reported once per connection; frames read source_index (-1 when absent); the frame
## sender's pacing; the handshake asks for v2v with its strength.
extends "res://tests/test_case.gd"

const Protocol := preload("res://addons/streamdit/protocol.gd")
const MsgPack := preload("res://addons/streamdit/msgpack.gd")
const SourceSender := preload("res://addons/streamdit/source_sender.gd")
const FrameSender := preload("res://addons/streamdit/frame_sender.gd")
const Session := preload("res://addons/streamdit/session.gd")

const REPLY := {"v2v": true, "width": 8, "height": 4, "fps": 16.0}


func test_an_image_becomes_a_numbered_rgb8_source_frame_at_the_stream_size() -> void:
	var sender := SourceSender.new()
	var image := Image.create(16, 8, false, Image.FORMAT_RGBA8)
	image.fill(Color(1.0, 0.0, 0.0, 0.5))
	var built := sender.build(image, REPLY, true, -1.0, false)
	check_eq(built.get("index"), 0, "the first index")
	var parts: Array[PackedByteArray] = built["parts"]
	check_eq(parts.size(), 2, "map, then pixels")
	var map: Dictionary = MsgPack.decode(parts[0]).value
	check_eq(map["type"], "source_frame", "type")
	check_eq([map["frame_index"], map["width"], map["height"]], [0, 8, 4], "index and size")
	check_eq(map["pixel_format"], "rgb8", "pixel format")
	check_eq(map["strength"], null, "nil strength: keep the session's")
	check_eq(map["anchor"], false, "anchor")
	check_eq(parts[1].size(), 8 * 4 * 3, "rgb8 bytes at the stream size")
	check_eq([parts[1][0], parts[1][1], parts[1][2]], [255, 0, 0], "red, alpha dropped")
	check_eq(image.get_format(), Image.FORMAT_RGBA8, "the game's image is left as it is")
	check_eq(image.get_width(), 16, "nor resized")
	var again := sender.build(image, REPLY, true, 0.25, true)
	var second: Dictionary = MsgPack.decode(again["parts"][0]).value
	check_eq([again["index"], second["strength"], second["anchor"]], [1, 0.25, true], "second")
	check_eq(sender.sent, 2, "sent")
	sender.reset()
	check_eq(sender.build(image, REPLY, true, -1.0, false)["index"], 0, "a new session: from 0")


func test_an_rgb8_image_of_the_right_size_goes_as_it_is() -> void:
	var image := Image.create(8, 4, false, Image.FORMAT_RGB8)
	image.set_pixel(1, 0, Color8(10, 20, 30))
	var built := SourceSender.new().build(image, REPLY, true, 1.0, false)
	check_eq(built["parts"][1], image.get_data(), "the same bytes")


func test_problems_are_reported_once_per_connection() -> void:
	var sender := SourceSender.new()
	var image := Image.create(8, 4, false, Image.FORMAT_RGB8)
	check_eq(sender.build(image, REPLY, false, -1.0, false).get("code"), "bad_settings", "no v2v")
	check_eq(sender.build(image, REPLY, false, -1.0, false), {}, "told once")
	var refused := {"v2v": false, "width": 8, "height": 4}
	var unsupported := sender.build(image, refused, true, -1.0, false)
	check_eq(unsupported.get("code"), "unsupported", "the runtime does not serve it")
	check(str(unsupported.get("message")).contains("v2v is false"), "names the reply's v2v")
	sender.reconnected()
	check_eq(sender.build(image, refused, true, -1.0, false).get("code"), "unsupported", "again")
	var bad := sender.build(image, REPLY, true, 1.5, false)
	check_eq(bad.get("code"), "invalid_argument", "strength above 1")
	check(str(bad.get("message")).contains("[0, 1]"), "names the range")
	var empty := sender.build(Image.new(), REPLY, true, -1.0, false)
	check_eq(empty.get("code"), "invalid_argument", "an empty image")
	check_eq(sender.sent, 0, "nothing was sent")


func test_frames_read_source_index_and_the_handshake_asks_for_v2v() -> void:
	var frame := {
		"type": "frame",
		"frame_index": 6,
		"chunk_index": 3,
		"pts_us": 375000,
		"event_id": 0,
		"width": 1,
		"height": 1,
		"pixel_format": "rgb8",
	}
	var pixels := PackedByteArray([1, 2, 3])
	var plain := Protocol.parse([MsgPack.encode(frame).value, pixels] as Array[PackedByteArray])
	check_eq(plain.fields["source_index"], -1, "absent: -1")
	frame["source_index"] = 4
	var named := Protocol.parse([MsgPack.encode(frame).value, pixels] as Array[PackedByteArray])
	check_eq(named.fields["source_index"], 4, "named")
	frame["source_index"] = "4"
	var bad := Protocol.parse([MsgPack.encode(frame).value, pixels] as Array[PackedByteArray])
	check(bad.error.contains("source_index"), "a source_index that is not an int: " + bad.error)
	var hello := Protocol.handshake("p", "", 1, 4, "", "", true, 0.75)
	check_eq(hello["capabilities"]["v2v"], true, "asks for v2v")
	check_eq(hello["settings"]["strength"], 0.75, "initial strength")
	check_eq(Protocol.handshake("p", "", 1, 4, "", "")["capabilities"]["v2v"], false, "default off")


func test_the_frame_sender_paces_at_its_rate() -> void:
	var node: FrameSender = FrameSender.new()
	var due: Array[bool] = []
	for t_ms: int in [0, 30, 62, 63, 130, 500, 501, 563]:
		due.append(node.due(t_ms * 1000, 16.0))  # a period of 62.5 ms
	check_eq(due, [true, false, false, true, true, true, false, true], "one per period, no burst")
	check(not node.due(10_000_000, 0.0), "rate 0: never")
	node.free()


func test_the_frame_sender_reports_a_missing_session_and_a_headless_engine_once() -> void:
	var node: FrameSender = FrameSender.new()
	var codes: Array[String] = []
	node.error.connect(func(code: String, _message: String) -> void: codes.append(code))
	tree.root.add_child(node)
	await next_frame()
	await next_frame()
	var session := Session.new()
	node.session = session
	await next_frame()
	await next_frame()
	check_eq(codes, ["bad_settings", "no_renderer"] as Array[String], "each once, in that order")
	check_eq(node.frames_sent, 0, "nothing sent")
	tree.root.remove_child(node)
	node.free()
	session.free()
