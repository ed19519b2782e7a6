## zmtp_codec.gd without a socket: the greeting, short and long frames, multipart messages read
## from bytes that arrive in pieces, commands, metadata, and malformed input.
extends "res://tests/test_case.gd"

const Codec := preload("res://addons/streamdit/zmtp_codec.gd")


func test_greeting_is_zmtp_3_1_null_client() -> void:
	var g := Codec.encode_greeting()
	check_eq(g.size(), 64, "greeting size")
	check_eq(g.slice(0, 10).hex_encode(), "ff00000000000000007f", "signature")
	check_eq(g.slice(10, 12).hex_encode(), "0301", "version 3.1")
	check_eq(g.slice(12, 32).get_string_from_ascii(), "NULL", "mechanism")
	check_eq(g.slice(12, 32).count(0), 16, "mechanism null padding")
	check_eq(g[32], 0, "as-server")
	check_eq(g.slice(33).count(0), 31, "filler")
	check_eq(Codec.check_greeting_version(g.slice(0, 11)), "", "own greeting accepted")
	check_eq(Codec.greeting_mechanism(g), "NULL", "mechanism read back")


func test_greeting_checks() -> void:
	var libzmq := "ff00000000000000017f03".hex_decode()
	check_eq(Codec.check_greeting_version(libzmq), "", "padding is not significant")
	var newer := "ff00000000000000007f04".hex_decode()
	check_eq(Codec.check_greeting_version(newer), "", "higher versions are accepted")
	var zmtp2 := "ff00000000000000017f01".hex_decode()
	check(Codec.check_greeting_version(zmtp2).contains("older ZMTP"), "old version refused")
	var http := "HTTP/1.1 400".to_ascii_buffer()
	check(Codec.check_greeting_version(http).contains("not speak ZMTP"), "HTTP refused")


func test_short_and_long_frames() -> void:
	check_eq(Codec.encode_frame(PackedByteArray(), 0).hex_encode(), "0000", "empty frame")
	check_eq(
		Codec.encode_frame(PackedByteArray([7]), Codec.FLAG_MORE).hex_encode(), "010107", "MORE"
	)
	var body := _pattern(255)
	check_eq(Codec.encode_frame(body, 0).slice(0, 2).hex_encode(), "00ff", "255 bytes: short")
	body = _pattern(256)
	var frame := Codec.encode_frame(body, Codec.FLAG_MORE)
	check_eq(frame.slice(0, 9).hex_encode(), "030000000000000100", "256 bytes: long, big-endian")
	check_eq(frame.size(), 9 + 256, "long frame size")
	frame = Codec.encode_frame(_pattern(70000), 0)
	check_eq(frame.slice(0, 9).hex_encode(), "020000000000011170", "70000 bytes")


func test_multipart_read_in_pieces() -> void:
	var parts: Array[PackedByteArray] = [
		"id".to_ascii_buffer(), PackedByteArray(), _pattern(300), _pattern(255), _pattern(5000)
	]
	var wire := PackedByteArray()
	for i in parts.size():
		wire.append_array(Codec.encode_frame(parts[i], Codec.FLAG_MORE if i < 4 else 0))
	for step: int in [1, 7, 256, wire.size()]:
		var reader := Codec.FrameReader.new(1 << 20)
		var frames: Array = []
		var pos := 0
		while pos < wire.size():
			reader.push(wire.slice(pos, pos + step))
			pos += step
			frames.append_array(reader.read_frames())
		check_eq(reader.error, "", "no error, step %d" % step)
		check_eq(frames.size(), parts.size(), "frame count, step %d" % step)
		for i in mini(frames.size(), parts.size()):
			var f: Codec.Frame = frames[i]
			check_eq(f.body, parts[i], "part %d, step %d" % [i, step])
			check_eq(f.has_more(), i < 4, "MORE of part %d, step %d" % [i, step])
			check(not f.is_command(), "not a command")
		check_eq(reader.available(), 0, "all bytes used, step %d" % step)


func test_truncated_frame_waits() -> void:
	var wire := Codec.encode_frame(_pattern(1000), 0)
	var reader := Codec.FrameReader.new(1 << 20)
	reader.push(wire.slice(0, wire.size() - 1))
	check_eq(reader.read_frames().size(), 0, "no frame before the last byte")
	check_eq(reader.error, "", "an incomplete frame is not an error")
	reader.push(wire.slice(wire.size() - 1))
	check_eq(reader.read_frames().size(), 1, "frame once complete")


func test_malformed_frames() -> void:
	var cases := {
		"0800": "reserved",
		"8000": "reserved",
		"0500": "MORE",
		"028000000000000000": "2^63",
	}
	for hex: String in cases:
		var reader := Codec.FrameReader.new(1 << 20)
		reader.push(hex.hex_decode())
		check_eq(reader.read_frames().size(), 0, "%s gives no frame" % hex)
		check(reader.error.contains(cases[hex]), "%s: %s" % [hex, reader.error])
	var small := Codec.FrameReader.new(100)
	small.push("02000000000000ffff".hex_decode())
	small.read_frames()
	check(small.too_large and small.error.contains("limit"), "size above the limit: " + small.error)


func test_command_and_metadata() -> void:
	var props := {"Socket-Type": "ROUTER".to_ascii_buffer(), "Identity": PackedByteArray()}
	var frame := Codec.encode_command("READY", Codec.encode_metadata(props))
	check_eq(
		frame.hex_encode(),
		(
			"0429055245414459"
			+ "0b536f636b65742d5479706500000006524f55544552"
			+ "084964656e7469747900000000"
		),
		"READY bytes"
	)
	var reader := Codec.FrameReader.new(1024)
	reader.push(frame)
	var frames := reader.read_frames()
	check_eq(frames.size(), 1, "one frame")
	check(frames[0].is_command(), "command flag")
	var command := Codec.parse_command(frames[0].body)
	check_eq(command.name, "READY", "name")
	var meta := Codec.parse_metadata(command.data)
	check_eq(meta.error, "", "metadata parses")
	check_eq(meta.properties.get("socket-type"), "ROUTER".to_ascii_buffer(), "lower-case name")
	check_eq(meta.properties.get("identity"), PackedByteArray(), "empty value")
	var long_command := Codec.encode_command("PING", _pattern(300))
	check_eq(long_command[0], Codec.FLAG_COMMAND | Codec.FLAG_LONG, "long command frame")


func test_malformed_commands_and_metadata() -> void:
	check_eq(Codec.parse_command(PackedByteArray()).name, "", "empty body")
	check_eq(Codec.parse_command("095245414459".hex_decode()).name, "", "name longer than body")
	var good := Codec.encode_metadata({"Socket-Type": "ROUTER".to_ascii_buffer()})
	for n in good.size():
		var meta := Codec.parse_metadata(good.slice(0, n))
		check(n == 0 or meta.error != "", "metadata cut at %d is an error" % n)


func _pattern(size: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(size)
	for i in size:
		out[i] = (i * 31 + 7) % 256
	return out
