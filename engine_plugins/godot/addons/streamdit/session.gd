@icon("res://addons/streamdit/icon.svg")
## A live StreamDiT video stream: connects to a runtime ([code]streamdit serve[/code]), pushes game
## events, and shows the generated frames in [member texture], which any Sprite2D, TextureRect or
## material can use.
##
## Everything runs on the main thread, in [method poll], which [code]_process[/code] calls once a
## frame; nothing in it waits on the network. The runtime sends the frames of a chunk together; the
## node shows them at the stream's pace (their pts), one credit back per frame shown or skipped,
## so the runtime is never more than [member credits] frames ahead. A game slower than the stream
## shows the newest frame that is due. When the runtime is away, the game keeps running: the
## texture keeps the last frame, [signal error] says why, and the node reconnects with exponential
## backoff, resuming the same session. Events pushed meanwhile are held (the newest
## [constant MAX_HELD_CHANGES]) and sent once the stream is back. Video-to-video: [method
## send_frame]. A quick start and every setting: README.md beside this script.
class_name StreamDiTSession
extends Node

## The handshake is done: frames follow. Emitted again after each reconnect.
signal connected
## A frame is in [param texture]. [param info]: frame_index, chunk_index, pts_us, event_id (the
## event whose prompt is in effect, 0 = none), width, height, prompt (that prompt, when known),
## source_index (the [method send_frame] index of the game frame it restyles; -1 = none).
signal frame_received(texture: ImageTexture, info: Dictionary)
## The runtime applied event (or set_prompt) [param event_id] at a chunk boundary; [param prompt]
## is the prompt in effect from that chunk (a higher-priority overlay may still decide it).
signal event_applied(event_id: int, prompt: String)
## The game pushed a valid event (stream up or not); a [StreamDiTRecorder] of this session
## records it.
signal event_pushed(event_id: int, type: String, payload: Dictionary)
## Something went wrong; [param message] says what to check. Codes: the protocol's (section 7) or
## this node's (bad_settings, host_not_found, connect_failed, connection_lost, ...: README.md).
signal error(code: String, message: String)

enum State {
	IDLE,  ## Not started.
	CONNECTING,  ## Resolving the host, connecting, or in the ZMTP handshake.
	HANDSHAKING,  ## Handshake sent, waiting for the runtime's reply.
	STREAMING,  ## Frames flow.
	WAITING_TO_RETRY,  ## The runtime is away; the next attempt comes after a backoff delay.
	CLOSED,  ## [method close] was called.
	FAILED,  ## Stopped for good: a setting must change first (see [member last_error]).
}

const Protocol := preload("res://addons/streamdit/protocol.gd")
const Connection := preload("res://addons/streamdit/session_connection.gd")
const Playback := preload("res://addons/streamdit/session_playback.gd")
const HeldChanges := preload("res://addons/streamdit/held_changes.gd")
const Handshake := preload("res://addons/streamdit/session_handshake.gd")
const SourceSender := preload("res://addons/streamdit/source_sender.gd")
## Events and prompt changes held while the stream is away; older ones are dropped.
const MAX_HELD_CHANGES := 16
## Failures that reconnecting cannot fix: the node stops and reports them.
const HARD_FAILURES: Array[String] = Connection.HARD_FAILURES

## Address of the runtime: an IP address or a host name (resolved without blocking the game).
@export var host := "127.0.0.1"
## How to reach the runtime, read when the session connects: [code]zmq[/code] (ZeroMQ) or
## [code]websocket[/code] (ws://host:port/v1/session; the one a web export can use).
@export_enum("zmq", "websocket") var transport := "zmq"
## The runtime's port for [member transport]: [code]streamdit serve --zmq-port[/code] (default
## 5557), or its [code]--web-port[/code] for websocket.
@export_range(1, 65535) var port := 5557
## The runtime's [code]--auth-token[/code]; leave empty for a runtime on 127.0.0.1 without one.
@export var auth_token := ""
## The base prompt. Leave empty to use the prompt map's [code]base[/code].
@export_multiline var prompt := ""
## A prompt map (TOML: base prompt, one rule per event type), read at start; empty = the runtime's
## default map. Exported games: add *.toml to the export preset's non-resource filters.
@export_file("*.toml") var prompt_map_path := ""
## Noise seed of the stream; -1 picks a random one. Same seed, same prompt: same video.
@warning_ignore("shadowed_global_identifier") @export var seed := -1
## The served model to stream from, when the runtime serves several ([code]streamdit serve --model
## NAME=DIR[/code]); empty = the runtime's default model. Read when the session starts.
@export var model := ""
## Connect as soon as the node enters the scene tree; otherwise call [method start].
@export var autostart := true

@export_group("Flow control and reconnects")
## Frames the runtime may send ahead of the game (docs/protocol.md section 5). More smooths jitter;
## fewer lowers latency.
@export_range(1, 64) var credits := 4
## Reconnect (and resume the session) when the connection is lost.
@export var reconnect := true
## First delay before reconnecting, in seconds; it doubles after each failed attempt.
@export_range(0.05, 60.0, 0.05, "suffix:s") var reconnect_delay_min := 0.5
## Longest delay between reconnect attempts, in seconds.
@export_range(0.1, 600.0, 0.1, "suffix:s") var reconnect_delay_max := 10.0
## Show frames at the stream's frame rate (their pts). Off: show the newest frame at once (the
## lowest latency, but the frames of a chunk arrive together, so some are never seen).
@export var smooth_playback := true
## How long connecting, the handshake, or a silent connection may last before it counts as lost.
@export_range(1.0, 120.0, 0.5, "suffix:s") var timeout := 10.0

@export_group("Video-to-video")
## Restyle the game's own frames ([method send_frame], [StreamDiTFrameSender]); read at start().
@export var v2v := false
## How much the model may change them, 0 (the source back) to 1 (text-only); read at start().
@export_range(0.0, 1.0, 0.01) var strength := 0.5

## The latest frame. The same object for the node's whole life: bind it once.
var texture: ImageTexture:
	get:
		return _playback.player.texture
## The runtime's handshake reply (session_id, fps, frames_per_chunk, width, height, resumed, ...).
var session_info: Dictionary = {}
## The runtime's latest stats message (fps, frames_sent, frames_dropped, ...), about once a second.
var stats: Dictionary = {}
## The prompt in effect for the frame in [member texture], when the node knows it.
var prompt_in_effect := ""
## Frames received.
var frames_received: int:
	get:
		return _playback.player.received
## Frames shown in [member texture].
var frames_shown: int:
	get:
		return _playback.player.shown
## Frames not shown: due in the same game frame as a newer one (the game runs slower).
var frames_skipped: int:
	get:
		return _playback.player.skipped
## Frames the runtime dropped for lack of credit (gaps in frame_index).
var frames_dropped: int:
	get:
		return _playback.player.dropped
## Connection attempts after the first.
var reconnects := 0
## Source frames sent ([method send_frame]).
var source_frames_sent: int:
	get:
		return _source.sent
## The last error: code, message, event_id, fatal.
var last_error: Dictionary = {}
## Where the session is; read-only.
var state: State:
	get:
		return _state

# The session's parts: link and reconnects, playback, held changes, handshake, v2v source frames.
var _connection := Connection.new()
var _playback := Playback.new()
var _held := HeldChanges.new(MAX_HELD_CHANGES)
var _handshake := Handshake.new()
var _source := SourceSender.new()
var _state := State.IDLE
var _last_event_id := 0


func _ready() -> void:
	if autostart:
		start()


func _process(_delta: float) -> void:
	poll()


func _exit_tree() -> void:
	close("the node left the scene tree")


## Reads the prompt map and starts connecting; returns at once. Problems come through
## [signal error].
func start() -> void:
	if _state == State.STREAMING:
		_send(Protocol.close("the game started a new session"))
	_connection.close()
	_connection.reset_backoff(reconnect_delay_min)
	_source.reset()
	var unreadable := _handshake.begin(prompt_map_path)
	if unreadable != "":
		_fail("bad_settings", unreadable)
		return
	if host.strip_edges() == "":
		_fail("bad_settings", "host is empty: set it to the runtime's address, e.g. 127.0.0.1")
		return
	_connect()


## Sends a game event, e.g. push_event("zombie_appears", {}). The prompt map turns it into a
## prompt at the next chunk boundary; [signal event_applied] follows. [param payload] fills the
## rule's template: String keys; String, int, float or bool values. Returns the event's id, which
## frames carry once its prompt is in effect.
func push_event(type: String, payload: Dictionary = {}) -> int:
	_last_event_id += 1
	var problem := Protocol.check_event(type, payload)
	if problem != "":
		_report("invalid_argument", problem, _last_event_id, false)
	else:
		_change(Protocol.event(_last_event_id, type, payload))
		event_pushed.emit(_last_event_id, type, payload)
	return _last_event_id


## Replaces the base prompt from the next chunk boundary. Returns its id (events and prompts share
## one counter).
func set_prompt(text: String) -> int:
	_last_event_id += 1
	prompt = text
	_change(Protocol.set_prompt(_last_event_id, text))
	return _last_event_id


## Video-to-video: sends [param image] (any format and size: a copy in the stream's size, rgb8) to
## restyle; [param p_strength] in [0, 1] sets the strength from the next chunk, < 0 keeps it;
## [param anchor] restarts the stream from it. Returns its index (frames restyling it carry it as
## info.source_index); -1 if not sent: not streaming, or a problem [signal error] reports.
func send_frame(image: Image, p_strength := -1.0, anchor := false) -> int:
	if _state != State.STREAMING:
		return -1
	var built := _source.build(image, session_info, v2v, p_strength, anchor)
	if built.has("code"):
		_report(built["code"], built["message"], 0, false)
	elif built.has("parts") and not _connection.send(built["parts"]):
		_on_transport_failure()
	return built.get("index", -1)


## Ends the session (the runtime forgets it) and stops reconnecting; [member texture] keeps the last
## frame. Call [method start] to begin a new session.
func close(reason := "closed by the game") -> void:
	if _connection.is_ready() and _state in [State.HANDSHAKING, State.STREAMING]:
		_send(Protocol.close(reason))  # "close is always answered": safe before the reply too
	_connection.close()
	if _state != State.FAILED:
		_state = State.CLOSED


## The Image behind [member texture] (null before the first frame). Read it, do not change it.
func get_image() -> Image:
	return _playback.player.image


## Advances the session without waiting: connects, reads, shows the frame due, gives credits
## back, reconnects. [code]_process[/code] calls it; call it yourself after set_process(false).
func poll() -> void:
	match _state:
		State.IDLE, State.CLOSED, State.FAILED:
			return
		State.WAITING_TO_RETRY:
			if _connection.retry_due():
				reconnects += 1
				_connect()
			return
	var link := _connection.link
	link.poll()
	var now := Time.get_ticks_usec()
	while link.has_message() and _state in [State.CONNECTING, State.HANDSHAKING, State.STREAMING]:
		var msg := Protocol.parse(link.take_message())
		if msg.type != "frame" or _state != State.STREAMING or not _playback.receive(msg, now):
			_handle(msg)
	if _state == State.STREAMING:
		var shown := _playback.present(now, smooth_playback)
		if not shown.is_empty():
			prompt_in_effect = shown["prompt"]
			frame_received.emit(texture, shown)
		var consumed := _playback.take_consumed()
		if consumed > 0:
			_send(Protocol.credit(consumed))
	_check_connection()


func _connect() -> void:
	_state = State.CONNECTING
	if not _connection.open(transport, host.strip_edges(), port, timeout):
		_on_transport_failure()
		return
	_send_handshake()


func _send_handshake() -> void:
	_send(_handshake.message(prompt, seed, credits, auth_token, v2v, strength, model))
	_connection.arm_deadline(timeout)


func _check_connection() -> void:
	if _state not in [State.CONNECTING, State.HANDSHAKING, State.STREAMING]:
		return
	if _connection.has_failed():
		_on_transport_failure()
	elif _state == State.CONNECTING and _connection.is_ready():
		_state = State.HANDSHAKING
		_connection.arm_deadline(timeout)
	elif _state == State.HANDSHAKING and _connection.deadline_passed():
		_lost("handshake_timeout", Connection.handshake_timeout_message(host, port, timeout))
	elif _state == State.STREAMING and _connection.is_silent(timeout):
		_lost("connection_lost", Connection.silence_message(host, port, timeout))


func _on_transport_failure() -> void:
	var failure := _connection.failure(_state == State.STREAMING)
	if failure["hard"]:
		_fail(failure["code"], failure["message"])
	else:
		_lost(failure["code"], failure["message"])


func _handle(msg: Protocol.Message) -> void:
	if msg.error != "":
		var text := "the runtime at %s:%d sent a malformed message: %s" % [host, port, msg.error]
		if msg.type == "handshake_reply":
			_fail("bad_message", text + " (is it a StreamDiT runtime of protocol 1.x?)")
		else:
			_report("bad_message", text + "; it was ignored", 0, false)
		return
	var f := msg.fields
	match msg.type:
		"handshake_reply":
			_on_handshake_reply(f)
		"event_ack":
			_playback.note_ack(f)
			event_applied.emit(f["event_id"], f["prompt"])
		"error":
			_on_server_error(f)
		"stats":
			stats = f
		"closed":
			_on_closed(f)
		_:
			pass  # a frame before the handshake reply, or a newer minor version's type: ignored


func _on_handshake_reply(f: Dictionary) -> void:
	if _state not in [State.CONNECTING, State.HANDSHAKING]:
		_report("bad_message", "a second handshake_reply arrived; it was ignored", 0, false)
		return
	var problem := _handshake.accept(f)
	if not problem.is_empty():
		_fail(problem["code"], problem["message"])
		return
	session_info = f
	_playback.begin(f, _handshake.base_prompt(prompt))
	_source.reconnected()
	_state = State.STREAMING
	_connection.reset_backoff(reconnect_delay_min)
	for change in _held.take_all():
		_send(change)
	connected.emit()


func _on_server_error(f: Dictionary) -> void:
	var code: String = f["code"]
	var message: String = f["message"]
	if f["event_id"] > 0:
		message = "event %d: %s" % [f["event_id"], message]
	if not f["fatal"]:
		_report(code, message, f["event_id"], false)
	elif code == "resume_failed" and _state != State.STREAMING:
		_report(code, message + "; starting a new session", 0, true)
		_handshake.resume_token = ""
		_playback.forget_prompts()
		_send_handshake()
	elif code in HARD_FAILURES:
		_fail(code, message)
	else:
		_lost(code, message)


func _on_closed(f: Dictionary) -> void:
	var ended := _handshake.ended(f) if _state == State.STREAMING else {}
	if ended.get("hard", false):
		_fail(ended["code"], ended["message"])
	elif not ended.is_empty():
		_lost(ended["code"], ended["message"])


func _change(message: Dictionary) -> void:
	if _state == State.STREAMING:
		_send(message)
	elif _state not in [State.CLOSED, State.FAILED]:
		_held.hold(message)


func _send(message: Dictionary) -> void:
	var parts := Protocol.encode(message)
	if parts.is_empty():
		_report("invalid_argument", "%s has a value with no msgpack form" % message, 0, false)
	elif not _connection.send(parts):
		_on_transport_failure()


## Reports a lost connection (once per outage and code) and schedules the next attempt.
func _lost(code: String, message: String) -> void:
	_connection.close()
	if not reconnect:
		_fail(code, message)
		return
	if _connection.first_in_outage(code):
		_report(code, message, 0, true)
	_state = State.WAITING_TO_RETRY
	_connection.schedule_retry(reconnect_delay_max)


## Stops for good: a setting has to change before another attempt can work.
func _fail(code: String, message: String) -> void:
	_connection.close()
	_state = State.FAILED
	_report(code, message, 0, true)


func _report(code: String, message: String, event_id: int, fatal: bool) -> void:
	last_error = {"code": code, "message": message, "event_id": event_id, "fatal": fatal}
	error.emit(code, message)
