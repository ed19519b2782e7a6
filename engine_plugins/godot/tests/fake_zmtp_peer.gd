## The server side for the client tests: a TCPServer on 127.0.0.1 that accepts one connection,
## records what the client sends, and writes whatever bytes a test scripts, valid or not.
extends RefCounted

const Codec := preload("res://addons/streamdit/zmtp_codec.gd")

var received := PackedByteArray()
var _server := TCPServer.new()
var _peer: StreamPeerTCP = null


## Listens on a free port of 127.0.0.1 and returns it.
func start() -> int:
	_server.listen(0, "127.0.0.1")
	return _server.get_local_port()


## Accepts the client and reads what it sent; call it every frame.
func poll() -> void:
	if _peer == null and _server.is_connection_available():
		_peer = _server.take_connection()
	if _peer == null:
		return
	_peer.poll()
	if _peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return
	var n := _peer.get_available_bytes()
	if n > 0:
		received.append_array(_peer.get_partial_data(n)[1])


func send(bytes: PackedByteArray) -> void:
	_peer.put_data(bytes)


## A server greeting: padding as libzmq writes it (not zero: it must be ignored), the given
## mechanism and major version.
func send_greeting(mechanism := "NULL", major := 3) -> void:
	var g := Codec.encode_greeting()
	g[8] = 1
	g[10] = major
	g[32] = 1 if mechanism != "NULL" else 0
	for i in 20:
		g[12 + i] = 0
	var ascii := mechanism.to_ascii_buffer()
	for i in ascii.size():
		g[12 + i] = ascii[i]
	send(g)


func send_ready(socket_type := "ROUTER") -> void:
	var props := {"Socket-Type": socket_type.to_ascii_buffer()}
	send(Codec.encode_command("READY", Codec.encode_metadata(props)))


## Sends [param parts] as one message.
func send_message(parts: Array[PackedByteArray]) -> void:
	for i in parts.size():
		send(Codec.encode_frame(parts[i], Codec.FLAG_MORE if i < parts.size() - 1 else 0))


## The client's frames after its 64-octet greeting (call once the bytes are there).
func client_frames() -> Array[Codec.Frame]:
	var reader := Codec.FrameReader.new(1 << 24)
	reader.push(received.slice(Codec.GREETING_SIZE))
	return reader.read_frames()


func stop() -> void:
	if _peer != null:
		_peer.disconnect_from_host()
	_server.stop()
