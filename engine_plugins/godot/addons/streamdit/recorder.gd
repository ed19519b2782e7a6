@icon("res://addons/streamdit/icon.svg")
## Records your game for fitting a StreamDiT to it: the viewport's pixels at [member fps] frames per
## second of game time, together with the events the game pushes, in the project's recording format
## (docs/recording.md), under [code]user://[/code] by default. [code]streamdit data import[/code]
## turns the folder into a training set.
##
## Events come from [member session] (every [method StreamDiTSession.push_event] call the game
## already makes is recorded too) or from [method push_event] here, for a game that records without
## streaming. Each event is stamped with the first frame recorded after it was pushed.
##
## Frames are taken after the engine has drawn them ([signal RenderingServer.frame_post_draw]),
## scaled to [member frame_size], on the main thread. When the game draws slower than [member fps],
## the last frame is written again for each frame period that passed, so the recording keeps game
## time ([member frames_repeated] counts them). A shard is one episode: [method new_shard] closes it
## (and a scene change does, when this node leaves the tree); each closed shard is complete on disk,
## so a game that crashes keeps every shard it closed.
##
## The headless engine ([code]--headless[/code]) renders nothing: there, [signal error] says so
## (no_renderer) and only the frames passed to [method record_image] are recorded.
##
## [codeblock]
## @onready var recorder: StreamDiTRecorder = $StreamDiTRecorder  # session, fps, folder: inspector
## func _on_level_finished() -> void:
##     recorder.new_shard()  # one shard per episode
## [/codeblock]
class_name StreamDiTRecorder
extends Node

## A shard was closed and is complete on disk: [param path] holds [param frames] frames and
## [param events] events.
signal shard_closed(path: String, frames: int, events: int)
## Something went wrong; [param message] says what to check. Codes: bad_settings, no_renderer,
## bad_event (not recorded), unknown_event (not in the vocabulary; recorded all the same),
## write_failed (recording stopped).
signal error(code: String, message: String)

const Writer := preload("res://addons/streamdit/recording_writer.gd")
const Session := preload("res://addons/streamdit/session.gd")

## The recording's folder; shards go inside it, numbered on from those already there. user:// is
## the game's data folder (Project Settings > Application > Config > Use Custom User Dir).
@export var directory := "user://recordings/recording"
## The game's name, stored in each shard; empty = the project's name.
@export var game := ""
## Frames recorded per second of game time (the frame rate the model will learn).
@export_range(1.0, 120.0, 0.5, "suffix:FPS") var fps := 16.0
## Size of the recorded frames in pixels: the viewport's pixels are scaled to it (Lanczos).
## (0, 0) = the viewport's size at the first frame; later frames are scaled to that.
@export var frame_size := Vector2i.ZERO
## The vocabulary (TOML, shaped like a prompt map: one [events.TYPE] table per event type). Its
## file name goes into each shard; an event type it lacks is reported (unknown_event), and
## recorded all the same. Empty = none.
@export_file("*.toml") var vocabulary_path := ""
## A StreamDiTSession whose push_event calls are recorded too.
@export var session: Session:
	set = _set_session
## The viewport to record (e.g. a SubViewport); empty = the one this node is in (the game window).
@export var viewport: Viewport
## Record the viewport by itself. Off: only the frames passed to [method record_image].
@export var capture_viewport := true
## Start recording when the node enters the scene tree; otherwise call [method start].
@export var autostart := true
## Close the shard and open another after this many frames; 0 = no limit.
@export_range(0, 1000000) var max_frames_per_shard := 0

## Whether frames and events are being recorded.
var recording: bool:
	get:
		return _recording
## Frames written, in all shards (repeats included).
var frames_recorded := 0
## Frames written again because the game drew slower than [member fps].
var frames_repeated := 0
## Events written or waiting for the next frame.
var events_recorded := 0
## The shards closed so far (their folders), in order.
var shards: Array[String]:
	get:
		return _writer.shards if _writer != null else [] as Array[String]
## The last error: code, message.
var last_error: Dictionary = {}

var _writer: Writer = null
var _recording := false
var _clock_s := 0.0
var _due := 0
var _vocabulary: Dictionary = {}
var _reported: Dictionary = {}


func _ready() -> void:
	if autostart:
		start()


func _enter_tree() -> void:
	RenderingServer.frame_post_draw.connect(_on_frame_drawn)


func _exit_tree() -> void:
	stop()
	RenderingServer.frame_post_draw.disconnect(_on_frame_drawn)


func _process(delta: float) -> void:
	if not _recording or not capture_viewport:
		return
	_clock_s += delta
	var period := 1.0 / fps
	if _clock_s >= period:
		var periods := int(_clock_s / period)
		_clock_s -= periods * period
		_due += periods


## Starts recording (after closing the open shard, if any). The first frame is the next one drawn.
func start() -> void:
	stop()
	_reported.clear()
	_vocabulary.clear()
	var vocabulary_name := ""
	if vocabulary_path != "":
		var text := FileAccess.get_file_as_string(vocabulary_path)
		if FileAccess.get_open_error() != OK:
			var why := error_string(FileAccess.get_open_error())
			_report("bad_settings", "cannot read the vocabulary %s (%s)" % [vocabulary_path, why])
			return
		for found in (
			RegEx
			. create_from_string(
				'(?m)^\\s*\\[\\s*events\\s*\\.\\s*"?([A-Za-z_][A-Za-z0-9_]*)"?\\s*\\]'
			)
			. search_all(text)
		):
			_vocabulary[found.get_string(1)] = true
		vocabulary_name = vocabulary_path.get_file()
	var game_name := game
	if game_name == "":
		game_name = str(ProjectSettings.get_setting("application/config/name"))
	_writer = Writer.new(directory, game_name, fps, vocabulary_name)
	_recording = true
	_clock_s = 0.0
	_due = 1
	if capture_viewport and DisplayServer.get_name() == "headless":
		_report(
			"no_renderer",
			(
				"the engine runs headless: it draws no pixels to record. Run it with a rendering "
				+ "driver (e.g. --rendering-driver opengl3), or pass frames to record_image()"
			)
		)


## Closes the open shard and stops recording. Events pushed since the last frame are left out (no
## frame shows them); the shard's manifest counts them.
func stop() -> void:
	if _recording:
		_close_shard()
	_recording = false
	_due = 0


## Closes the open shard (an episode ended); the next frame starts a new one.
func new_shard() -> void:
	if _recording:
		_close_shard()


## Records an event, stamped with the next frame recorded. [param payload]: String keys; String,
## int, float or bool values. Returns false when it was not recorded (not recording, or a bad event:
## [signal error] says why).
func push_event(type: String, payload: Dictionary = {}) -> bool:
	if not _recording:
		return false
	var problem := _writer.push_event(type, payload)
	if problem != "":
		_report("bad_event", problem + "; it was not recorded")
		return false
	events_recorded += 1
	if not _vocabulary.is_empty() and not _vocabulary.has(type) and not _reported.has(type):
		_reported[type] = true
		_report(
			"unknown_event",
			(
				(
					"event type %s is not in the vocabulary %s: add an [events.%s] table to it, or the "
					+ "import will refuse this recording"
				)
				% [type, vocabulary_path, type]
			)
		)
	return true


## Records [param image] as the next frame (scaled to [member frame_size]; the image itself is not
## changed). For frames the game makes itself, or a headless engine. Returns false when it was not
## recorded.
func record_image(image: Image) -> bool:
	if not _recording:
		return false
	if image == null or image.is_empty():
		_report("bad_settings", "record_image got no image (null or empty)")
		return false
	return _record(image.duplicate() as Image, 1)


func _on_frame_drawn() -> void:
	if not _recording or _due == 0:
		return
	var source := viewport if viewport != null else get_viewport()
	var copies := _due
	_due = 0
	if source == null or DisplayServer.get_name() == "headless":
		return
	var image := source.get_texture().get_image()
	if image == null or image.is_empty():
		return
	_record(image, copies)
	frames_repeated += copies - 1


## Scales [param image] (which it may change) to the recording's size, then writes it [param copies]
## times.
func _record(image: Image, copies: int) -> bool:
	var size := frame_size
	if size == Vector2i.ZERO:
		size = Vector2i(_writer.width, _writer.height) if _writer.width > 0 else image.get_size()
	if image.is_compressed():
		image.decompress()
	image.clear_mipmaps()
	image.convert(Image.FORMAT_RGB8)
	if image.get_size() != size:
		image.resize(size.x, size.y, Image.INTERPOLATE_LANCZOS)
	var pixels := image.get_data()
	for i in copies:
		var problem := _writer.append_frame(pixels, size.x, size.y)
		if problem != "":
			_recording = false
			_report("write_failed", problem + "; recording stopped")
			return false
		frames_recorded += 1
		if max_frames_per_shard > 0 and _writer.frames >= max_frames_per_shard:
			_close_shard()
	return true


func _close_shard() -> void:
	var was_open := _writer.is_shard_open()
	var problem := _writer.close_shard()
	if problem != "":
		_recording = false
		_report("write_failed", problem + "; recording stopped")
	elif was_open:
		shard_closed.emit(_writer.shards[-1], _writer.frames, _writer.events)


func _set_session(value: Session) -> void:
	if session != null and session.event_pushed.is_connected(_on_session_event):
		session.event_pushed.disconnect(_on_session_event)
	session = value
	if session != null:
		session.event_pushed.connect(_on_session_event)


func _on_session_event(_event_id: int, type: String, payload: Dictionary) -> void:
	push_event(type, payload)


func _report(code: String, message: String) -> void:
	last_error = {"code": code, "message": message}
	error.emit(code, message)
