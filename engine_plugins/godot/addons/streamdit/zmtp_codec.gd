## The ZMTP 3.1 wire format (RFC 37/ZMTP), without a socket: greeting, frames, commands and the
## NULL mechanism's metadata. [code]zmtp.gd[/code] runs a connection on top of it; the tests drive
## it with bytes alone.
##
## Every size on the wire is big-endian (network order). Godot's [code]encode_u32[/code] and
## friends are little-endian, so this file writes and reads sizes byte by byte.
class_name StreamDiTZmtpCodec
extends RefCounted

## Frame flag: more frames of this message follow.
const FLAG_MORE := 0x01
## Frame flag: the size field is 8 octets instead of 1.
const FLAG_LONG := 0x02
## Frame flag: the frame is a command, not message data.
const FLAG_COMMAND := 0x04
## The greeting has a fixed size.
const GREETING_SIZE := 64
## The part of the greeting that tells the version: signature (10 octets) and major version.
const GREETING_VERSION_SIZE := 11
const VERSION_MAJOR := 3
const VERSION_MINOR := 1
## The only security mechanism this client speaks.
const MECHANISM := "NULL"
## Socket types a DEALER may talk to (RFC 37, "The Socket-Type Property").
const DEALER_PEERS: Array[String] = ["REP", "DEALER", "ROUTER"]


## One frame: its flags and its body.
class Frame:
	extends RefCounted
	var flags: int
	var body: PackedByteArray

	func _init(p_flags: int, p_body: PackedByteArray) -> void:
		flags = p_flags
		body = p_body

	func is_command() -> bool:
		return flags & FLAG_COMMAND != 0

	func has_more() -> bool:
		return flags & FLAG_MORE != 0


## A parsed command frame: its name and its data.
class Command:
	extends RefCounted
	var name: String
	var data: PackedByteArray

	func _init(p_name: String, p_data: PackedByteArray) -> void:
		name = p_name
		data = p_data


## Connection metadata from a READY command.
class Metadata:
	extends RefCounted
	## Lower-case property name -> value (PackedByteArray).
	var properties: Dictionary = {}
	## Why the property list is malformed; empty when it is not.
	var error: String = ""


## Incremental reader: [method push] the bytes as they arrive, then take the greeting with
## [method take] and the frames with [method read_frames]. A malformed frame sets [member error]
## and stops the reader for good.
class FrameReader:
	extends RefCounted
	## Largest frame body accepted; a larger size field is an error before its body arrives.
	var max_frame_size: int
	## Why reading stopped; empty while the input is well formed.
	var error: String = ""
	## True when [member error] is about size, not form.
	var too_large: bool = false
	var _buf := PackedByteArray()
	var _pos := 0

	func _init(p_max_frame_size: int) -> void:
		max_frame_size = p_max_frame_size

	func push(bytes: PackedByteArray) -> void:
		if _pos > 0:
			_buf = _buf.slice(_pos)
			_pos = 0
		_buf.append_array(bytes)

	## Bytes received and not yet taken.
	func available() -> int:
		return _buf.size() - _pos

	## The next [param n] bytes, without taking them (fewer when fewer are there).
	func peek(n: int) -> PackedByteArray:
		return _buf.slice(_pos, _pos + n)

	## Takes the next [param n] bytes; the caller checked [method available].
	func take(n: int) -> PackedByteArray:
		_pos += n
		return _buf.slice(_pos - n, _pos)

	## Takes every complete frame there is, in order. Stops at the first malformed one.
	func read_frames() -> Array[Frame]:
		var frames: Array[Frame] = []
		while error == "" and available() >= 2:
			var flags: int = _buf[_pos]
			if flags & 0xf8 != 0:
				error = "frame flags 0x%02x set reserved bits" % flags
				break
			if flags & FLAG_COMMAND != 0 and flags & FLAG_MORE != 0:
				error = "a command frame has the MORE flag set"
				break
			var header := 2
			var size: int = _buf[_pos + 1]
			if flags & FLAG_LONG != 0:
				header = 9
				if available() < header:
					break
				size = 0
				for i in 8:
					size = (size << 8) | _buf[_pos + 1 + i]
				if size < 0:
					error = "long frame size is above 2^63-1"
					break
			if size > max_frame_size:
				error = "frame of %d bytes is above the limit of %d" % [size, max_frame_size]
				too_large = true
				break
			if available() < header + size:
				break
			_pos += header + size
			frames.append(Frame.new(flags, _buf.slice(_pos - size, _pos)))
		return frames


## The client's greeting: version 3.1, mechanism NULL, as-server 0, padding and filler zero.
static func encode_greeting() -> PackedByteArray:
	var g := PackedByteArray()
	g.resize(GREETING_SIZE)
	g.fill(0)
	g[0] = 0xff
	g[9] = 0x7f
	g[10] = VERSION_MAJOR
	g[11] = VERSION_MINOR
	var mechanism := MECHANISM.to_ascii_buffer()
	for i in mechanism.size():
		g[12 + i] = mechanism[i]
	return g


## Checks the signature and version of a peer's greeting from its first 11 octets. Returns "" when
## they are ZMTP 3.x (higher versions must be accepted), or what is wrong.
static func check_greeting_version(head: PackedByteArray) -> String:
	if head[0] != 0xff or head[9] != 0x7f:
		return (
			"the peer does not speak ZMTP: its first bytes are %s, not a ZMTP signature"
			% head.hex_encode()
		)
	if head[10] < VERSION_MAJOR:
		return (
			(
				"the peer speaks an older ZMTP (revision %d); this client needs ZMTP 3.x "
				+ "(libzmq 4 or later)"
			)
			% head[10]
		)
	return ""


## The mechanism named in a full greeting: its 20 octets, less the null padding.
static func greeting_mechanism(greeting: PackedByteArray) -> String:
	var raw := greeting.slice(12, 32)
	var end := raw.find(0)
	return raw.slice(0, raw.size() if end < 0 else end).get_string_from_ascii()


## Frames [param body]: a short frame up to 255 octets, a long one (8-octet size) above.
static func encode_frame(body: PackedByteArray, flags: int) -> PackedByteArray:
	var out := PackedByteArray()
	var size := body.size()
	if size > 255:
		out.append(flags | FLAG_LONG)
		out.append_array(u64_be(size))
	else:
		out.append(flags & ~FLAG_LONG)
		out.append(size)
	out.append_array(body)
	return out


## A command frame: the name as a short string, then the data.
static func encode_command(name: String, data: PackedByteArray) -> PackedByteArray:
	var body := PackedByteArray()
	var ascii := name.to_ascii_buffer()
	body.append(ascii.size())
	body.append_array(ascii)
	body.append_array(data)
	return encode_frame(body, FLAG_COMMAND)


## Splits a command frame body into name and data. An empty name means the body is malformed.
static func parse_command(body: PackedByteArray) -> Command:
	if body.is_empty() or body[0] == 0 or body[0] + 1 > body.size():
		return Command.new("", PackedByteArray())
	var n: int = body[0]
	return Command.new(body.slice(1, 1 + n).get_string_from_ascii(), body.slice(1 + n))


## Encodes metadata properties (name -> PackedByteArray value) for READY.
static func encode_metadata(properties: Dictionary) -> PackedByteArray:
	var out := PackedByteArray()
	for name: String in properties:
		var value: PackedByteArray = properties[name]
		var ascii := name.to_ascii_buffer()
		out.append(ascii.size())
		out.append_array(ascii)
		out.append_array(u64_be(value.size()).slice(4))
		out.append_array(value)
	return out


## Decodes READY metadata. Names are case-insensitive, so they come back in lower case.
static func parse_metadata(data: PackedByteArray) -> Metadata:
	var meta := Metadata.new()
	var pos := 0
	while pos < data.size():
		var name_size: int = data[pos]
		if name_size == 0 or pos + 1 + name_size + 4 > data.size():
			meta.error = "truncated or empty property name at octet %d" % pos
			return meta
		var name := data.slice(pos + 1, pos + 1 + name_size).get_string_from_ascii().to_lower()
		pos += 1 + name_size
		var value_size := read_u32(data, pos)
		pos += 4
		if value_size > data.size() - pos:
			meta.error = (
				"property %s claims %d octets, %d left" % [name, value_size, data.size() - pos]
			)
			return meta
		meta.properties[name] = data.slice(pos, pos + value_size)
		pos += value_size
	return meta


## [param value] as 8 octets, big-endian.
static func u64_be(value: int) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(8)
	for i in 8:
		out[i] = (value >> (56 - 8 * i)) & 0xff
	return out


## 4 octets at [param pos], big-endian.
static func read_u32(bytes: PackedByteArray, pos: int) -> int:
	return (bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]
