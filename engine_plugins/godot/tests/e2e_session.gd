## End-to-end scene for tests/test_godot_e2e.py: a StreamDiTSession against a real runtime
## (streamdit serve). Connects, pushes an event after the first frames, takes at least
## --min-frames frames (the frame rate is measured over them), checks that a frame carries the
## event's id; then closes its TCP connection under the session, as a network drop would, and waits
## for the session to resume and stream again. Saves the newest frame as a PNG and writes what it
## measured to result.json, both in --out (a directory of the project). It polls the session
## itself, to time every poll. It sends no prompt map unless --prompt-map=res://... names one: the
## runtime's default map applies.
##
## godot-headless --path PROJECT res://tests/e2e_session.tscn -- --port=P --out=e2e_out
## (--transport=websocket --port=WEB_PORT: the same over the runtime's WebSocket, --web-port)
## Exit codes: 0 done, 1 a check failed, 2 the session failed, 3 timeout.
extends Node

const Session := preload("res://addons/streamdit/session.gd")
const EVENT := "zombie_appears"
const TIMEOUT_MS := 60000
## Frames to see before the event is pushed (the stream is warm by then).
const FRAMES_BEFORE_EVENT := 4
## Frames to see after the session resumed.
const FRAMES_AFTER_RESUME := 8

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
var _connects := 0
var _measure := {}
var _drop := {}
var _last_index := -1


func _ready() -> void:
	Engine.max_fps = 60  # a game's frame rate; headless has no vsync to hold it
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			_session.port = int(arg.trim_prefix("--port="))
		elif arg.begins_with("--out="):
			_out_dir = arg.trim_prefix("--out=")
		elif arg.begins_with("--min-frames="):
			_min_frames = int(arg.trim_prefix("--min-frames="))
		elif arg.begins_with("--prompt-map="):
			_session.prompt_map_path = arg.trim_prefix("--prompt-map=")
		elif arg.begins_with("--transport="):
			_session.transport = arg.trim_prefix("--transport=")
	_session.autostart = false
	_session.seed = 1
	_session.error.connect(_on_error)
	_session.event_applied.connect(_on_event_applied)
	_session.frame_received.connect(_on_frame)
	_session.connected.connect(func() -> void: _connects += 1)
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
	if _session.frames_received > before and _measure.is_empty():
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
	elif _measure.is_empty() and _session.frames_received >= _min_frames and _event_frame:
		_measure = _measurement()
		_drop_connection()
	elif not _drop.is_empty() and _drop.has("first_index_after"):
		if _session.frames_received >= _drop["frames_before"] + FRAMES_AFTER_RESUME:
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
	# Frames queued before the drop still play after it: count only frames of the new connection.
	var reconnected: bool = not _drop.is_empty() and _connects > int(_drop["connects_before"])
	if reconnected and not _drop.has("first_index_after"):
		_drop["first_index_after"] = info["frame_index"]
		_drop["frame_after_ms"] = Time.get_ticks_msec() - _drop["at_ms"]
		_drop["resumed"] = _session.session_info.get("resumed")
		_drop["session_id_after"] = _session.session_info.get("session_id")
		_drop["connects"] = _connects
	_last_index = info["frame_index"]


func _measurement() -> Dictionary:
	var window := _last_frame_s - _first_frame_s
	var frames := _session.frames_received - _frames_at_first
	return {
		"frames_received": _session.frames_received,
		"window_s": window,
		"window_frames": frames,
		"fps_received": frames / window if window > 0 else 0.0,
		"first_frame_unix_s": _first_frame_s,
		"last_frame_unix_s": _last_frame_s,
		"errors": _errors.duplicate(),
	}


## Closes the session's socket under it, as a network drop would (reaching into the node on
## purpose: the game has no reason to do this).
func _drop_connection() -> void:
	_drop = {
		"at_ms": Time.get_ticks_msec(),
		"frames_before": _session.frames_received,
		"last_index_before": _last_index,
		"session_id_before": _session.session_info.get("session_id"),
		"connects_before": _connects,
	}
	if _session.transport == "websocket":
		_session._connection.link.drop()
	else:
		_session._connection.link._tcp.disconnect_from_host()


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
	var result := {
		"ok": code == 0,
		"why": why,
		"measure": _measure,
		"drop": _drop,
		"frames_received": _session.frames_received,
		"frames_shown": _session.frames_shown,
		"frames_skipped": _session.frames_skipped,
		"frames_dropped": _session.frames_dropped,
		"reconnects": _session.reconnects,
		"event_type": EVENT,
		"event_id": _event_id,
		"event_frame": _event_frame,
		"ack_prompt": _ack_prompt,
		"session_info": _session.session_info,
		"texture_size": [_session.texture.get_width(), _session.texture.get_height()],
		"max_poll_us": _max_poll_us,
		"polls": _polls,
		"errors": _errors,
		"transport": _session.transport,
		"png": png,
	}
	var file := FileAccess.open(dir.path_join("result.json"), FileAccess.WRITE)
	file.store_string(JSON.stringify(result, "  "))
	file.close()
	print("E2E %s %s" % ["OK" if code == 0 else "FAIL", why])
	_session.close("end of the e2e test")
	get_tree().quit(code)
	set_process(false)
