## MessagePack codec for the StreamDiT ZeroMQ transport (DESIGN section 6: the same messages as the
## protobuf schema, carried as msgpack maps).
##
## Types, both ways: nil, bool, int (every width; Godot's int is a signed 64-bit integer),
## float (float32 and float64), String (str), PackedByteArray (bin), Array, Dictionary (map).
## Encoding also takes StringName (as str) and packed int, float and string arrays (as arrays).
## Integers use the smallest format that holds them; a float uses float32 when that is exact,
## float64 otherwise (the spec's "smallest number of bytes"). A uint64 of 2^63 or more does not
## fit Godot's int: decoding one is an error. Ext types are not supported.
##
## Neither direction throws, prints or loops without bound: each returns a [Result] whose
## [code]ok[/code] says whether [code]value[/code] or [code]error[/code] holds the answer. Decoding
## checks every length against the bytes that are left before it reads or allocates, and refuses
## nesting deeper than [constant MAX_DEPTH].
##
## [codeblock]
## const MsgPack := preload("res://addons/streamdit/msgpack.gd")
## var packed := MsgPack.encode({"type": "event", "id": 7})
## var back := MsgPack.decode(packed.value)
## if not back.ok:
##     push_warning(back.error)
## [/codeblock]
class_name StreamDiTMsgPack
extends RefCounted

## Deepest nesting of arrays and maps accepted, both ways (also stops a self-containing Array).
const MAX_DEPTH := 64

## Variant types written as msgpack arrays.
const _LIST_TYPES: Array[int] = [
	TYPE_ARRAY,
	TYPE_PACKED_INT32_ARRAY,
	TYPE_PACKED_INT64_ARRAY,
	TYPE_PACKED_FLOAT32_ARRAY,
	TYPE_PACKED_FLOAT64_ARRAY,
	TYPE_PACKED_STRING_ARRAY,
]


## The outcome of [method encode] or [method decode].
class Result:
	extends RefCounted
	## True when [member value] holds the answer; false when [member error] says what went wrong.
	var ok: bool = false
	## The decoded value, or the encoded bytes (a PackedByteArray); null when not ok.
	var value: Variant = null
	## A message that names the problem and where it is; empty when ok.
	var error: String = ""
	## Decoding: the byte offset where the error was found. Encoding: -1.
	var offset: int = -1

	func _init(p_ok: bool, p_value: Variant, p_error: String, p_offset: int) -> void:
		ok = p_ok
		value = p_value
		error = p_error
		offset = p_offset


## Encodes [param value] as one msgpack object. On success [code]value[/code] is a PackedByteArray.
static func encode(value: Variant) -> Result:
	var out := StreamPeerBuffer.new()
	out.big_endian = true
	var err := _write(out, value, 0)
	if err != "":
		return Result.new(false, null, "msgpack encode: " + err, -1)
	return Result.new(true, out.data_array, "", -1)


## Decodes [param bytes], which must hold exactly one msgpack object.
static func decode(bytes: PackedByteArray) -> Result:
	var reader := _Reader.new(bytes)
	var value: Variant = reader.read_value(0)
	if reader.error == "" and reader.pos != bytes.size():
		reader.fail("%d trailing bytes after the value" % (bytes.size() - reader.pos))
	if reader.error != "":
		var message := (
			"msgpack decode: %s at byte %d of %d" % [reader.error, reader.error_pos, bytes.size()]
		)
		return Result.new(false, null, message, reader.error_pos)
	return Result.new(true, value, "", -1)


static func _write(out: StreamPeerBuffer, value: Variant, depth: int) -> String:
	if depth > MAX_DEPTH:
		return "nesting deeper than %d levels (does an Array contain itself?)" % MAX_DEPTH
	match typeof(value):
		TYPE_NIL:
			out.put_u8(0xc0)
		TYPE_BOOL:
			out.put_u8(0xc3 if value else 0xc2)
		TYPE_INT:
			_write_int(out, value)
		TYPE_FLOAT:
			_write_float(out, value)
		TYPE_STRING, TYPE_STRING_NAME:
			_write_str(out, String(value).to_utf8_buffer())
		TYPE_PACKED_BYTE_ARRAY:
			_write_bin(out, value)
		TYPE_DICTIONARY:
			var map: Dictionary = value
			_write_header(out, map.size(), 0x80, 15, 0xde, 0xdf)
			for key: Variant in map:
				var err := _write(out, key, depth + 1)
				if err == "":
					err = _write(out, map[key], depth + 1)
				if err != "":
					return err
		_:
			if typeof(value) in _LIST_TYPES:
				_write_header(out, value.size(), 0x90, 15, 0xdc, 0xdd)
				for item: Variant in value:
					var err := _write(out, item, depth + 1)
					if err != "":
						return err
				return ""
			return (
				(
					"%s has no msgpack form (use nil, bool, int, float, String, "
					+ "PackedByteArray, Array or Dictionary)"
				)
				% type_string(typeof(value))
			)
	return ""


static func _write_int(out: StreamPeerBuffer, v: int) -> void:
	if v >= 0:
		if v <= 0x7f:
			out.put_u8(v)
		elif v <= 0xff:
			out.put_u8(0xcc)
			out.put_u8(v)
		elif v <= 0xffff:
			out.put_u8(0xcd)
			out.put_u16(v)
		elif v <= 0xffffffff:
			out.put_u8(0xce)
			out.put_u32(v)
		else:
			out.put_u8(0xcf)
			out.put_u64(v)
	elif v >= -32:
		out.put_8(v)
	elif v >= -0x80:
		out.put_u8(0xd0)
		out.put_8(v)
	elif v >= -0x8000:
		out.put_u8(0xd1)
		out.put_16(v)
	elif v >= -0x80000000:
		out.put_u8(0xd2)
		out.put_32(v)
	else:
		out.put_u8(0xd3)
		out.put_64(v)


static func _write_float(out: StreamPeerBuffer, v: float) -> void:
	var probe := PackedByteArray()
	probe.resize(4)
	probe.encode_float(0, v)
	if probe.decode_float(0) == v:
		out.put_u8(0xca)
		out.put_float(v)
	else:
		out.put_u8(0xcb)
		out.put_double(v)


static func _write_str(out: StreamPeerBuffer, utf8: PackedByteArray) -> void:
	var n := utf8.size()
	if n <= 31:
		out.put_u8(0xa0 | n)
	elif n <= 0xff:
		out.put_u8(0xd9)
		out.put_u8(n)
	elif n <= 0xffff:
		out.put_u8(0xda)
		out.put_u16(n)
	else:
		out.put_u8(0xdb)
		out.put_u32(n)
	out.put_data(utf8)


static func _write_bin(out: StreamPeerBuffer, bytes: PackedByteArray) -> void:
	var n := bytes.size()
	if n <= 0xff:
		out.put_u8(0xc4)
		out.put_u8(n)
	elif n <= 0xffff:
		out.put_u8(0xc5)
		out.put_u16(n)
	else:
		out.put_u8(0xc6)
		out.put_u32(n)
	out.put_data(bytes)


## Writes an array or map header: the fix form up to [param fix_max] items, then 16 and 32 bits.
static func _write_header(
	out: StreamPeerBuffer, n: int, fix: int, fix_max: int, tag16: int, tag32: int
) -> void:
	if n <= fix_max:
		out.put_u8(fix | n)
	elif n <= 0xffff:
		out.put_u8(tag16)
		out.put_u16(n)
	else:
		out.put_u8(tag32)
		out.put_u32(n)


## A cursor over the input. The first error stops decoding; every read checks the bytes left.
class _Reader:
	extends RefCounted
	var buf: PackedByteArray
	var pos: int = 0
	var error: String = ""
	var error_pos: int = -1

	func _init(bytes: PackedByteArray) -> void:
		buf = bytes

	func fail(message: String) -> void:
		if error == "":
			error = message
			error_pos = pos

	func need(n: int, what: String) -> bool:
		if n > buf.size() - pos:
			fail("truncated input: %s needs %d bytes, %d left" % [what, n, buf.size() - pos])
			return false
		return true

	## Reads an unsigned big-endian integer of [param n] bytes (1, 2, 4 or 8); the caller checked
	## the length. An 8-byte value of 2^63 or more comes back negative (two's complement).
	func uint_be(n: int) -> int:
		var v := 0
		for i in n:
			v = (v << 8) | buf[pos + i]
		pos += n
		return v

	## Reads a length field of [param n] bytes, or -1 after an error.
	func length(n: int, what: String) -> int:
		if not need(n, what + " length"):
			return -1
		return uint_be(n)

	func read_value(depth: int) -> Variant:
		if depth > MAX_DEPTH:
			fail("nesting deeper than %d levels" % MAX_DEPTH)
			return null
		if not need(1, "a value"):
			return null
		var tag: int = buf[pos]
		pos += 1
		var value: Variant = null
		if tag <= 0x7f:
			value = tag
		elif tag >= 0xe0:
			value = tag - 0x100
		elif tag & 0xe0 == 0xa0:
			value = read_str(tag & 0x1f)
		elif tag & 0xf0 == 0x90:
			value = read_array(tag & 0x0f, depth)
		elif tag & 0xf0 == 0x80:
			value = read_map(tag & 0x0f, depth)
		elif tag == 0xc2 or tag == 0xc3:
			value = tag == 0xc3
		elif tag >= 0xcc and tag <= 0xcf:
			value = read_uint(1 << (tag - 0xcc))
		elif tag >= 0xd0 and tag <= 0xd3:
			value = read_int(1 << (tag - 0xd0))
		elif tag == 0xca or tag == 0xcb:
			value = read_float(4 if tag == 0xca else 8)
		elif tag >= 0xd9 and tag <= 0xdb:
			value = read_str(length(1 << (tag - 0xd9), "str"))
		elif tag >= 0xc4 and tag <= 0xc6:
			value = read_bin(length(1 << (tag - 0xc4), "bin"))
		elif tag == 0xdc or tag == 0xdd:
			value = read_array(length(2 if tag == 0xdc else 4, "array"), depth)
		elif tag == 0xde or tag == 0xdf:
			value = read_map(length(2 if tag == 0xde else 4, "map"), depth)
		elif tag != 0xc0:
			pos -= 1
			if tag == 0xc1:
				fail("byte 0xc1 is never used by msgpack")
			else:
				fail("ext type 0x%02x is not supported" % tag)
		return value

	func read_uint(n: int) -> Variant:
		if not need(n, "uint%d" % (n * 8)):
			return null
		if n == 8 and buf[pos] >= 0x80:
			fail("uint64 value of 2^63 or more does not fit Godot's int")
			return null
		return uint_be(n)

	func read_int(n: int) -> Variant:
		if not need(n, "int%d" % (n * 8)):
			return null
		var v := uint_be(n)
		var bits := n * 8
		if bits < 64 and v >= (1 << (bits - 1)):
			v -= 1 << bits
		return v

	func read_float(n: int) -> Variant:
		if not need(n, "float%d" % (n * 8)):
			return null
		var raw := buf.slice(pos, pos + n)
		raw.reverse()
		pos += n
		return raw.decode_float(0) if n == 4 else raw.decode_double(0)

	## Reads [param n] bytes of UTF-8 text. [param n] is -1 after a failed length read.
	func read_str(n: int) -> Variant:
		if n < 0 or not need(n, "str"):
			return null
		var raw := buf.slice(pos, pos + n)
		var bad := _utf8_error_at(raw)
		if bad >= 0:
			pos += bad
			fail("str is not valid UTF-8")
			return null
		var text := raw.get_string_from_utf8()
		if text.to_utf8_buffer() != raw:
			fail("str holds a NUL byte, which a Godot String cannot keep")
			return null
		pos += n
		return text

	## Returns the offset of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no
	## surrogates, nothing above U+10FFFF), or -1 when [param raw] is valid. Checked here so that
	## the engine's own decoder never has to report (and print) an error.
	static func _utf8_error_at(raw: PackedByteArray) -> int:
		var i := 0
		var n := raw.size()
		while i < n:
			var b := raw[i]
			var extra := 0
			var lo := 0x80
			var hi := 0xbf
			if b <= 0x7f:
				i += 1
				continue
			if b >= 0xc2 and b <= 0xdf:
				extra = 1
			elif b >= 0xe0 and b <= 0xef:
				extra = 2
				lo = 0xa0 if b == 0xe0 else 0x80
				hi = 0x9f if b == 0xed else 0xbf
			elif b >= 0xf0 and b <= 0xf4:
				extra = 3
				lo = 0x90 if b == 0xf0 else 0x80
				hi = 0x8f if b == 0xf4 else 0xbf
			else:
				return i
			if i + extra >= n:
				return i
			if raw[i + 1] < lo or raw[i + 1] > hi:
				return i
			for k in range(2, extra + 1):
				if raw[i + k] < 0x80 or raw[i + k] > 0xbf:
					return i
			i += extra + 1
		return -1

	func read_bin(n: int) -> Variant:
		if n < 0 or not need(n, "bin"):
			return null
		pos += n
		return buf.slice(pos - n, pos)

	func read_array(n: int, depth: int) -> Variant:
		if n < 0 or not need(n, "array of %d items" % n):
			return null
		var items: Array = []
		for i in n:
			var item: Variant = read_value(depth + 1)
			if error != "":
				return null
			items.append(item)
		return items

	func read_map(n: int, depth: int) -> Variant:
		if n < 0 or not need(2 * n, "map of %d entries" % n):
			return null
		var map := {}
		for i in n:
			var key: Variant = read_value(depth + 1)
			var item: Variant = read_value(depth + 1)
			if error != "":
				return null
			map[key] = item
		return map
