## Interop scene for tests/test_godot_zmtp.py: connects zmtp.gd to a pyzmq ROUTER echo server,
## sends a multipart message (a text part, a 1 KB part, a msgpack map, the bytes of a 128x128 RGB8
## frame), checks that the echo is equal, then checks a map that Python's msgpack encoded. Polls
## from _process, as a game would.
##
## godot-headless --path engine_plugins/godot res://tests/zmtp_echo.tscn -- --port=PORT
## Exit codes: 0 equal both ways, 1 a mismatch, 2 a connection failure, 3 a timeout.
extends Node

const Zmtp := preload("res://addons/streamdit/zmtp.gd")
const MsgPack := preload("res://addons/streamdit/msgpack.gd")

## Give up after this long, in milliseconds.
const TIMEOUT_MS := 10000

var _client := Zmtp.new()
var _sent: Array[PackedByteArray] = []
var _echoed := false
var _deadline := 0


## The map both sides know: tests/test_godot_zmtp.py holds the same one as EXPECTED_MAP.
static func expected_map() -> Dictionary:
	return {
		"type": "event",
		"event_id": 42,
		"payload":
		{
			"zone": "lava",
			"boss": true,
			"hp": -300,
			"speed": 0.25,
			"ratio": 0.1,
			"big": 1 << 40,
			"neg": -(1 << 33),
			"tags": ["a", "b", [1, 2, {}]],
			"none": null,
			"blob": PackedByteArray([0, 1, 255]),
		},
		"long_text": "x".repeat(300),
	}


func _ready() -> void:
	var port := 0
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--port="):
			port = int(arg.trim_prefix("--port="))
	_deadline = Time.get_ticks_msec() + TIMEOUT_MS
	if _client.connect_to_host("127.0.0.1", port) != OK:
		_finish(2, "connect: " + _client.get_error_message())
		return
	var kilobyte := PackedByteArray()
	kilobyte.resize(1024)
	for i in kilobyte.size():
		kilobyte[i] = (i * 7 + 3) % 256
	var pixels := PackedByteArray()
	pixels.resize(128 * 128 * 3)
	for i in pixels.size():
		pixels[i] = (i * 13 + 1) % 256
	var packed := MsgPack.encode(expected_map())
	_sent = ["hello from godot".to_utf8_buffer(), kilobyte, packed.value, pixels]
	_client.send_multipart(_sent)


func _process(_delta: float) -> void:
	_client.poll()
	while _client.has_message():
		_check(_client.take_message())
	if _client.get_state() == Zmtp.State.FAILED:
		_finish(
			2, "%s: %s" % [Zmtp.Failure.keys()[_client.get_failure()], _client.get_error_message()]
		)
	elif Time.get_ticks_msec() > _deadline:
		_finish(
			3,
			"no answer in %d ms (state %s)" % [TIMEOUT_MS, Zmtp.State.keys()[_client.get_state()]]
		)


func _check(parts: Array[PackedByteArray]) -> void:
	if not _echoed:
		_echoed = true
		if parts != _sent:
			_finish(
				1,
				(
					"echo differs: %d parts, sizes %s"
					% [parts.size(), parts.map(func(p: PackedByteArray) -> int: return p.size())]
				)
			)
		else:
			print(
				(
					"ZMTP_ECHO echo equal: %d parts, %d bytes in part 1"
					% [parts.size(), parts[1].size()]
				)
			)
		return
	if parts.size() != 2 or parts[0].get_string_from_utf8() != "python-msgpack":
		_finish(1, "expected [python-msgpack, map], got %d parts" % parts.size())
		return
	var decoded := MsgPack.decode(parts[1])
	if not decoded.ok:
		_finish(1, decoded.error)
	elif decoded.value != expected_map():
		_finish(1, "Python's map decodes to %s" % str(decoded.value))
	else:
		_finish(0, "python map equal")


func _finish(code: int, message: String) -> void:
	print("ZMTP_ECHO %s: %s" % ["OK" if code == 0 else "FAIL", message])
	_client.close()
	get_tree().quit(code)
	set_process(false)
