## The StreamDiT sample: a tiny 2D game whose gameplay steers a live generated video. Arrow keys
## move the player (player_moves_left/right/up/down on each change of direction, with the terrain
## under the player); Z makes a zombie appear, C a cow, N night fall, D day break. The video fills
## the window, the prompt in effect is shown on top. Without a display (--headless) a scripted
## driver plays instead.
##
## Headless: godot --headless --path sample -- --port=5557 --quit-after-s=8
extends Node2D

const Session := preload("res://addons/streamdit/session.gd")
const SPEED := 160.0
## Events of the keys that are not movement.
const KEY_EVENTS := {
	KEY_Z: "zombie_appears",
	KEY_C: "cow_nearby",
	KEY_N: "night_falls",
	KEY_D: "day_breaks",
}
## The headless driver's moves, one every DRIVER_STEP_S seconds, round and round.
const DRIVER_STEPS: Array[String] = [
	"left",
	"zombie_appears",
	"right",
	"cow_nearby",
	"up",
	"night_falls",
	"down",
	"day_breaks",
	"stop"
]
const DRIVER_STEP_S := 0.6
const DIRECTIONS := {
	"left": Vector2.LEFT, "right": Vector2.RIGHT, "up": Vector2.UP, "down": Vector2.DOWN
}

var _direction := Vector2.ZERO
var _driven := false
var _driver_step := 0
var _driver_clock := 0.0
var _quit_after_s := 0.0
var _clock := 0.0
var _events_pushed := 0

@onready var _stream: TextureRect = $Stream
@onready var _session: Session = $StreamDiTSession
@onready var _player: ColorRect = $Player
@onready var _enemy: ColorRect = $Enemy
@onready var _prompt_label: Label = $PromptLabel
@onready var _status_label: Label = $StatusLabel


func _ready() -> void:
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			_session.port = int(arg.trim_prefix("--port="))
		elif arg.begins_with("--host="):
			_session.host = arg.trim_prefix("--host=")
		elif arg.begins_with("--quit-after-s="):
			_quit_after_s = float(arg.trim_prefix("--quit-after-s="))
	_driven = DisplayServer.get_name() == "headless" or "--driver" in OS.get_cmdline_user_args()
	if _driven:
		Engine.max_fps = 60  # no vsync without a display: do not spin
	_stream.texture = _session.texture  # one texture for the whole game, updated in place
	_session.connected.connect(_on_connected)
	_session.frame_received.connect(_on_frame)
	_session.event_applied.connect(_on_event_applied)
	_session.error.connect(_on_error)
	_session.start()
	_status_label.text = "connecting to %s:%d ..." % [_session.host, _session.port]


func _process(delta: float) -> void:
	_clock += delta
	if _driven:
		_drive(delta)
	else:
		_read_keys()
	_player.position = (_player.position + _direction * SPEED * delta).clamp(
		Vector2.ZERO, get_viewport_rect().size - _player.size
	)
	if _quit_after_s > 0.0 and _clock >= _quit_after_s:
		_quit()


func _unhandled_key_input(event: InputEvent) -> void:
	var key := event as InputEventKey
	if key != null and key.pressed and not key.echo and KEY_EVENTS.has(key.keycode):
		_happen(KEY_EVENTS[key.keycode])


func _read_keys() -> void:
	var wanted := Input.get_vector("ui_left", "ui_right", "ui_up", "ui_down")
	if absf(wanted.x) >= absf(wanted.y):
		wanted = Vector2(signf(wanted.x), 0.0)
	else:
		wanted = Vector2(0.0, signf(wanted.y))
	_walk(wanted)


func _drive(delta: float) -> void:
	if _session.state != Session.State.STREAMING:
		return
	_driver_clock -= delta
	if _driver_clock > 0.0:
		return
	_driver_clock = DRIVER_STEP_S
	var step := DRIVER_STEPS[_driver_step % DRIVER_STEPS.size()]
	_driver_step += 1
	if DIRECTIONS.has(step):
		_walk(DIRECTIONS[step])
	elif step == "stop":
		_walk(Vector2.ZERO)
	else:
		_happen(step)


## Changes the player's direction; each change is one event (not one per frame: the runtime
## limits events per second).
func _walk(direction: Vector2) -> void:
	if direction == _direction:
		return
	_direction = direction
	var terrain := "grass" if _player.position.x < get_viewport_rect().size.x / 2 else "sand"
	var names := {
		Vector2.LEFT: "player_moves_left",
		Vector2.RIGHT: "player_moves_right",
		Vector2.UP: "player_moves_up",
		Vector2.DOWN: "player_moves_down",
		Vector2.ZERO: "player_idle",
	}
	_push(names[direction], {"terrain": terrain})


func _happen(event_type: String) -> void:
	if event_type == "zombie_appears":
		_enemy.position = _player.position + Vector2(60, -40)
		_enemy.visible = true
		get_tree().create_timer(3.0).timeout.connect(func() -> void: _enemy.visible = false)
	_push(event_type, {})


func _push(event_type: String, payload: Dictionary) -> void:
	var id := _session.push_event(event_type, payload)
	_events_pushed += 1
	if _driven:
		print("SAMPLE event %s %s id=%d" % [event_type, payload, id])


func _on_connected() -> void:
	var info := _session.session_info
	_status_label.text = (
		"streaming %dx%d at %.0f FPS from %s:%d"
		% [info["width"], info["height"], info["fps"], _session.host, _session.port]
	)


func _on_frame(_texture: ImageTexture, info: Dictionary) -> void:
	if info["prompt"] != "":
		_prompt_label.text = "prompt: %s" % info["prompt"]


func _on_event_applied(event_id: int, prompt: String) -> void:
	if _driven:
		print("SAMPLE applied %d: %s" % [event_id, prompt])


func _on_error(code: String, message: String) -> void:
	_status_label.text = "%s: %s (the game keeps running)" % [code, message]
	if _driven:
		print("SAMPLE error %s: %s" % [code, message])


func _quit() -> void:
	print(
		(
			"SAMPLE done: %d frames shown, %d events pushed, prompt in effect '%s', state %s"
			% [
				_session.frames_shown,
				_events_pushed,
				_session.prompt_in_effect,
				Session.State.keys()[_session.state],
			]
		)
	)
	_session.close("the sample quit")
	get_tree().quit(0 if _session.frames_shown > 0 else 1)
	set_process(false)
