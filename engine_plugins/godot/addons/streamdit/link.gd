## What [StreamDiTSession] drives, whichever transport carries the protocol: the states, the
## failures, the inbox of received multipart messages, the timeouts, and the host name lookup.
## [StreamDiTZmtp] (ZeroMQ over TCP) and [StreamDiTWsLink] (WebSocket) extend it; use one of those.
##
## Nothing here blocks. [method connect_to_host] starts connecting and returns; [method poll] (once
## a frame) advances the lookup, then the transport ([method _advance]). A failure never throws:
## [method get_state] turns to [constant FAILED], [method get_failure] says which, and
## [method get_error_message] says what to check. Connect again to retry.
class_name StreamDiTLink
extends RefCounted

enum State {
	DISCONNECTED,  ## Not connected: never was, or [method close] was called.
	CONNECTING,  ## Host name lookup or TCP connection under way.
	HANDSHAKING,  ## Connected; greeting and READY commands being exchanged.
	READY,  ## Handshake done: messages flow both ways.
	FAILED,  ## The connection is gone; see [method get_failure].
}

enum Failure {
	NONE,
	CONNECT_FAILED,  ## Refused or unreachable: no server listens at host:port.
	HOST_NOT_FOUND,  ## The host name does not resolve.
	CONNECT_TIMEOUT,  ## The TCP connection did not complete in [member connect_timeout_ms].
	HANDSHAKE_TIMEOUT,  ## Connected, but the peer did not finish the ZMTP handshake in time.
	CLOSED_BY_PEER,  ## The server closed the connection.
	BAD_GREETING,  ## The server does not speak ZMTP (wrong port?).
	UNSUPPORTED_VERSION,  ## The server speaks a ZMTP older than 3.0.
	UNSUPPORTED_MECHANISM,  ## The server wants security other than NULL (CURVE, PLAIN).
	INCOMPATIBLE_PEER,  ## The server's socket type cannot talk to a DEALER, or its READY is bad.
	PEER_ERROR,  ## The server sent an ERROR command.
	MALFORMED_FRAME,  ## The byte stream broke the ZMTP framing rules.
	MESSAGE_TOO_LARGE,  ## An incoming message is larger than [member max_message_size].
	SEND_FAILED,  ## The socket refused outgoing data.
	INVALID_SETTINGS,  ## A setting of this client is out of range (the message says which).
}

## Largest incoming message (all parts together), in bytes.
var max_message_size: int = 64 * 1024 * 1024
## How long the host name lookup and the TCP connection may take, in milliseconds.
var connect_timeout_ms: int = 5000
## How long the greeting and READY exchange may take once connected, in milliseconds.
var handshake_timeout_ms: int = 5000

var _state: State = State.DISCONNECTED
var _failure: Failure = Failure.NONE
var _error_message := ""
var _endpoint := ""
var _deadline_ms := 0
var _resolve_id := -1
var _port := 0
var _last_receive_ms := 0
var _inbox: Array = []


## Starts connecting to [param host]:[param port] and returns at once. [param host] is an IP
## address or a host name, looked up on Godot's resolver thread ("localhost" is 127.0.0.1, where
## the runtime listens by default). Returns OK, or the error that stopped it before any network
## traffic (also in [method get_error_message]).
func connect_to_host(host: String, port: int) -> Error:
	close()
	_endpoint = "%s:%d" % [host, port]
	_state = State.CONNECTING
	_deadline_ms = Time.get_ticks_msec() + connect_timeout_ms
	_last_receive_ms = Time.get_ticks_msec()
	var address := "127.0.0.1" if host == "localhost" else host
	if address.is_valid_ip_address():
		return _open(address, port)
	_port = port
	_resolve_id = IP.resolve_hostname_queue_item(host, IP.TYPE_ANY)
	return OK


## Advances the connection: finishes the host name lookup, then reads, parses, answers and sends
## what it can, without waiting. Returns the number of complete messages waiting in the inbox.
func poll() -> int:
	if _state == State.DISCONNECTED or _state == State.FAILED:
		return _inbox.size()
	if _resolve_id >= 0:
		_poll_resolve()
	else:
		_advance()
	return _inbox.size()


## Queues [param parts] as one multipart message. Returns OK, ERR_INVALID_PARAMETER for an empty
## message, or ERR_CONNECTION_ERROR when not connected (see [method get_error_message]).
func send_multipart(parts: Array[PackedByteArray]) -> Error:
	if parts.is_empty():
		return ERR_INVALID_PARAMETER
	if _state == State.DISCONNECTED or _state == State.FAILED:
		return ERR_CONNECTION_ERROR
	return _send_parts(parts)


## True when a received message is waiting.
func has_message() -> bool:
	return not _inbox.is_empty()


## Removes and returns the oldest received message (its parts in order), or an empty Array when
## none is waiting.
func take_message() -> Array[PackedByteArray]:
	if _inbox.is_empty():
		return [] as Array[PackedByteArray]
	return _inbox.pop_front()


## Closes the connection and forgets queued data; the state becomes DISCONNECTED.
func close() -> void:
	_cancel_resolve()
	_state = State.DISCONNECTED
	_failure = Failure.NONE
	_error_message = ""
	_inbox = []


func get_state() -> State:
	return _state


func get_failure() -> Failure:
	return _failure


## What went wrong and what to check, for a log or the screen; empty unless FAILED.
func get_error_message() -> String:
	return _error_message


## Milliseconds since bytes last arrived (or since the connection started). The StreamDiT runtime
## pings every second, so a long silence means a dead connection.
func get_idle_msec() -> int:
	return Time.get_ticks_msec() - _last_receive_ms


## Opens the transport's connection to [param address] (an IP address) and [param port]; returns
## OK or the error, after [method _fail]. The transport overrides it.
func _open(_address: String, _port_number: int) -> Error:
	return ERR_UNAVAILABLE


## Advances a connection whose address is known. The transport overrides it.
func _advance() -> void:
	pass


## Sends or queues the parts of one message while connected. The transport overrides it.
func _send_parts(_parts: Array[PackedByteArray]) -> Error:
	return ERR_UNAVAILABLE


func _poll_resolve() -> void:
	var status := IP.get_resolve_item_status(_resolve_id)
	if status == IP.RESOLVER_STATUS_WAITING and Time.get_ticks_msec() < _deadline_ms:
		return
	var addresses: Array = []
	if status == IP.RESOLVER_STATUS_DONE:
		addresses = IP.get_resolve_item_addresses(_resolve_id)
	_cancel_resolve()
	if addresses.is_empty():
		var host := _endpoint.substr(0, _endpoint.rfind(":"))
		_fail(
			Failure.HOST_NOT_FOUND,
			(
				(
					"cannot resolve the host name %s: check the host (an IP address such as "
					+ "127.0.0.1 needs no lookup)"
				)
				% host
			)
		)
		return
	var address: String = addresses[0]
	for candidate: String in addresses:
		if not candidate.contains(":"):
			address = candidate  # prefer IPv4: the runtime binds 127.0.0.1 by default
			break
	_open(address, _port)


func _cancel_resolve() -> void:
	if _resolve_id >= 0:
		IP.erase_resolve_item(_resolve_id)
		_resolve_id = -1


## Marks the connection failed with [param kind] and [param message]; the transport extends it to
## drop its socket and queues.
func _fail(kind: Failure, message: String) -> void:
	_cancel_resolve()
	_state = State.FAILED
	_failure = kind
	_error_message = message
