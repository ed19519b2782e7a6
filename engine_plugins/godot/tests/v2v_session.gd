## Video-to-video scene for tests/test_godot_v2v.py: a StreamDiTSession with v2v on against a real
## runtime (streamdit serve). The headless engine draws nothing, so the scene draws an Image itself
## (a gradient that moves each frame, at twice the stream's size, RGBA8: send_frame converts and
## resizes it) and sends one per game frame while streaming, the first as an anchor. It stops once
## --min-frames frames named a source frame and the runtime's stats counted the frames it got,
## then writes what it saw to result.json in --out.
##
## godot-headless --path PROJECT res://tests/v2v_session.tscn -- --port=P --out=v2v_out
## (--transport=websocket --port=WEB_PORT: the same over the runtime's WebSocket)
## Exit codes: 0 done, 2 the session failed, 3 timeout.
extends Node

const Session := preload("res://addons/streamdit/session.gd")
const TIMEOUT_MS := 60000

var _session := Session.new()
var _out_dir := "v2v_out"
var _min_frames := 16
var _deadline := 0
var _sent: Array[int] = []
var _named: Array[int] = []
var _unnamed := 0
var _errors: Array[String] = []
var _finished := false
var _tick := 0


func _ready() -> void:
	Engine.max_fps = 60
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			_session.port = int(arg.trim_prefix("--port="))
		elif arg.begins_with("--out="):
			_out_dir = arg.trim_prefix("--out=")
		elif arg.begins_with("--min-frames="):
			_min_frames = int(arg.trim_prefix("--min-frames="))
		elif arg.begins_with("--transport="):
			_session.transport = arg.trim_prefix("--transport=")
	_session.autostart = false
	_session.seed = 1
	_session.prompt = "a meadow at noon"  # the tiny checkpoint has no prompt map
	_session.v2v = true
	_session.strength = 0.5
	_session.error.connect(_on_error)
	_session.frame_received.connect(_on_frame)
	add_child(_session)
	_deadline = Time.get_ticks_msec() + TIMEOUT_MS
	_session.start()


func _process(_delta: float) -> void:
	if _finished:
		return
	if _session.state == Session.State.FAILED:
		_finish(2, "the session failed: %s" % str(_session.last_error))
		return
	if Time.get_ticks_msec() > _deadline:
		_finish(3, "timeout: %d frames named a source, %d did not" % [_named.size(), _unnamed])
		return
	if _session.state != Session.State.STREAMING:
		return
	_tick += 1
	if _tick % 3 == 0:  # about 20 a second at 60 game frames a second
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


func _finish(code: int, why: String) -> void:
	_finished = true
	var result := {
		"ok": code == 0,
		"why": why,
		"transport": _session.transport,
		"sent": _sent,
		"named": _named,
		"unnamed": _unnamed,
		"source_frames_sent": _session.source_frames_sent,
		"stats": _session.stats,
		"errors": _errors,
		"v2v": _session.session_info.get("v2v", false),
	}
	DirAccess.make_dir_recursive_absolute(ProjectSettings.globalize_path("res://" + _out_dir))
	var file := FileAccess.open("res://%s/result.json" % _out_dir, FileAccess.WRITE)
	file.store_string(JSON.stringify(result))
	file.close()
	_session.close("test over")
	get_tree().quit(code)
