## A ZeroMQ DEALER socket in GDScript: one ZMTP 3.1 connection over StreamPeerTCP, NULL security
## (RFC 37/ZMTP). The StreamDiT runtime binds a ROUTER; this client connects to it.
##
## Nothing here blocks. Call [method poll] once a frame (from [code]_process[/code]): it reads the
## bytes that have arrived, parses every complete frame, answers PINGs, and queues complete
## multipart messages; take them with [method take_message]. [method send_multipart] queues a
## message and sends what the socket accepts now; messages sent before the handshake ends go out
## when it does, as a DEALER does.
##
## A failure never throws: [method get_state] turns to [constant FAILED], [method get_failure] says
## which, and [method get_error_message] says what to check. Connect again to retry. The states,
## failures, inbox and host name lookup are [StreamDiTLink]'s, which this extends.
##
## [codeblock]
## var zmtp := StreamDiTZmtp.new()
## zmtp.connect_to_host("127.0.0.1", 5555)
## func _process(_delta: float) -> void:
##     zmtp.poll()
##     while zmtp.has_message():
##         var parts := zmtp.take_message()
##     if zmtp.get_state() == StreamDiTZmtp.State.FAILED:
##         push_warning(zmtp.get_error_message())
## [/codeblock]
class_name StreamDiTZmtp
extends "res://addons/streamdit/link.gd"

const Codec := preload("res://addons/streamdit/zmtp_codec.gd")

## Optional routing identity announced in READY (1..255 bytes, not starting with a zero byte).
var identity := PackedByteArray()

var _tcp := StreamPeerTCP.new()
var _reader: Codec.FrameReader = Codec.FrameReader.new(max_message_size)
var _greeting_done := false
var _peer_metadata := {}
var _out := PackedByteArray()
var _held := PackedByteArray()
var _parts: Array[PackedByteArray] = []
var _parts_size := 0


func connect_to_host(host: String, port: int) -> Error:
	if not identity.is_empty() and (identity.size() > 255 or identity[0] == 0):
		close()
		_endpoint = "%s:%d" % [host, port]
		_fail(Failure.INVALID_SETTINGS, "identity must be 1..255 bytes and not start with 0")
		return ERR_INVALID_PARAMETER
	_reader = Codec.FrameReader.new(max_message_size)
	return super(host, port)


func close() -> void:
	super()
	_tcp.disconnect_from_host()
	_greeting_done = false
	_peer_metadata = {}
	_out = PackedByteArray()
	_held = PackedByteArray()
	_parts = []
	_parts_size = 0


## The server's READY properties: lower-case name -> PackedByteArray (e.g. "socket-type").
func get_peer_metadata() -> Dictionary:
	return _peer_metadata


func _advance() -> void:
	_tcp.poll()
	var status := _tcp.get_status()
	if _state == State.CONNECTING:
		_poll_connecting(status)
	elif status == StreamPeerTCP.STATUS_CONNECTED:
		_receive()
	else:
		_fail(Failure.CLOSED_BY_PEER, _closed_message())
	if _state == State.HANDSHAKING and Time.get_ticks_msec() > _deadline_ms:
		_fail(
			Failure.HANDSHAKE_TIMEOUT,
			(
				"%s accepted the connection but did not finish the ZMTP handshake in %d ms"
				% [_endpoint, handshake_timeout_ms]
			)
		)
	_flush()


func _send_parts(parts: Array[PackedByteArray]) -> Error:
	var wire := PackedByteArray()
	for i in parts.size():
		var more := Codec.FLAG_MORE if i < parts.size() - 1 else 0
		wire.append_array(Codec.encode_frame(parts[i], more))
	if _state == State.READY:
		_out.append_array(wire)
		_flush()
	else:
		_held.append_array(wire)
	return OK


func _open(address: String, port: int) -> Error:
	var err := _tcp.connect_to_host(address, port)
	if err != OK:
		_fail(Failure.CONNECT_FAILED, "cannot connect to %s (%s)" % [_endpoint, error_string(err)])
	return err


func _poll_connecting(status: StreamPeerTCP.Status) -> void:
	if status == StreamPeerTCP.STATUS_CONNECTED:
		_tcp.set_no_delay(true)
		_state = State.HANDSHAKING
		_deadline_ms = Time.get_ticks_msec() + handshake_timeout_ms
		_out.append_array(Codec.encode_greeting())
		_receive()
	elif status != StreamPeerTCP.STATUS_CONNECTING:
		_fail(
			Failure.CONNECT_FAILED,
			(
				"cannot connect to %s: is the StreamDiT runtime running and listening there?"
				% _endpoint
			)
		)
	elif Time.get_ticks_msec() > _deadline_ms:
		_fail(
			Failure.CONNECT_TIMEOUT,
			(
				"no answer from %s in %d ms: check the host, the port and any firewall"
				% [_endpoint, connect_timeout_ms]
			)
		)


func _receive() -> void:
	var n := _tcp.get_available_bytes()
	if n > 0:
		var got: Array = _tcp.get_partial_data(n)
		if got[0] != OK:
			_fail(Failure.CLOSED_BY_PEER, _closed_message())
			return
		_reader.push(got[1])
		_last_receive_ms = Time.get_ticks_msec()
	if not _greeting_done and not _read_greeting():
		return
	for frame: Codec.Frame in _reader.read_frames():
		_on_frame(frame)
		if _state == State.FAILED:
			return
	if _reader.error != "":
		var kind := Failure.MESSAGE_TOO_LARGE if _reader.too_large else Failure.MALFORMED_FRAME
		_fail(kind, "bad data from %s: %s" % [_endpoint, _reader.error])


## Checks the peer's greeting as soon as enough of it is there. Returns true once it is complete
## and valid, then queues READY.
func _read_greeting() -> bool:
	if _reader.available() < Codec.GREETING_VERSION_SIZE:
		return false
	var problem := Codec.check_greeting_version(_reader.peek(Codec.GREETING_VERSION_SIZE))
	if problem != "":
		var kind := (
			Failure.BAD_GREETING
			if problem.begins_with("the peer does not")
			else Failure.UNSUPPORTED_VERSION
		)
		_fail(kind, "%s at %s (is it the runtime's ZeroMQ port?)" % [problem, _endpoint])
		return false
	if _reader.available() < Codec.GREETING_SIZE:
		return false
	var mechanism := Codec.greeting_mechanism(_reader.take(Codec.GREETING_SIZE))
	if mechanism != Codec.MECHANISM:
		_fail(
			Failure.UNSUPPORTED_MECHANISM,
			(
				(
					"%s uses the %s security mechanism; this client speaks only NULL "
					+ "(run the runtime without ZeroMQ security on a local port)"
				)
				% [_endpoint, mechanism]
			)
		)
		return false
	_greeting_done = true
	var properties := {"Socket-Type": "DEALER".to_ascii_buffer()}
	if not identity.is_empty():
		properties["Identity"] = identity
	_out.append_array(Codec.encode_command("READY", Codec.encode_metadata(properties)))
	return true


func _on_frame(frame: Codec.Frame) -> void:
	if frame.is_command():
		if not _parts.is_empty():
			_fail(Failure.MALFORMED_FRAME, "a command frame arrived inside a multipart message")
			return
		_on_command(Codec.parse_command(frame.body))
		return
	if _state != State.READY:
		_fail(Failure.INCOMPATIBLE_PEER, "%s sent a message before READY" % _endpoint)
		return
	_parts_size += frame.body.size()
	if _parts_size > max_message_size:
		_fail(
			Failure.MESSAGE_TOO_LARGE,
			"a message from %s exceeds max_message_size (%d bytes)" % [_endpoint, max_message_size]
		)
		return
	_parts.append(frame.body)
	if not frame.has_more():
		_inbox.append(_parts)
		_parts = []
		_parts_size = 0


func _on_command(command: Codec.Command) -> void:
	match command.name:
		"READY":
			_on_ready(command.data)
		"ERROR":
			var reason := command.data.slice(1, 1 + (command.data[0] if command.data.size() else 0))
			_fail(
				Failure.PEER_ERROR,
				"%s refused the connection: %s" % [_endpoint, reason.get_string_from_utf8()]
			)
		"PING":
			if _state == State.READY and command.data.size() >= 2:
				_out.append_array(Codec.encode_command("PONG", command.data.slice(2, 18)))
		"":
			_fail(Failure.MALFORMED_FRAME, "%s sent a command frame without a name" % _endpoint)


func _on_ready(data: PackedByteArray) -> void:
	if _state != State.HANDSHAKING:
		_fail(Failure.MALFORMED_FRAME, "%s sent READY twice" % _endpoint)
		return
	var meta := Codec.parse_metadata(data)
	if meta.error != "":
		_fail(Failure.INCOMPATIBLE_PEER, "bad READY from %s: %s" % [_endpoint, meta.error])
		return
	var socket_type: String = (
		meta.properties.get("socket-type", PackedByteArray()).get_string_from_ascii()
	)
	if socket_type not in Codec.DEALER_PEERS:
		_fail(
			Failure.INCOMPATIBLE_PEER,
			(
				"%s is a %s socket, which cannot talk to a DEALER (expected ROUTER)"
				% [_endpoint, socket_type if socket_type != "" else "nameless"]
			)
		)
		return
	_peer_metadata = meta.properties
	_state = State.READY
	_out.append_array(_held)
	_held = PackedByteArray()


## Sends what the socket takes now; the rest waits for the next poll.
func _flush() -> void:
	while not _out.is_empty() and _state != State.FAILED:
		var result: Array = _tcp.put_partial_data(_out)
		if result[0] != OK:
			_fail(
				Failure.SEND_FAILED,
				"sending to %s failed: %s" % [_endpoint, error_string(result[0])]
			)
			return
		var sent: int = result[1]
		if sent <= 0:
			return
		_out = _out.slice(sent)


func _closed_message() -> String:
	if _state == State.HANDSHAKING:
		return (
			(
				"%s closed the connection during the ZMTP handshake "
				+ "(check the runtime's log: a socket type or security mismatch does this)"
			)
			% _endpoint
		)
	return "%s closed the connection (did the runtime stop?)" % _endpoint


func _fail(kind: Failure, message: String) -> void:
	super(kind, message)
	_tcp.disconnect_from_host()
	_out = PackedByteArray()
	_held = PackedByteArray()
