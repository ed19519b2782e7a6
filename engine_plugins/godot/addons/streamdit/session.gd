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
## [constant MAX_HELD_CHANGES]) and sent once the stream is back.
##
## [codeblock]
## @onready var stream: StreamDiTSession = $StreamDiTSession
## func _ready() -> void:
##     $TextureRect.texture = stream.texture
##     stream.error.connect(func(code, message): push_warning("%s: %s" % [code, message]))
## func _on_zombie_spawned() -> void:
##     stream.push_event("zombie_appears", {})
## [/codeblock]
class_name StreamDiTSession
extends Node

## The handshake is done: frames follow. Emitted again after each reconnect.
signal connected
## A frame is in [param texture]. [param info]: frame_index, chunk_index, pts_us, event_id (the
## event whose prompt is in effect, 0 = none), width, height, prompt (that prompt, when known).
signal frame_received(texture: ImageTexture, info: Dictionary)
## The runtime applied event (or set_prompt) [param event_id] at a chunk boundary; [param prompt]
## is the prompt in effect from that chunk (a higher-priority overlay may still decide it).
signal event_applied(event_id: int, prompt: String)
## The game pushed a valid event (whether the stream is up or not); a [StreamDiTRecorder] whose
## session this is records it.
signal event_pushed(event_id: int, type: String, payload: Dictionary)
## Something went wrong; [param message] says what to check. Codes are the protocol's (section 7:
## version_mismatch, auth_failed, unknown_event, ...) or this node's: bad_settings, host_not_found,
## connect_failed, connect_timeout, connection_lost, not_a_runtime, bad_message, handshake_timeout,
## closed, replaced.
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

## How to fix an unreadable prompt map.
const FIX_PROMPT_MAP := ": check prompt_map_path; exported games need *.toml in the export filter"
## Events and prompt changes held while the stream is away; older ones are dropped.
const MAX_HELD_CHANGES := 16
## Failures that reconnecting cannot fix: the node stops and reports them.
const HARD_FAILURES: Array[String] = [
	"bad_settings",
	"version_mismatch",
	"auth_failed",
	"invalid_argument",
	"prompt_too_long",
	"unsupported",
	"bad_message",
	"not_a_runtime",
	"replaced",
]

const Zmtp := preload("res://addons/streamdit/zmtp.gd")
const WsLink := preload("res://addons/streamdit/ws_link.gd")
const Protocol := preload("res://addons/streamdit/protocol.gd")
const FramePlayer := preload("res://addons/streamdit/frame_player.gd")
## Transport failures that mean the host and port are not a StreamDiT runtime's ZeroMQ port.
const NOT_A_RUNTIME: Array[Zmtp.Failure] = [
	Zmtp.Failure.BAD_GREETING,
	Zmtp.Failure.UNSUPPORTED_VERSION,
	Zmtp.Failure.UNSUPPORTED_MECHANISM,
	Zmtp.Failure.INCOMPATIBLE_PEER,
	Zmtp.Failure.PEER_ERROR,
	Zmtp.Failure.INVALID_SETTINGS,
]

## Address of the runtime: an IP address or a host name (resolved without blocking the game).
@export var host := "127.0.0.1"
## How to reach the runtime: [code]zmq[/code] (ZeroMQ, [code]streamdit serve --zmq-port[/code]) or
## [code]websocket[/code] (ws://host:port/v1/session, [code]streamdit serve --web-port[/code]; the
## one a web export can use). Read when the session connects.
@export_enum("zmq", "websocket") var transport := "zmq"
## The runtime's port for [member transport]: its [code]--zmq-port[/code] (default 5557), or its
## [code]--web-port[/code] for websocket.
@export_range(1, 65535) var port := 5557
## The runtime's [code]--auth-token[/code]; leave empty for a runtime on 127.0.0.1 without one.
@export var auth_token := ""
## The base prompt. Leave empty to use the prompt map's [code]base[/code].
@export_multiline var prompt := ""
## A prompt map (TOML: base prompt and one rule per event type), read when the session starts.
## Leave empty to use the runtime's default prompt map (the checkpoint's, or serve --prompt-map).
## Exported games: add *.toml to the export preset's non-resource filters.
@export_file("*.toml") var prompt_map_path := ""
## Noise seed of the stream; -1 picks a random one. Same seed, same prompt: same video.
@warning_ignore("shadowed_global_identifier") @export var seed := -1
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

## The latest frame. The same object for the node's whole life: bind it once.
var texture: ImageTexture:
	get:
		return _player.texture
## The runtime's handshake reply (session_id, fps, frames_per_chunk, width, height, resumed, ...).
var session_info: Dictionary = {}
## The runtime's latest stats message (fps, frames_sent, frames_dropped, ...), about once a second.
var stats: Dictionary = {}
## The prompt in effect for the frame in [member texture], when the node knows it.
var prompt_in_effect := ""
## Frames received.
var frames_received: int:
	get:
		return _player.received
## Frames shown in [member texture].
var frames_shown: int:
	get:
		return _player.shown
## Frames not shown: due in the same game frame as a newer one (the game runs slower).
var frames_skipped: int:
	get:
		return _player.skipped
## Frames the runtime dropped for lack of credit (gaps in frame_index).
var frames_dropped: int:
	get:
		return _player.dropped
## Connection attempts after the first.
var reconnects := 0
## The last error: code, message, event_id, fatal.
var last_error: Dictionary = {}
## Where the session is; read-only.
var state: State:
	get:
		return _state

var _zmtp := Zmtp.new()
var _player := FramePlayer.new()
var _state := State.IDLE
var _prompt_map_text := ""
var _resume_token := ""
var _last_event_id := 0
var _held: Array[Dictionary] = []
var _deadline_ms := 0
var _retry_at_ms := 0
var _retry_delay_s := 0.0
var _outage_codes: Dictionary = {}
var _prompts: Dictionary = {}


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
	_zmtp.close()
	_outage_codes.clear()
	_retry_delay_s = reconnect_delay_min
	_resume_token = ""
	_prompt_map_text = ""
	if prompt_map_path != "":
		_prompt_map_text = FileAccess.get_file_as_string(prompt_map_path)
		var err := FileAccess.get_open_error()
		if err != OK:
			var why := "cannot read the prompt map %s (%s)" % [prompt_map_path, error_string(err)]
			_fail("bad_settings", why + FIX_PROMPT_MAP)
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


## Ends the session (the runtime forgets it) and stops reconnecting; [member texture] keeps the last
## frame. Call [method start] to begin a new session.
func close(reason := "closed by the game") -> void:
	if _zmtp.get_state() == Zmtp.State.READY and _state in [State.HANDSHAKING, State.STREAMING]:
		_send(Protocol.close(reason))  # "close is always answered": safe before the reply too
	_zmtp.close()
	if _state != State.FAILED:
		_state = State.CLOSED


## The Image behind [member texture] (null before the first frame). Read it, do not change it.
func get_image() -> Image:
	return _player.image


## Advances the session without waiting: connects, reads, shows the frame that is due, gives
## credits back, reconnects. [code]_process[/code] calls it; call it yourself if you turn
## processing off.
func poll() -> void:
	match _state:
		State.IDLE, State.CLOSED, State.FAILED:
			return
		State.WAITING_TO_RETRY:
			if Time.get_ticks_msec() >= _retry_at_ms:
				reconnects += 1
				_connect()
			return
	_zmtp.poll()
	var now := Time.get_ticks_usec()
	while _zmtp.has_message() and _state in [State.CONNECTING, State.HANDSHAKING, State.STREAMING]:
		var msg := Protocol.parse(_zmtp.take_message())
		if msg.type == "frame" and _state == State.STREAMING:
			_receive_frame(msg, now)
		else:
			_handle(msg)
	if _state == State.STREAMING:
		_player.smooth = smooth_playback
		var shown := _player.present(now)
		if not shown.is_empty():
			_on_shown(shown)
		var consumed := _player.take_consumed()
		if consumed > 0:
			_send(Protocol.credit(consumed))
	_check_connection()


func _connect() -> void:
	_state = State.CONNECTING
	if (_zmtp is WsLink) != (transport == "websocket"):
		_zmtp.close()
		_zmtp = WsLink.new() if transport == "websocket" else Zmtp.new()
	_zmtp.connect_timeout_ms = int(timeout * 1000)
	_zmtp.handshake_timeout_ms = int(timeout * 1000)
	if _zmtp.connect_to_host(host.strip_edges(), port) != OK:
		_on_transport_failure()
		return
	_send_handshake()


func _send_handshake() -> void:
	_send(Protocol.handshake(prompt, _prompt_map_text, seed, credits, auth_token, _resume_token))
	_deadline_ms = Time.get_ticks_msec() + int(timeout * 1000)


func _check_connection() -> void:
	if _state not in [State.CONNECTING, State.HANDSHAKING, State.STREAMING]:
		return
	var zmtp_state := _zmtp.get_state()
	if zmtp_state == Zmtp.State.FAILED:
		_on_transport_failure()
	elif _state == State.CONNECTING and zmtp_state == Zmtp.State.READY:
		_state = State.HANDSHAKING
		_deadline_ms = Time.get_ticks_msec() + int(timeout * 1000)
	elif _state == State.HANDSHAKING and Time.get_ticks_msec() > _deadline_ms:
		_lost(
			"handshake_timeout",
			(
				(
					"%s:%d took the connection but sent no handshake reply in %.0f s: is it a "
					+ "StreamDiT runtime (streamdit serve), and not overloaded?"
				)
				% [host, port, timeout]
			)
		)
	elif _state == State.STREAMING and _zmtp.get_idle_msec() > int(timeout * 1000):
		_lost(
			"connection_lost",
			(
				(
					"no data from the runtime at %s:%d for %.0f s (it pings every second): the "
					+ "connection is dead; reconnecting"
				)
				% [host, port, timeout]
			)
		)


func _on_transport_failure() -> void:
	var message := _zmtp.get_error_message()
	var failure := _zmtp.get_failure()
	if failure == Zmtp.Failure.CONNECT_FAILED:
		_lost("connect_failed", message + "; retrying with backoff")
	elif failure == Zmtp.Failure.HOST_NOT_FOUND:
		_lost("host_not_found", message)
	elif failure == Zmtp.Failure.CONNECT_TIMEOUT:
		_lost("connect_timeout", message)
	elif failure == Zmtp.Failure.CLOSED_BY_PEER:
		var kind := "connection_lost" if _state == State.STREAMING else "connect_failed"
		_lost(kind, message + "; the last frame stays shown while reconnecting")
	elif failure == Zmtp.Failure.MESSAGE_TOO_LARGE:
		_fail("bad_message", message)
	elif failure in NOT_A_RUNTIME:
		_fail("not_a_runtime", message + "; check host and port")
	else:
		_lost("connection_lost", message if message != "" else "the connection closed")


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
			if f["in_effect"]:
				_prompts[f["event_id"]] = f["prompt"]
			event_applied.emit(f["event_id"], f["prompt"])
		"error":
			_on_server_error(f)
		"stats":
			stats = f
		"closed":
			_on_closed(f)
		"frame":
			pass  # a frame before the handshake reply: nothing to show it with yet
		_:
			pass  # a message of a newer minor version: ignored, as the version rule says


func _on_handshake_reply(f: Dictionary) -> void:
	if _state not in [State.CONNECTING, State.HANDSHAKING]:
		_report("bad_message", "a second handshake_reply arrived; it was ignored", 0, false)
		return
	var theirs: String = f["protocol_version"]
	if Protocol.major_of(theirs) != Protocol.VERSION_MAJOR:
		var behind := "runtime" if Protocol.major_of(theirs) < Protocol.VERSION_MAJOR else "addon"
		_fail(
			"version_mismatch",
			(
				(
					"the runtime speaks protocol %s and this addon speaks %s: the major versions "
					+ "differ, so they cannot talk; update the %s"
				)
				% [theirs, Protocol.VERSION, behind]
			)
		)
		return
	if f["pixel_format"] != Protocol.PIXEL_FORMAT:
		_fail("unsupported", "the runtime streams %s; this addon shows rgb8" % f["pixel_format"])
		return
	session_info = f
	# Frames queued from an earlier connection are forgotten: their credits went with it.
	_player.reset(f["next_frame_index"], f["fps"], f["credits"])
	_player.prepare(f["width"], f["height"])
	_resume_token = f["resume_token"]
	_state = State.STREAMING
	_retry_delay_s = reconnect_delay_min
	_outage_codes.clear()
	if not f["resumed"]:
		_prompts = {0: prompt if prompt != "" else Protocol.base_prompt_of(_prompt_map_text)}
	var held := _held
	_held = []
	for change in held:
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
		_resume_token = ""
		_prompts = {}
		_send_handshake()
	elif code in HARD_FAILURES:
		_fail(code, message)
	else:
		_lost(code, message)


func _on_closed(f: Dictionary) -> void:
	if f["code"] == "client_close" or _state != State.STREAMING:
		return
	if f["code"] == "replaced":
		_fail(
			"replaced",
			"another connection resumed this session (%s); this node stopped" % f["reason"]
		)
		return
	_resume_token = ""  # the runtime forgot the session: the next one starts fresh
	_lost("closed", "the runtime ended the session (%s: %s)" % [f["code"], f["reason"]])


func _receive_frame(msg: Protocol.Message, now: int) -> void:
	if msg.error != "":
		_player.consumed += 1  # it used a credit all the same
		_handle(msg)
	else:
		_player.push(msg.fields, msg.pixels, now)


func _on_shown(f: Dictionary) -> void:
	prompt_in_effect = _prompts.get(f["event_id"], "")
	var info := {
		"frame_index": f["frame_index"],
		"chunk_index": f["chunk_index"],
		"pts_us": f["pts_us"],
		"event_id": f["event_id"],
		"width": f["width"],
		"height": f["height"],
		"prompt": prompt_in_effect,
	}
	frame_received.emit(texture, info)


func _change(message: Dictionary) -> void:
	if _state == State.STREAMING:
		_send(message)
	elif _state not in [State.CLOSED, State.FAILED]:
		_held.append(message)
		if _held.size() > MAX_HELD_CHANGES:
			_held.pop_front()


func _send(message: Dictionary) -> void:
	var parts := Protocol.encode(message)
	if parts.is_empty():
		_report("invalid_argument", "%s has a value with no msgpack form" % message, 0, false)
	elif _zmtp.send_multipart(parts) != OK:
		_on_transport_failure()


## Reports a lost connection (once per outage and code) and schedules the next attempt.
func _lost(code: String, message: String) -> void:
	_zmtp.close()
	if not reconnect:
		_fail(code, message)
		return
	if not _outage_codes.has(code):
		_outage_codes[code] = true
		_report(code, message, 0, true)
	_state = State.WAITING_TO_RETRY
	_retry_at_ms = Time.get_ticks_msec() + int(_retry_delay_s * 1000)
	_retry_delay_s = minf(_retry_delay_s * 2.0, reconnect_delay_max)


## Stops for good: a setting has to change before another attempt can work.
func _fail(code: String, message: String) -> void:
	_zmtp.close()
	_state = State.FAILED
	_report(code, message, 0, true)


func _report(code: String, message: String, event_id: int, fatal: bool) -> void:
	last_error = {"code": code, "message": message, "event_id": event_id, "fatal": fatal}
	error.emit(code, message)
