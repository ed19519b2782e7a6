## Writes a recording in the project's format (docs/recording.md, version 1): a folder of shards,
## each one episode or play session, holding the frames as raw RGB ([code]frames.rgb[/code], rows
## top to bottom), the events as JSON lines ([code]events.jsonl[/code]) and a
## [code]manifest.json[/code] written last. A shard is written into [code]NAME.partial/[/code] and
## renamed to [code]NAME/[/code] when it closes, so an interrupted recording keeps every shard it
## closed, and readers never see half a shard. A folder that already holds shards keeps them; new
## ones take the next free number.
##
## [StreamDiTRecorder] drives it; it needs no node and no renderer. Each method returns "" when
## it worked, or what went wrong and how to fix it; nothing throws, and nothing written is lost.
##
## [codeblock]
## var writer := StreamDiTRecordingWriter.new("user://recordings/take1", "my game", 16.0)
## writer.push_event("zombie_appears", {"distance": 3})  # shows from the next frame on
## var problem := writer.append_image(image)  # any size and format; the first fixes the size
## writer.close()
## [/codeblock]
class_name StreamDiTRecordingWriter
extends RefCounted

const Protocol := preload("res://addons/streamdit/protocol.gd")
const FORMAT := "streamdit-recording"
const VERSION := 1
const MAX_EVENT_TYPE := 64
## The manifest's [code]recorder[/code]: the writer and its version.
const RECORDER := "godot StreamDiTRecorder " + Protocol.CLIENT_VERSION

## The recording's folder (user://, res:// in the editor, or an absolute path).
var directory := ""
## The game's name, stored in each manifest.
var game := ""
## Frames per second of game time between recorded frames.
var fps := 16.0
## The vocabulary (a file name) the event types come from; "" = none.
var vocabulary := ""
## Frame size in pixels, fixed by the first frame (0 before it).
var width := 0
var height := 0
## The shards this writer closed, in order (their folders).
var shards: Array[String] = []
## Frames and event lines in the open shard.
var frames := 0
var events := 0

var _dir := ""
var _frames_file: FileAccess = null
var _events_file: FileAccess = null
var _pending: Array[Dictionary] = []
var _name_pattern := RegEx.create_from_string("^[A-Za-z_][A-Za-z0-9_]*$")


func _init(p_directory: String, p_game: String, p_fps: float, p_vocabulary := "") -> void:
	directory = p_directory
	game = p_game
	fps = p_fps
	vocabulary = p_vocabulary


## Why [param event_type] and [param payload] cannot be a recorded event; "" when they can. Types
## are names ([code][A-Za-z_][A-Za-z0-9_]*[/code], at most 64 characters); payloads map String keys
## to String, int, finite float or bool values.
func check_event(event_type: String, payload: Dictionary) -> String:
	if _name_pattern.search(event_type) == null or event_type.length() > MAX_EVENT_TYPE:
		return (
			(
				"event type %s is not a name: use letters, digits and _, starting with a letter or _, "
				+ "at most %d characters"
			)
			% [JSON.stringify(event_type.left(80)), MAX_EVENT_TYPE]
		)
	for key: Variant in payload:
		var value: Variant = payload[key]
		var kind := typeof(value)
		if typeof(key) != TYPE_STRING and typeof(key) != TYPE_STRING_NAME:
			return "event %s: payload keys must be Strings, got %s" % [event_type, str(key)]
		if kind not in [TYPE_STRING, TYPE_STRING_NAME, TYPE_INT, TYPE_FLOAT, TYPE_BOOL]:
			return (
				"event %s: payload[%s] is a %s; values must be String, int, float or bool"
				% [event_type, key, type_string(kind)]
			)
		if kind == TYPE_FLOAT and not is_finite(value):
			return "event %s: payload[%s] is %s; JSON has no such number" % [event_type, key, value]
	return ""


## Records an event; it is stamped with the index of the next frame appended, the first frame that
## can show it (docs/recording.md, "Events").
func push_event(event_type: String, payload: Dictionary = {}) -> String:
	var problem := check_event(event_type, payload)
	if problem != "":
		return problem
	var values := {}
	for key: Variant in payload:
		values[String(key)] = String(payload[key]) if payload[key] is StringName else payload[key]
	_pending.append({"type": event_type, "payload": values})
	return ""


## Appends one frame: a copy of [param image] in RGB8 (the image itself is left as it is). The first
## frame of the recording fixes [member width] and [member height]; a later one of another size is
## refused.
func append_image(image: Image) -> String:
	if image == null or image.is_empty():
		return "no image to record (null or empty)"
	var rgb := image
	if image.get_format() != Image.FORMAT_RGB8 or image.has_mipmaps():
		rgb = image.duplicate() as Image
		if rgb.is_compressed() and rgb.decompress() != OK:
			return "the image is compressed in a format that cannot be decompressed here"
		rgb.clear_mipmaps()
		rgb.convert(Image.FORMAT_RGB8)
	return append_frame(rgb.get_data(), rgb.get_width(), rgb.get_height())


## Appends one frame of raw RGB8 pixels ([param frame_width] x [param frame_height] x 3 bytes,
## rows top to bottom); returns "" or the problem.
func append_frame(rgb: PackedByteArray, frame_width: int, frame_height: int) -> String:
	if frame_width < 1 or frame_height < 1 or rgb.size() != frame_width * frame_height * 3:
		return (
			"a frame of %dx%d px needs %d RGB bytes, got %d"
			% [frame_width, frame_height, maxi(frame_width * frame_height * 3, 0), rgb.size()]
		)
	if width == 0:
		width = frame_width
		height = frame_height
	elif frame_width != width or frame_height != height:
		return (
			"frame %d is %dx%d px; this recording is %dx%d: resize it, or start another recording"
			% [frames, frame_width, frame_height, width, height]
		)
	var problem := _ensure_shard()
	if problem != "":
		return problem
	for event: Dictionary in _pending:
		var line := {"frame": frames, "type": event["type"], "payload": event["payload"]}
		_events_file.store_line(JSON.stringify(line, "", false))
		events += 1
	_pending.clear()
	_frames_file.store_buffer(rgb)
	if _frames_file.get_error() != OK:
		return _io_error("cannot write frames.rgb", _frames_file.get_error())
	frames += 1
	return ""


## Whether a shard is open (a frame was appended since the last close).
func is_shard_open() -> bool:
	return _dir != ""


## Closes the open shard: writes its manifest and renames it from NAME.partial to NAME. Events
## pushed since the last frame show in no frame: they are counted in the manifest
## (events_after_last_frame), not written. "" when done (also when no shard was open).
func close_shard() -> String:
	var after_last := _pending.size()
	_pending.clear()
	if _dir == "":
		return ""
	for file: FileAccess in [_frames_file, _events_file]:
		file.flush()
		file.close()
	_frames_file = null
	_events_file = null
	var manifest := {
		"format": FORMAT,
		"version": VERSION,
		"game": game,
		"fps": fps,
		"width": width,
		"height": height,
		"frames": frames,
		"events": events,
		"events_after_last_frame": after_last,
		"vocabulary": vocabulary if vocabulary != "" else null,
		"recorder": RECORDER,
		"created": Time.get_datetime_string_from_system(true) + "+00:00",
	}
	var partial := _dir
	_dir = ""
	var out := FileAccess.open(partial.path_join("manifest.json"), FileAccess.WRITE)
	if out == null:
		return _io_error("cannot write %s/manifest.json" % partial, FileAccess.get_open_error())
	out.store_string(JSON.stringify(manifest, " ", false) + "\n")
	out.close()
	var final := partial.trim_suffix(".partial")
	var err := DirAccess.rename_absolute(partial, final)
	if err != OK:
		return _io_error("cannot rename %s to %s" % [partial, final], err)
	shards.append(final)
	return ""


## Closes the open shard (see [method close_shard]).
func close() -> String:
	return close_shard()


func _ensure_shard() -> String:
	if _dir != "":
		return ""
	var err := DirAccess.make_dir_recursive_absolute(directory)
	if err != OK:
		return _io_error("cannot create the recording folder %s" % directory, err)
	var taken := -1
	var shard_name := RegEx.create_from_string("^shard-(\\d+)(\\.partial)?$")
	for entry in DirAccess.get_directories_at(directory):
		var found := shard_name.search(entry)
		if found != null:
			taken = maxi(taken, int(found.get_string(1)))
	_dir = directory.path_join("shard-%05d.partial" % (taken + 1))
	err = DirAccess.make_dir_absolute(_dir)
	if err != OK:
		_dir = ""
		return _io_error("cannot create a shard in %s" % directory, err)
	_frames_file = FileAccess.open(_dir.path_join("frames.rgb"), FileAccess.WRITE)
	_events_file = FileAccess.open(_dir.path_join("events.jsonl"), FileAccess.WRITE)
	if _frames_file == null or _events_file == null:
		_dir = ""
		return _io_error(
			"cannot create the shard's files in %s" % directory, FileAccess.get_open_error()
		)
	frames = 0
	events = 0
	return ""


func _io_error(what: String, err: Error) -> String:
	return (
		"%s (%s): check that the folder is writable and the disk is not full"
		% [what, error_string(err)]
	)
