## End-to-end scene for tests/test_godot_e2e.py: a StreamDiTSession against a real runtime
## (streamdit serve). Connects, pushes an event after the first frames, takes at least
## --min-frames frames, checks that a frame carries the event's id, saves the newest frame as a PNG
## and writes what it measured to result.json, both in --out (a directory of the project).
## It polls the session itself, to time every poll.
##
## godot-headless --path PROJECT res://tests/e2e_session.tscn -- --port=P --out=e2e_out
## Exit codes: 0 done, 1 a check failed, 2 the session failed, 3 timeout.
extends Node

const Session := preload("res://addons/streamdit/session.gd")
const EVENT := "zombie_appears"
const TIMEOUT_MS := 60000
## Frames to see before the event is pushed (the stream is warm by then).
const FRAMES_BEFORE_EVENT := 4

var _session := Session.new()
var _out_dir := "e2e_out"
var _min_frames := 32
var _deadline := 0
var _event_id := 0
var _event_pushed_us := 0
var _event_frame := {}
var _ack_prompt := ""
var _first_frame_s := 0.0
var _frames_at_first := 0
var _last_frame_s := 0.0
var _max_poll_us := 0
var _polls := 0
var _errors: Array[String] = []
var _finished := false


func _ready() -> void:
	Engine.max_fps = 60  # a game's frame rate; headless has no vsync to hold it
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			_session.port = int(arg.trim_prefix("--port="))
		elif arg.begins_with("--out="):
			_out_dir = arg.trim_prefix("--out=")
		elif arg.begins_with("--min-frames="):
			_min_frames = int(arg.trim_prefix("--min-frames="))
	_session.autostart = false
	_session.prompt_map_path = "res://sample/crafter_prompts.toml"
	_session.seed = 1
	_session.error.connect(_on_error)
	_session.event_applied.connect(_on_event_applied)
	_session.frame_received.connect(_on_frame)
	add_child(_session)
	_session.set_process(false)
	_deadline = Time.get_ticks_msec() + TIMEOUT_MS
	_session.start()


func _process(_delta: float) -> void:
	var before := _session.frames_received
	var t0 := Time.get_ticks_usec()
	_session.poll()
	_max_poll_us = maxi(_max_poll_us, Time.get_ticks_usec() - t0)
	_polls += 1
	if _session.frames_received > before:
		var now := Time.get_unix_time_from_system()
		if _first_frame_s == 0.0:
			_first_frame_s = now
			_frames_at_first = _session.frames_received
		_last_frame_s = now
	if _session.state == Session.State.FAILED:
		_finish(2, "the session failed: %s" % _session.last_error.get("message"))
	elif _event_id == 0 and _session.frames_received >= FRAMES_BEFORE_EVENT:
		_event_id = _session.push_event(EVENT, {})
		_event_pushed_us = Time.get_ticks_usec()
	elif _session.frames_received >= _min_frames and not _event_frame.is_empty():
		_finish(0, "")
	elif Time.get_ticks_msec() > _deadline:
		_finish(
			3,
			(
				"timed out: %d frames, event frame %s, state %s"
				% [_session.frames_received, _event_frame, Session.State.keys()[_session.state]]
			)
		)


func _on_frame(_texture: ImageTexture, info: Dictionary) -> void:
	if _event_id > 0 and info["event_id"] == _event_id and _event_frame.is_empty():
		_event_frame = info.duplicate()
		_event_frame["latency_ms"] = (Time.get_ticks_usec() - _event_pushed_us) / 1000.0


func _on_event_applied(event_id: int, prompt: String) -> void:
	if event_id == _event_id:
		_ack_prompt = prompt


func _on_error(code: String, message: String) -> void:
	_errors.append("%s: %s" % [code, message])
	print("E2E error %s: %s" % [code, message])


func _finish(code: int, why: String) -> void:
	if _finished:
		return
	_finished = true
	var dir := ProjectSettings.globalize_path("res://").path_join(_out_dir)
	DirAccess.make_dir_recursive_absolute(dir)
	var png := dir.path_join("frame.png")
	var image := _session.get_image()
	if image != null and _session.frames_shown > 0 and image.save_png(png) != OK:
		code = 1
		why = "cannot save %s" % png
	var window := _last_frame_s - _first_frame_s
	var result := {
		"ok": code == 0,
		"why": why,
		"frames_received": _session.frames_received,
		"frames_shown": _session.frames_shown,
		"frames_dropped": _session.frames_dropped,
		"window_s": window,
		"window_frames": _session.frames_received - _frames_at_first,
		"fps_received":
		(_session.frames_received - _frames_at_first) / window if window > 0 else 0.0,
		"first_frame_unix_s": _first_frame_s,
		"last_frame_unix_s": _last_frame_s,
		"event_type": EVENT,
		"event_id": _event_id,
		"event_frame": _event_frame,
		"ack_prompt": _ack_prompt,
		"session_info": _session.session_info,
		"texture_size": [_session.texture.get_width(), _session.texture.get_height()],
		"max_poll_us": _max_poll_us,
		"polls": _polls,
		"errors": _errors,
		"png": png,
	}
	var file := FileAccess.open(dir.path_join("result.json"), FileAccess.WRITE)
	file.store_string(JSON.stringify(result, "  "))
	file.close()
	print("E2E %s %s" % ["OK" if code == 0 else "FAIL", why])
	_session.close("end of the e2e test")
	get_tree().quit(code)
	set_process(false)
