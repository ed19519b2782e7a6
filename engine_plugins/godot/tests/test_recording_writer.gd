## StreamDiTRecordingWriter and StreamDiTRecorder without a renderer: the shard layout and
## manifest of docs/recording.md, atomic shards, event stamping, the numbering of new shards, bad
## input refused with a message, and the recorder's headless fallback (record_image) and session
## hook. Files go under user://test_recordings/ (emptied before each test).
extends "res://tests/test_case.gd"

const Writer := preload("res://addons/streamdit/recording_writer.gd")
const Recorder := preload("res://addons/streamdit/recorder.gd")
const Session := preload("res://addons/streamdit/session.gd")
const ROOT := "user://test_recordings"


func test_shard_is_partial_until_closed_then_complete() -> void:
	var dir := _fresh("atomic")
	var writer := Writer.new(dir, "test game", 16.0, "vocab.toml")
	check_eq(writer.push_event("zombie_appears", {"distance": 3, "boss": true}), "", "push_event")
	check_eq(writer.append_frame(_pixels(4, 2, 7), 4, 2), "", "frame 0")
	check_eq(writer.push_event("night_falls"), "", "second event")
	check_eq(writer.push_event("cow_nearby", {"name": &"daisy"}), "", "third event")
	check_eq(writer.append_frame(_pixels(4, 2, 9), 4, 2), "", "frame 1")
	check_eq(writer.push_event("day_breaks"), "", "an event after the last frame")
	check_eq(DirAccess.get_directories_at(dir), PackedStringArray(["shard-00000.partial"]), "open")
	check(not FileAccess.file_exists(dir + "/shard-00000.partial/manifest.json"), "manifest early")
	check_eq(writer.close(), "", "close")
	check_eq(DirAccess.get_directories_at(dir), PackedStringArray(["shard-00000"]), "renamed")
	var shard := dir + "/shard-00000"
	check_eq(writer.shards, [shard] as Array[String], "shards")
	var frames := FileAccess.get_file_as_bytes(shard + "/frames.rgb")
	check_eq(frames, _pixels(4, 2, 7) + _pixels(4, 2, 9), "frames.rgb: the frames in order")
	var lines := FileAccess.get_file_as_string(shard + "/events.jsonl").strip_edges().split("\n")
	check_eq(lines.size(), 3, "three event lines")
	var first: Dictionary = JSON.parse_string(lines[0])
	check_eq(first["frame"], 0.0, "pushed before frame 0: frame 0")
	check_eq(first["type"], "zombie_appears", "type")
	check_eq(first["payload"], {"distance": 3.0, "boss": true}, "payload")
	check_eq(JSON.parse_string(lines[2])["frame"], 1.0, "pushed before frame 1: frame 1")
	check_eq(JSON.parse_string(lines[2])["payload"], {"name": "daisy"}, "StringName as String")
	var manifest: Dictionary = JSON.parse_string(
		FileAccess.get_file_as_string(shard + "/manifest.json")
	)
	check_eq(manifest["format"], "streamdit-recording", "format")
	check_eq(manifest["version"], 1.0, "version")
	check_eq(
		[manifest["width"], manifest["height"], manifest["frames"], manifest["events"]],
		[4.0, 2.0, 2.0, 3.0],
		"size and counts"
	)
	check_eq(manifest["events_after_last_frame"], 1.0, "day_breaks came after the last frame")
	check_eq([manifest["fps"], manifest["game"]], [16.0, "test game"], "fps and game")
	check_eq(manifest["vocabulary"], "vocab.toml", "vocabulary")
	check(str(manifest["recorder"]).begins_with("godot StreamDiTRecorder "), "recorder")
	check(str(manifest["created"]).ends_with("+00:00"), "created is UTC: %s" % manifest["created"])


func test_new_shards_take_the_next_free_number() -> void:
	var dir := _fresh("numbering")
	DirAccess.make_dir_recursive_absolute(dir + "/shard-00003")
	DirAccess.make_dir_recursive_absolute(dir + "/shard-00005.partial")
	var writer := Writer.new(dir, "g", 10.0)
	check_eq(writer.close_shard(), "", "closing with no shard open")
	check_eq(writer.shards.size(), 0, "no frame: no shard")
	writer.append_frame(_pixels(2, 2, 1), 2, 2)
	writer.close_shard()
	writer.append_frame(_pixels(2, 2, 2), 2, 2)
	writer.close_shard()
	check_eq(writer.shards, [dir + "/shard-00006", dir + "/shard-00007"] as Array[String], "next")
	var manifest: Dictionary = JSON.parse_string(
		FileAccess.get_file_as_string(dir + "/shard-00007/manifest.json")
	)
	check_eq([manifest["frames"], manifest["vocabulary"]], [1.0, null], "a fresh count, no vocab")


func test_bad_input_is_refused_with_the_fix() -> void:
	var writer := Writer.new(_fresh("bad"), "g", 10.0)
	check(writer.push_event("zombie-appears").contains("is not a name"), "a dash")
	check(writer.push_event("").contains("is not a name"), "empty")
	check(writer.push_event("x".repeat(65)).contains("at most 64"), "too long")
	check(writer.push_event("e", {"v": Vector2.ONE}).contains("values must be"), "a Vector2")
	check(writer.push_event("e", {1: "x"}).contains("keys must be Strings"), "an int key")
	check(writer.push_event("e", {"v": INF}).contains("JSON has no such number"), "inf")
	check(writer.append_frame(PackedByteArray([1, 2]), 1, 1).contains("needs 3 RGB bytes"), "short")
	check_eq(writer.append_frame(_pixels(3, 2, 0), 3, 2), "", "the first frame fixes the size")
	check(writer.append_frame(_pixels(2, 3, 0), 2, 3).contains("resize it"), "another size")
	check(writer.append_image(null).contains("no image"), "null image")
	var rgba := Image.create(3, 2, false, Image.FORMAT_RGBA8)
	rgba.fill(Color8(10, 20, 30, 40))
	check_eq(writer.append_image(rgba), "", "RGBA converted to RGB")
	check_eq(rgba.get_format(), Image.FORMAT_RGBA8, "the caller's image is left as it is")
	check_eq(writer.frames, 2, "the refused frames were not written")
	writer.close()


func test_recorder_records_images_and_session_events_headless() -> void:
	var dir := _fresh("node")
	var session := Session.new()
	session.autostart = false
	var recorder := Recorder.new()
	recorder.directory = dir
	recorder.game = "headless test"
	recorder.frame_size = Vector2i(4, 2)
	recorder.session = session
	var errors: Array[String] = []
	recorder.error.connect(func(code: String, _message: String) -> void: errors.append(code))
	var closed: Array = []
	recorder.shard_closed.connect(
		func(path: String, n: int, e: int) -> void: closed.append([path, n, e])
	)
	tree.root.add_child(session)
	tree.root.add_child(recorder)
	check(recorder.recording, "autostart")
	check_eq(errors, ["no_renderer"] as Array[String], "headless is reported once")
	session.push_event("zombie_appears", {"hp": 3})
	check(recorder.push_event("cow_nearby"), "recorder.push_event")
	check(not recorder.push_event("bad type"), "a bad event is not recorded")
	var image := Image.create(8, 4, false, Image.FORMAT_RGB8)
	image.fill(Color8(200, 100, 50))
	check(recorder.record_image(image), "record_image")
	check_eq(image.get_size(), Vector2i(8, 4), "the game's image is not resized")
	await next_frame()
	await next_frame()
	check_eq(recorder.frames_recorded, 1, "headless: only the frames given to record_image")
	recorder.new_shard()
	session.push_event("night_falls")
	recorder.record_image(image)
	recorder.queue_free()
	session.queue_free()
	await next_frame()
	check_eq(closed.size(), 2, "two shards, the second closed when the node left the tree")
	check_eq(closed[0], [dir + "/shard-00000", 1, 2], "shard 0: 1 frame, 2 events")
	check_eq(closed[1], [dir + "/shard-00001", 1, 1], "shard 1")
	check_eq(errors, ["no_renderer", "bad_event"] as Array[String], "errors")
	var pixels := FileAccess.get_file_as_bytes(dir + "/shard-00000/frames.rgb")
	check_eq(pixels.size(), 4 * 2 * 3, "scaled to frame_size")
	check_eq([pixels[0], pixels[1], pixels[2]], [200, 100, 50], "the image's colour")


func test_recorder_reports_a_missing_vocabulary_and_unknown_types() -> void:
	var recorder := Recorder.new()
	recorder.directory = _fresh("vocab")
	recorder.autostart = false
	recorder.capture_viewport = false
	var errors: Array[String] = []
	recorder.error.connect(func(code: String, message: String) -> void: errors.append(message))
	recorder.vocabulary_path = "res://tests/no_such_vocabulary.toml"
	recorder.start()
	check(not recorder.recording, "an unreadable vocabulary stops start()")
	check(errors.size() == 1 and errors[0].contains("cannot read the vocabulary"), str(errors))
	recorder.vocabulary_path = "res://tests/test_prompts.toml"
	errors.clear()
	recorder.start()
	check(recorder.recording, "started with the vocabulary")
	check(recorder.push_event("zombie_appears"), "a known type")
	check(recorder.push_event("dragon_lands"), "an unknown type is still recorded")
	recorder.push_event("dragon_lands")
	check_eq(errors.size(), 1, "reported once per type")
	check(errors[-1].contains("[events.dragon_lands]"), "the fix: %s" % str(errors))
	recorder.stop()
	recorder.free()


func _fresh(name: String) -> String:
	var dir := ROOT.path_join(name)
	_remove(dir)
	DirAccess.make_dir_recursive_absolute(dir)
	return dir


func _remove(path: String) -> void:
	if not DirAccess.dir_exists_absolute(path):
		return
	for sub in DirAccess.get_directories_at(path):
		_remove(path.path_join(sub))
	for file in DirAccess.get_files_at(path):
		DirAccess.remove_absolute(path.path_join(file))
	DirAccess.remove_absolute(path)


func _pixels(width: int, height: int, offset: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(width * height * 3)
	for i in out.size():
		out[i] = (i * 7 + offset) % 256
	return out
