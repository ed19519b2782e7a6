## msgpack.gd: round trips at every type boundary, bytes made by Python's msgpack, and input that
## is truncated or malformed.
extends "res://tests/test_case.gd"

const MsgPack := preload("res://addons/streamdit/msgpack.gd")


func test_nil_and_bool() -> void:
	_check_exact(null, "c0")
	_check_exact(false, "c2")
	_check_exact(true, "c3")


func test_int_boundaries() -> void:
	# value, first byte (the format), encoded size
	var cases := [
		[0, 0x00, 1],
		[127, 0x7f, 1],
		[128, 0xcc, 2],
		[255, 0xcc, 2],
		[256, 0xcd, 3],
		[65535, 0xcd, 3],
		[65536, 0xce, 5],
		[4294967295, 0xce, 5],
		[4294967296, 0xcf, 9],
		[9223372036854775807, 0xcf, 9],
		[-1, 0xff, 1],
		[-32, 0xe0, 1],
		[-33, 0xd0, 2],
		[-128, 0xd0, 2],
		[-129, 0xd1, 3],
		[-32768, 0xd1, 3],
		[-32769, 0xd2, 5],
		[-2147483648, 0xd2, 5],
		[-2147483649, 0xd3, 9],
		[-9223372036854775807 - 1, 0xd3, 9],
	]
	for case: Array in cases:
		var bytes := _round_trip(case[0])
		check_eq(bytes[0] if bytes.size() > 0 else -1, case[1], "format of %d" % case[0])
		check_eq(bytes.size(), case[2], "size of %d" % case[0])


func test_decode_every_int_width() -> void:
	# Formats our encoder never picks for these values, as other encoders may write them.
	_check_decodes("cc05", 5)
	_check_decodes("cd0005", 5)
	_check_decodes("ce00000005", 5)
	_check_decodes("cf0000000000000005", 5)
	_check_decodes("d0fb", -5)
	_check_decodes("d1fffb", -5)
	_check_decodes("d2fffffffb", -5)
	_check_decodes("d3fffffffffffffffb", -5)
	_check_decodes("d07f", 127)
	_check_decodes("d17fff", 32767)
	_check_decodes("d27fffffff", 2147483647)


func test_floats() -> void:
	_check_exact(0.5, "ca3f000000")
	_check_exact(-2.0, "cac0000000")
	_check_exact(0.1, "cb3fb999999999999a")
	_check_exact(1e300, "cb7e37e43c8800759c")
	_check_decodes("ca3fc00000", 1.5)
	_check_decodes("cb3fe0000000000000", 0.5)
	_round_trip(INF)
	_round_trip(-INF)
	var nan_bytes: PackedByteArray = MsgPack.encode(NAN).value
	var nan: float = MsgPack.decode(nan_bytes).value
	check(is_nan(nan), "NaN comes back as NaN")


func test_str_boundaries() -> void:
	check_eq(_round_trip("")[0], 0xa0, "empty fixstr")
	for case: Array in [[31, 0xbf], [32, 0xd9], [255, 0xd9], [256, 0xda], [65535, 0xda]]:
		check_eq(_round_trip("x".repeat(case[0]))[0], case[1], "str of %d bytes" % case[0])
	check_eq(_round_trip("y".repeat(65536))[0], 0xdb, "str32")
	_check_exact("héllo ✓", "aa68c3a96c6c6f20e29c93")
	check_eq(MsgPack.decode(MsgPack.encode(&"name").value).value, "name", "StringName as str")


func test_bin_boundaries() -> void:
	for case: Array in [[0, 0xc4], [255, 0xc4], [256, 0xc5], [65535, 0xc5], [65536, 0xc6]]:
		var blob := PackedByteArray()
		blob.resize(case[0])
		for i in blob.size():
			blob[i] = (i * 7) % 256
		check_eq(_round_trip(blob)[0], case[1], "bin of %d bytes" % case[0])
	_check_exact(PackedByteArray([0, 1, 255]), "c4030001ff")


func test_array_boundaries() -> void:
	for case: Array in [[0, 0x90], [15, 0x9f], [16, 0xdc], [65535, 0xdc], [65536, 0xdd]]:
		var items := []
		items.resize(case[0])
		items.fill(1)
		check_eq(_round_trip(items)[0], case[1], "array of %d items" % case[0])


func test_map_boundaries() -> void:
	for case: Array in [[0, 0x80], [15, 0x8f], [16, 0xde], [65535, 0xde], [65536, 0xdf]]:
		var map := {}
		for i in case[0]:
			map[i] = i
		check_eq(_round_trip(map)[0], case[1], "map of %d entries" % case[0])


func test_nested_maps_and_arrays() -> void:
	var value := {
		"type": "event",
		"event_id": 42,
		"payload": {"zone": "lava", "hp": [100, -5, 0.25], "flags": {"boss": true, "none": null}},
		"frames": [[], {}, [[[1]]], PackedByteArray([9, 8, 7])],
		7: "int key",
	}
	_round_trip(value)
	_check_exact({"compact": true, "schema": 0}, "82a7636f6d70616374c3a6736368656d6100")
	_check_exact(
		{"nested": {"list": [null, false, [], {}]}}, "81a66e657374656481a46c69737494c0c29080"
	)


func test_python_msgpack_ints() -> void:
	var expected := [
		1,
		-1,
		-33,
		200,
		-200,
		70000,
		-70000,
		1 << 40,
		-(1 << 40),
		9223372036854775807,
		-9223372036854775807 - 1,
	]
	_check_decodes(
		(
			"9b01ffd0dfccc8d1ff38ce00011170d2fffeee90cf0000010000000000d3ffffff0000000000"
			+ "cf7fffffffffffffffd38000000000000000"
		),
		expected
	)


func test_packed_arrays_encode_as_arrays() -> void:
	var decoded: Variant = MsgPack.decode(MsgPack.encode(PackedInt32Array([1, -2])).value).value
	check_eq(decoded, [1, -2], "PackedInt32Array")
	decoded = MsgPack.decode(MsgPack.encode(PackedStringArray(["a", "b"])).value).value
	check_eq(decoded, ["a", "b"], "PackedStringArray")


func test_every_truncation_is_an_error() -> void:
	var value := {"a": [1, 300, -70000, 1 << 40, 0.1, "text", PackedByteArray([1, 2])], "b": {}}
	var bytes: PackedByteArray = MsgPack.encode(value).value
	for n in bytes.size():
		var result := MsgPack.decode(bytes.slice(0, n))
		check(not result.ok, "prefix of %d bytes is an error" % n)
		check(result.error.contains("truncated"), "prefix of %d: %s" % [n, result.error])
		check(result.value == null, "no value with an error")


func test_malformed_input_is_an_error() -> void:
	var cases := {
		"c1": "never used",
		"d40100": "ext type",
		"c70100": "ext type",
		"cf8000000000000000": "2^63",
		"dbffffffff": "truncated",
		"ddffffffff": "truncated",
		"dfffffffff": "truncated",
		"c6ffffffff": "truncated",
		"a2fffe": "UTF-8",
		"a2c0af": "UTF-8",
		"a3eda080": "UTF-8",
		"a3610062": "NUL",
		"c0c0": "trailing",
		"": "truncated",
	}
	for hex: String in cases:
		var result := MsgPack.decode(hex.hex_decode())
		check(not result.ok, "%s is an error" % hex)
		check(result.error.contains(cases[hex]), "%s: %s" % [hex, result.error])
	var deep := PackedByteArray()
	deep.resize(200)
	deep.fill(0x91)
	deep.append(0xc0)
	var result := MsgPack.decode(deep)
	check(not result.ok and result.error.contains("nesting"), "deep nesting: " + result.error)


func test_random_bytes_never_crash() -> void:
	var rng := RandomNumberGenerator.new()
	rng.seed = 1234
	var errors := 0
	for i in 3000:
		var bytes := PackedByteArray()
		bytes.resize(rng.randi_range(0, 24))
		for k in bytes.size():
			bytes[k] = rng.randi_range(0, 255)
		var result := MsgPack.decode(bytes)
		check(result.ok == (result.error == ""), "ok and error agree for %s" % bytes.hex_encode())
		errors += 0 if result.ok else 1
	check(errors > 0, "random input gives errors")


func test_encode_errors() -> void:
	var result := MsgPack.encode(Vector2(1, 2))
	check(not result.ok and result.error.contains("Vector2"), "Vector2: " + result.error)
	check(not MsgPack.encode({"node": RefCounted.new()}).ok, "an Object inside a map")
	var loop: Array = []
	loop.append(loop)
	result = MsgPack.encode(loop)
	check(not result.ok and result.error.contains("nesting"), "self-containing Array")
	loop.clear()


## Encodes, decodes, compares; returns the encoded bytes.
func _round_trip(value: Variant) -> PackedByteArray:
	var encoded := MsgPack.encode(value)
	check(encoded.ok, "encode %s: %s" % [_short(value), encoded.error])
	if not encoded.ok:
		return PackedByteArray()
	var decoded := MsgPack.decode(encoded.value)
	check(decoded.ok, "decode %s: %s" % [_short(value), decoded.error])
	check_eq(decoded.value, value, "round trip of %s" % _short(value))
	return encoded.value


func _check_exact(value: Variant, hex: String) -> void:
	check_eq(_round_trip(value).hex_encode(), hex, "bytes of %s" % _short(value))


func _check_decodes(hex: String, expected: Variant) -> void:
	var result := MsgPack.decode(hex.hex_decode())
	check(result.ok, "decode %s: %s" % [hex, result.error])
	check_eq(result.value, expected, "decode %s" % hex)
