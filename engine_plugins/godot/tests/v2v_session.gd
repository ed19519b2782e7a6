## Video-to-video scene for tests/test_godot_v2v.py: a StreamDiTSession with v2v on against a real
## runtime (streamdit serve), in one of two modes.
##
## --mode=image (the headless engine, which draws nothing): the scene draws an Image itself (a
## gradient that moves each call, at twice the stream's size, RGBA8: send_frame converts and
## resizes it) and sends one every third game frame, the first as an anchor. A StreamDiTFrameSender
## is there too: it must report no_renderer once and send nothing.
## --mode=viewport (tools/godot-gl, a real renderer): a StreamDiTFrameSender sends a 64x64
## SubViewport (a background and a white square that moves 1 px per frame) at --rate Hz.
##
## It stops once --min-frames frames named a source frame and the runtime's stats counted the
## frames it got, then writes what it saw to result.json in --out.
##
## godot-headless --path PROJECT res://tests/v2v_session.tscn -- --port=P --out=v2v_out
## (--transport=websocket --port=WEB_PORT: the same over the runtime's WebSocket)
## Exit codes: 0 done, 2 the session failed, 3 timeout.
extends Node

const Session := preload("res://addons/streamdit/session.gd")
const FrameSender := preload("res://addons/streamdit/frame_sender.gd")
const TIMEOUT_MS := 60000
const VIEW := Vector2i(64, 64)

var _session := Session.new()
var _sender := FrameSender.new()
var _viewport := SubViewport.new()
var _square := ColorRect.new()
var _mode := "image"
var _out_dir := "v2v_out"
var _min_frames := 16
var _started_ms := 0
var _streaming_ms := -1
var _sent: Array[int] = []
var _named: Array[int] = []
var _unnamed := 0
var _errors: Array[String] = []
var _sender_errors: Array[String] = []
var _finished := false
var _tick := 0


func _ready() -> void:
	Engine.max_fps = 60
	for arg in OS.get_cmdline_user_args():
		var value := arg.get_slice("=", 1)
		match arg.get_slice("=", 0):
			"--port":
				_session.port = int(value)
			"--out":
				_out_dir = value
			"--min-frames":
				_min_frames = int(value)
			"--transport":
				_session.transport = value
			"--mode":
				_mode = value
			"--rate":
				_sender.send_rate_hz = float(value)
	_session.autostart = false
	_session.seed = 1
	_session.prompt = "a meadow at noon"  # the tiny checkpoint has no prompt map
	_session.v2v = true
	_session.strength = 0.5
	_session.error.connect(_on_error)
	_session.frame_received.connect(_on_frame)
	add_child(_session)
	_build_viewport()
	_sender.session = _session
	_sender.viewport = _viewport
	_sender.error.connect(func(code: String, _text: String) -> void: _sender_errors.append(code))
	_sender.frame_sent.connect(func(index: int) -> void: _sent.append(index))
	add_child(_sender)
	_started_ms = Time.get_ticks_msec()
	_session.start()


func _build_viewport() -> void:
	_viewport.size = VIEW
	_viewport.render_target_update_mode = SubViewport.UPDATE_ALWAYS
	var background := ColorRect.new()
	background.size = Vector2(VIEW)
	background.color = Color8(40, 120, 40)
	_square.size = Vector2(16, 16)
	_square.color = Color.WHITE
	_viewport.add_child(background)
	_viewport.add_child(_square)
	add_child(_viewport)


func _process(_delta: float) -> void:
	if _finished:
		return
	if _session.state == Session.State.FAILED:
		_finish(2, "the session failed: %s" % str(_session.last_error))
		return
	if Time.get_ticks_msec() - _started_ms > TIMEOUT_MS:
		_finish(3, "timeout: %d frames named a source, %d did not" % [_named.size(), _unnamed])
		return
	_tick += 1
	_square.position = Vector2(_tick % (VIEW.x - 16), 24)
	if _session.state != Session.State.STREAMING:
		return
	if _streaming_ms < 0:
		_streaming_ms = Time.get_ticks_msec()
	if _mode == "image" and _tick % 3 == 0:  # about 20 a second at 60 game frames a second
		var index := _session.send_frame(_draw(_tick), -1.0, _sent.is_empty())
		if index >= 0:
			_sent.append(index)
	var received: int = _session.stats.get("source_frames_received", 0)
	if _named.size() >= _min_frames and received > 0:
		_finish(0, "")


func _on_error(code: String, text: String) -> void:
	_errors.append(code + ": " + text)


func _on_frame(_texture: ImageTexture, info: Dictionary) -> void:
	var source: int = info["source_index"]
	if source >= 0:
		_named.append(source)
	else:
		_unnamed += 1


## A gradient at twice the stream's size that moves one pixel per call, RGBA8.
func _draw(t: int) -> Image:
	var w: int = _session.session_info["width"] * 2
	var h: int = _session.session_info["height"] * 2
	var image := Image.create(w, h, false, Image.FORMAT_RGBA8)
	for y in h:
		for x in w:
			image.set_pixel(x, y, Color8((x + t) * 4 % 256, y * 4 % 256, 128))
	return image


## What the frame sender captures, at two places: the background's corner and the square's centre.
func _viewport_pixels() -> Array:
	if _mode != "viewport":
		return []
	var image := _viewport.get_texture().get_image()
	var at := Vector2i(_square.position) + Vector2i(8, 8)
	var out := []
	for p: Vector2i in [Vector2i(2, 2), at]:
		var c := image.get_pixelv(p)
		out.append([c.r8, c.g8, c.b8])
	return out


func _finish(code: int, why: String) -> void:
	_finished = true
	var result := {
		"ok": code == 0,
		"why": why,
		"mode": _mode,
		"renderer": RenderingServer.get_current_rendering_driver_name(),
		"display": DisplayServer.get_name(),
		"transport": _session.transport,
		"sent": _sent,
		"named": _named,
		"unnamed": _unnamed,
		"source_frames_sent": _session.source_frames_sent,
		"sender_frames_sent": _sender.frames_sent,
		"sender_errors": _sender_errors,
		"streaming_s": (Time.get_ticks_msec() - _streaming_ms) / 1000.0,
		"stream_fps": _session.session_info.get("fps", 0.0),
		"stats": _session.stats,
		"errors": _errors,
		"v2v": _session.session_info.get("v2v", false),
		"viewport_pixels": _viewport_pixels(),
	}
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path("res://" + _out_dir))
	var file := FileAccess.open("res://%s/result.json" % _out_dir, FileAccess.WRITE)
	file.store_string(JSON.stringify(result))
	file.close()
	_session.close("test over")
	get_tree().quit(code)
