## The StreamDiT protocol over WebSocket (docs/protocol.md section 10) with the engine's own
## [WebSocketPeer]: [code]ws://HOST:PORT/v1/session[/code], the port of
## [code]streamdit serve --web-port[/code]. This is the transport a web export can use (a browser
## has no raw TCP for ZeroMQ). Each message part is one binary WebSocket message: a msgpack map,
## and after a [code]frame[/code] map one more with its pixels.
##
## It extends [StreamDiTLink], as [StreamDiTZmtp] does (the same interface, states and failures),
## so [StreamDiTSession] drives either. Nothing here blocks: [method poll] reads what has
## arrived; the engine answers the runtime's pings by itself. A web export's page must be allowed
## by the runtime: [code]streamdit serve --web-origin http://HOST:PORT[/code] (the page's origin).
class_name StreamDiTWsLink
extends "res://addons/streamdit/link.gd"

const MsgPack := preload("res://addons/streamdit/msgpack.gd")
## The protocol's path on the runtime's --web-port.
const PATH := "/v1/session"
## Messages whose map is followed by a second part, the pixels.
const PIXEL_TYPES: Array[String] = ["frame", "source_frame"]

var _ws := WebSocketPeer.new()
var _opened := false
var _head := PackedByteArray()  # a frame's map, waiting for its pixels
var _pending: Array[PackedByteArray] = []  # parts sent before the connection opened


## Drops the connection at once, without a close message, as a network failure would (tests).
func drop() -> void:
	_ws.close(-1)


func close() -> void:
	super.close()
	if _ws.get_ready_state() == WebSocketPeer.STATE_OPEN:
		_ws.poll()  # what was sent last (e.g. the protocol's close) goes out before the close frame
		_ws.close(1000, "closed by the game")
		_ws.poll()
	elif _ws.get_ready_state() == WebSocketPeer.STATE_CONNECTING:
		_ws.close(-1)
	_ws = WebSocketPeer.new()
	_opened = false
	_head = PackedByteArray()
	_pending = []


func _advance() -> void:
	_ws.poll()
	var ready_state := _ws.get_ready_state()
	if ready_state == WebSocketPeer.STATE_OPEN:
		if not _opened:
			_opened = true
			_state = State.READY
			for part in _pending:
				_ws.send(part, WebSocketPeer.WRITE_MODE_BINARY)
			_pending = []
		_read()
	elif ready_state == WebSocketPeer.STATE_CLOSED:
		_read()  # what arrived before the close (e.g. the error that explains it) is kept
		_on_closed()
	elif ready_state == WebSocketPeer.STATE_CONNECTING and Time.get_ticks_msec() > _deadline_ms:
		_fail(
			Failure.CONNECT_TIMEOUT,
			(
				(
					"no WebSocket answer from ws://%s%s in %d ms: check the host, the runtime's "
					+ "--web-port and any firewall"
				)
				% [_endpoint, PATH, connect_timeout_ms]
			)
		)


func _send_parts(parts: Array[PackedByteArray]) -> Error:
	for part in parts:
		if _opened:
			var err := _ws.send(part, WebSocketPeer.WRITE_MODE_BINARY)
			if err != OK:
				_fail(
					Failure.CLOSED_BY_PEER,
					"cannot send to ws://%s%s (%s)" % [_endpoint, PATH, error_string(err)]
				)
				return ERR_CONNECTION_ERROR
		else:
			_pending.append(part)
	return OK


func _open(address: String, port: int) -> Error:
	# The frames of a chunk arrive back to back: room for a few large ones, and for many packets.
	_ws.inbound_buffer_size = max_message_size
	_ws.outbound_buffer_size = 1 << 20
	_ws.max_queued_packets = 8192
	var where := address if not address.contains(":") else "[%s]" % address  # IPv6 in brackets
	var url := "ws://%s:%d%s" % [where, port, PATH]
	var err := _ws.connect_to_url(url)
	if err != OK:
		_fail(Failure.CONNECT_FAILED, "cannot open %s (%s)" % [url, error_string(err)])
	return err


func _read() -> void:
	while _ws.get_available_packet_count() > 0:
		var packet := _ws.get_packet()
		_last_receive_ms = Time.get_ticks_msec()
		if _ws.was_string_packet():
			continue  # not part of the protocol; the runtime sends none
		if not _head.is_empty():
			var parts: Array[PackedByteArray] = [_head, packet]
			_inbox.append(parts)
			_head = PackedByteArray()
			continue
		var decoded := MsgPack.decode(packet)
		var is_pixel_head: bool = (
			decoded.ok
			and typeof(decoded.value) == TYPE_DICTIONARY
			and PIXEL_TYPES.has(decoded.value.get("type"))
		)
		if is_pixel_head:
			_head = packet
		else:
			var single: Array[PackedByteArray] = [packet]
			_inbox.append(single)  # a malformed one too: the session reports it


func _on_closed() -> void:
	var code := _ws.get_close_code()
	var reason := _ws.get_close_reason()
	if not _opened:
		_fail(
			Failure.CONNECT_FAILED,
			(
				(
					"cannot open ws://%s%s: is `streamdit serve` running with --web-port %s (and, for "
					+ "a web export, --web-origin set to the page's origin)?"
				)
				% [_endpoint, PATH, _endpoint.substr(_endpoint.rfind(":") + 1)]
			)
		)
	elif code == 1009:
		_fail(Failure.MESSAGE_TOO_LARGE, "the runtime closed the WebSocket: %s" % reason)
	else:
		var why := " (%d %s)" % [code, reason] if code > 0 else ""
		_fail(
			Failure.CLOSED_BY_PEER,
			"the runtime at ws://%s closed the connection%s" % [_endpoint, why]
		)
