## Scene for tests/test_godot_recorder.py: a StreamDiTRecorder records a small game in the real
## engine, and the Python test reads the recording back with the project's reader.
##
## The game is a 128x96 SubViewport (the recorder's viewport): a background whose colour says which
## events have happened (grey, then blue after zombie_appears, green after night_falls, red after
## cow_nearby) and a white 8x8 square that moves 1 px right per drawn frame. Run with
## --fixed-fps 64, so a drawn frame is 1/64 s of game time and the recorder (16 FPS, frames scaled
## to 64x48) takes one frame in four. At drawn frame 40 the scene adds 2/16 s of game time at once,
## as a slow frame would: the next frame is written once per frame period due (repeats). Events go
## through a StreamDiTSession (autostart off: the recorder hears its push_event calls) and through
## the recorder itself. At frame 48 a new shard starts; at frame 80 the scene quits, which closes
## the second shard.
##
## --mode=viewport: the recorder captures the viewport (needs a renderer: tools/godot-gl).
## --mode=image: the scene draws each frame into an Image and passes it to record_image, every
## fourth frame (the headless engine renders nothing).
## Writes result.json in --out: what was pushed at which recorded frame, the recorder's counters
## and the errors it reported.
##
## godot-gl --path PROJECT --fixed-fps 64 res://tests/recorder_scene.tscn -- --mode=viewport --out=o
extends Node

const SIZE := Vector2i(128, 96)
const COLOURS := {
	"start": Color8(128, 128, 128),
	"zombie_appears": Color8(0, 0, 255),
	"night_falls": Color8(0, 160, 0),
	"cow_nearby": Color8(255, 0, 0),
}

var _mode := "viewport"
var _out_dir := "recorder_out"
var _drawn := 0
var _session := StreamDiTSession.new()
var _recorder := StreamDiTRecorder.new()
var _viewport := SubViewport.new()
var _background := ColorRect.new()
var _square := ColorRect.new()
var _pushed: Array[Dictionary] = []
var _shards: Array = []
var _errors: Array[String] = []
var _finishing := false


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--mode="):
			_mode = arg.trim_prefix("--mode=")
		elif arg.begins_with("--out="):
			_out_dir = arg.trim_prefix("--out=")
	_viewport.size = SIZE
	_viewport.render_target_update_mode = SubViewport.UPDATE_ALWAYS
	_background.size = Vector2(SIZE)
	_background.color = COLOURS["start"]
	_square.size = Vector2(8, 8)
	_square.color = Color.WHITE
	_viewport.add_child(_background)
	_viewport.add_child(_square)
	add_child(_viewport)
	_session.autostart = false
	add_child(_session)
	_recorder.directory = "user://recordings/" + _mode
	_recorder.game = "recorder test"
	_recorder.fps = 16.0
	_recorder.frame_size = Vector2i(64, 48)
	_recorder.vocabulary_path = "res://tests/test_prompts.toml"
	_recorder.session = _session
	_recorder.viewport = _viewport
	_recorder.error.connect(func(code: String, _m: String) -> void: _errors.append(code))
	_recorder.shard_closed.connect(
		func(path: String, frames: int, events: int) -> void: _shards.append([path, frames, events])
	)
	add_child(_recorder)


func _process(_delta: float) -> void:
	if _finishing:
		return
	_drawn += 1
	_square.position = Vector2(_drawn % (SIZE.x - 8), 40)
	match _drawn:
		10:
			_push_via_session("zombie_appears", {"zone": "forest"})
		30:
			_push("night_falls", _recorder.push_event("night_falls", {"hour": 22}))
		40:
			_recorder._process(2.0 / 16.0)  # a slow frame: 2 frame periods more of game time
		48:
			_recorder.new_shard()
		60:
			_push_via_session("cow_nearby", {})
		80:
			_finish()
	if _mode == "image" and _drawn % 4 == 1:
		_recorder.record_image(_draw_image())


func _push_via_session(type: String, payload: Dictionary) -> void:
	_session.push_event(type, payload)
	_push(type, true)


func _push(type: String, recorded: bool) -> void:
	_background.color = COLOURS[type]
	(
		_pushed
		. append(
			{
				"type": type,
				"recorded": recorded,
				"drawn_frame": _drawn,
				"frames_recorded_before": _recorder.frames_recorded,
				"shard": _shards.size(),
			}
		)
	)


## What the SubViewport shows, drawn into an Image (for the headless engine).
func _draw_image() -> Image:
	var image := Image.create(SIZE.x, SIZE.y, false, Image.FORMAT_RGB8)
	image.fill(_background.color)
	image.fill_rect(Rect2i(Vector2i(_square.position), Vector2i(8, 8)), Color.WHITE)
	return image


func _finish() -> void:
	_finishing = true
	var recorder := _recorder
	var counters := {
		"frames_recorded": recorder.frames_recorded,
		"frames_repeated": recorder.frames_repeated,
		"events_recorded": recorder.events_recorded,
	}
	recorder.queue_free()  # leaving the tree closes the open shard
	await get_tree().process_frame
	var result := {
		"mode": _mode,
		"renderer": RenderingServer.get_current_rendering_driver_name(),
		"adapter": RenderingServer.get_video_adapter_name(),
		"display": DisplayServer.get_name(),
		"user_dir": ProjectSettings.globalize_path("user://"),
		"pushed": _pushed,
		"shards": _shards,
		"errors": _errors,
		"counters": counters,
	}
	DirAccess.make_dir_recursive_absolute("res://" + _out_dir)
	var file := FileAccess.open("res://%s/result.json" % _out_dir, FileAccess.WRITE)
	file.store_string(JSON.stringify(result, "  "))
	file.close()
	get_tree().quit(0)
