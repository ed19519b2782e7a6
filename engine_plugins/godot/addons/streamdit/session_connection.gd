## A [StreamDiTSession]'s connection to the runtime: the transport link ([StreamDiTZmtp] for
## [code]zmq[/code], [StreamDiTWsLink] for [code]websocket[/code]), the deadline of the connect and
## handshake, the silence watch, the backoff between reconnect attempts (doubling from the
## session's reconnect_delay_min up to its reconnect_delay_max), and the node's error code and
## message for each way the link can fail. The session keeps the state and decides what to do.
class_name StreamDiTSessionConnection
extends RefCounted

const Link := preload("res://addons/streamdit/link.gd")
const Zmtp := preload("res://addons/streamdit/zmtp.gd")
const WsLink := preload("res://addons/streamdit/ws_link.gd")
## The node's failures that reconnecting cannot fix: the session stops and reports them.
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
## Transport failures that mean the host and port are not a StreamDiT runtime's ZeroMQ port.
const NOT_A_RUNTIME: Array[Zmtp.Failure] = [
	Zmtp.Failure.BAD_GREETING,
	Zmtp.Failure.UNSUPPORTED_VERSION,
	Zmtp.Failure.UNSUPPORTED_MECHANISM,
	Zmtp.Failure.INCOMPATIBLE_PEER,
	Zmtp.Failure.PEER_ERROR,
	Zmtp.Failure.INVALID_SETTINGS,
]

## The transport link; a new one when the transport changes.
var link: Link = Zmtp.new()
## How long the next reconnect attempt will wait, in seconds ([method schedule_retry] doubles it).
var retry_delay_s: float:
	get:
		return _retry_delay_s

var _deadline_ms := 0
var _retry_at_ms := 0
var _retry_delay_s := 0.0
var _outage_codes: Dictionary = {}


## Starts connecting to [param host]:[param port] over [param transport] ("zmq" or "websocket"),
## with [param timeout_s] for the connection and for the handshake. Returns false when it failed
## at once ([method failure] says why).
func open(transport: String, host: String, port: int, timeout_s: float) -> bool:
	if (link is WsLink) != (transport == "websocket"):
		link.close()
		link = WsLink.new() if transport == "websocket" else Zmtp.new()
	link.connect_timeout_ms = int(timeout_s * 1000)
	link.handshake_timeout_ms = int(timeout_s * 1000)
	return link.connect_to_host(host, port) == OK


## Sends the parts of one message; false when the link failed ([method failure] says why).
func send(parts: Array[PackedByteArray]) -> bool:
	return link.send_multipart(parts) == OK


## Closes the link and forgets what it queued.
func close() -> void:
	link.close()


## True when the link carries messages both ways (its handshake is done).
func is_ready() -> bool:
	return link.get_state() == Zmtp.State.READY


## True when the link has failed.
func has_failed() -> bool:
	return link.get_state() == Zmtp.State.FAILED


## Starts the handshake deadline: [param timeout_s] from now.
func arm_deadline(timeout_s: float) -> void:
	_deadline_ms = Time.get_ticks_msec() + int(timeout_s * 1000)


## True once the deadline from [method arm_deadline] has passed.
func deadline_passed() -> bool:
	return Time.get_ticks_msec() > _deadline_ms


## True when nothing arrived for longer than [param timeout_s] (the runtime pings every second).
func is_silent(timeout_s: float) -> bool:
	return link.get_idle_msec() > int(timeout_s * 1000)


## Why the handshake timed out, and what to check.
static func handshake_timeout_message(host: String, port: int, timeout_s: float) -> String:
	return (
		(
			"%s:%d took the connection but sent no handshake reply in %.0f s: is it a "
			+ "StreamDiT runtime (streamdit serve), and not overloaded?"
		)
		% [host, port, timeout_s]
	)


## Why a silent connection counts as lost.
static func silence_message(host: String, port: int, timeout_s: float) -> String:
	return (
		(
			"no data from the runtime at %s:%d for %.0f s (it pings every second): the "
			+ "connection is dead; reconnecting"
		)
		% [host, port, timeout_s]
	)


## The node's error for the link's failure: {code, message, hard}; hard means reconnecting
## cannot fix it. [param streaming]: frames were flowing (a close then is a lost connection).
func failure(streaming: bool) -> Dictionary:
	var message := link.get_error_message()
	var kind := link.get_failure()
	var code := "connection_lost"
	if kind == Zmtp.Failure.CONNECT_FAILED:
		code = "connect_failed"
		message += "; retrying with backoff"
	elif kind == Zmtp.Failure.HOST_NOT_FOUND:
		code = "host_not_found"
	elif kind == Zmtp.Failure.CONNECT_TIMEOUT:
		code = "connect_timeout"
	elif kind == Zmtp.Failure.CLOSED_BY_PEER:
		code = "connection_lost" if streaming else "connect_failed"
		message += "; the last frame stays shown while reconnecting"
	elif kind == Zmtp.Failure.MESSAGE_TOO_LARGE:
		code = "bad_message"
	elif kind in NOT_A_RUNTIME:
		code = "not_a_runtime"
		message += "; check host and port"
	elif message == "":
		message = "the connection closed"
	return {"code": code, "message": message, "hard": code in ["bad_message", "not_a_runtime"]}


## Starts a new outage count: the next retry waits [param delay_min_s], and every code is reported
## again.
func reset_backoff(delay_min_s: float) -> void:
	_retry_delay_s = delay_min_s
	_outage_codes.clear()


## True the first time [param code] is seen in this outage (report it then, not again).
func first_in_outage(code: String) -> bool:
	if _outage_codes.has(code):
		return false
	_outage_codes[code] = true
	return true


## Schedules the next attempt after the current delay, and doubles the delay up to
## [param delay_max_s].
func schedule_retry(delay_max_s: float) -> void:
	_retry_at_ms = Time.get_ticks_msec() + int(_retry_delay_s * 1000)
	_retry_delay_s = minf(_retry_delay_s * 2.0, delay_max_s)


## True once the scheduled attempt is due.
func retry_due() -> bool:
	return Time.get_ticks_msec() >= _retry_at_ms

