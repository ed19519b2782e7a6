## A scripted StreamDiT runtime for the session tests: a ZMTP 3.1 ROUTER on 127.0.0.1 that takes one
## connection at a time (a new one after [method drop]), decodes each message the client sends into
## [member received], and sends whatever messages a test scripts, valid or not.
extends RefCounted

const Codec := preload("res://addons/streamdit/zmtp_codec.gd")
const MsgPack := preload("res://addons/streamdit/msgpack.gd")

## Every map received, over every connection, in order; a message's part 2 (a source_frame's
## pixels) is under the key "_part2".
var received: Array[Dictionary] = []
## Connections accepted so far.
var connections := 0
var _server := TCPServer.new()
var _peer: StreamPeerTCP = null
var _reader: Codec.FrameReader = null
var _greeted := false
var _parts: Array[PackedByteArray] = []


## Listens on [param port] of 127.0.0.1 (0 = a free one) and returns the port.
func start(port := 0) -> int:
	_server.listen(port, "127.0.0.1")
	return _server.get_local_port()


## Accepts a waiting client, then reads and decodes what it sent; call it every frame.
func poll() -> void:
	if _peer == null and _server.is_connection_available():
		_peer = _server.take_connection()
		_reader = Codec.FrameReader.new(1 << 24)
		_greeted = false
		_parts = []
		connections += 1
		_send_greeting()
		_peer.put_data(Codec.encode_command("READY", Codec.encode_metadata(_router())))
	if _peer == null:
		return
	_peer.poll()
	if _peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		_peer = null  # the client hung up: wait for its next connection
		return
	var n := _peer.get_available_bytes()
	if n > 0:
		_reader.push(_peer.get_partial_data(n)[1])
	if not _greeted:
		if _reader.available() < Codec.GREETING_SIZE:
			return
		_reader.take(Codec.GREETING_SIZE)
		_greeted = true
	for frame in _reader.read_frames():
		if frame.is_command():
			continue  # READY, PONG
		_parts.append(frame.body)
		if not frame.has_more():
			var map: Variant = MsgPack.decode(_parts[0]).value
			if map is Dictionary and _parts.size() > 1:
				map["_part2"] = _parts[1]
			received.append(map if map is Dictionary else {"type": "<not a map>"})
			_parts = []


## The maps received so far whose type is [param type].
func of_type(type: String) -> Array[Dictionary]:
	var out: Array[Dictionary] = []
	for map in received:
		if map.get("type") == type:
			out.append(map)
	return out


## Sends [param parts] as one message.
func send_parts(parts: Array[PackedByteArray]) -> void:
	for i in parts.size():
		var more := Codec.FLAG_MORE if i < parts.size() - 1 else 0
		_peer.put_data(Codec.encode_frame(parts[i], more))


## Sends [param map] as a message, with [param pixels] as part 2 when given.
func send_map(map: Dictionary, pixels := PackedByteArray()) -> void:
	var parts: Array[PackedByteArray] = [MsgPack.encode(map).value]
	if not pixels.is_empty():
		parts.append(pixels)
	send_parts(parts)


## A handshake_reply for a 4x2 px, 16 FPS model; [param changes] replace fields (null drops one).
func send_reply(changes := {}) -> void:
	var reply := {
		"type": "handshake_reply",
		"session_id": "s-1",
		"resume_token": "token-1",
		"protocol_version": "1.0",
		"model": "fake",
		"fps": 16,
		"frames_per_chunk": 2,
		"width": 4,
		"height": 2,
		"pixel_format": "rgb8",
		"credits": 4,
		"resumed": false,
		"next_frame_index": 0,
		"limits": {},
	}
	for key: String in changes:
		if changes[key] == null:
			reply.erase(key)
		else:
			reply[key] = changes[key]
	send_map(reply)


## A 4x2 px frame whose bytes all equal [param fill]; [param source_index] >= 0 names the source
## frame it restyles (left out otherwise).
func send_frame(index: int, event_id := 0, fill := 7, source_index := -1) -> void:
	var pixels := PackedByteArray()
	pixels.resize(4 * 2 * 3)
	pixels.fill(fill)
	var map := {
		"type": "frame",
		"frame_index": index,
		"chunk_index": index / 2,
		"pts_us": index * 62500,
		"event_id": event_id,
		"width": 4,
		"height": 2,
		"pixel_format": "rgb8",
	}
	if source_index >= 0:
		map["source_index"] = source_index
	send_map(map, pixels)


## Closes the client's connection, as a runtime that crashed would.
func drop() -> void:
	if _peer != null:
		_peer.disconnect_from_host()
	_peer = null


func stop() -> void:
	drop()
	_server.stop()


func _send_greeting() -> void:
	var g := Codec.encode_greeting()
	g[32] = 1  # as-server
	_peer.put_data(g)


func _router() -> Dictionary:
	return {"Socket-Type": "ROUTER".to_ascii_buffer()}
